//! Types of the workflow domain: ids, rows, and the shapes the API reads and writes.

use super::engine::{RouteStatus, StageKind, StageStatus, TaskRole, TaskStatus};
use crate::accounts::Role;
use crate::db::schema::{
    route_templates, substitutions, workflow_actions, workflow_routes, workflow_stages,
    workflow_tasks,
};
use crate::documents::model::Urgency;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Id of a route (UUID text).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct RouteId(pub String);

/// Id of a task (UUID text).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct TaskId(pub String);

/// Id of a route template (UUID text).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct TemplateId(pub String);

/// Id of a substitution (UUID text).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct SubstitutionId(pub String);

text_enum!(StageKind { Review => "review", Sign => "sign", Issue => "issue", Inform => "inform" });
text_enum!(RouteStatus {
    Active => "active",
    Completed => "completed",
    Returned => "returned",
    Rejected => "rejected",
    Recalled => "recalled",
});
text_enum!(StageStatus { Waiting => "waiting", Active => "active", Done => "done", Closed => "closed" });
text_enum!(TaskStatus {
    Pending => "pending",
    Approved => "approved",
    Returned => "returned",
    Rejected => "rejected",
    Delegated => "delegated",
    Answered => "answered",
    Informed => "informed",
    Cancelled => "cancelled",
    Completed => "completed",
});
text_enum!(TaskRole { Approver => "approver", Opinion => "opinion", Inform => "inform" });

/// Capacity in which a deputy acts: KT. (ký thay, on behalf of the head), TL. (thừa lệnh,
/// by order), TUQ. (thừa ủy quyền, by authorisation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum Capacity {
    Kt,
    Tl,
    Tuq,
}
text_enum!(Capacity { Kt => "kt", Tl => "tl", Tuq => "tuq" });

impl Capacity {
    /// As printed before a title on a signature: `KT.`, `TL.`, `TUQ.`.
    pub fn label(self) -> &'static str {
        match self {
            Capacity::Kt => "KT.",
            Capacity::Tl => "TL.",
            Capacity::Tuq => "TUQ.",
        }
    }
}

/// Every role a task row can have: a route's (approver, opinion, inform) or an incoming
/// paper's (lead, cooperate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum TaskKind {
    Approver,
    Opinion,
    Inform,
    /// Chủ trì: the one unit or person answerable for an incoming paper.
    Lead,
    /// Phối hợp.
    Cooperate,
}
text_enum!(TaskKind {
    Approver => "approver",
    Opinion => "opinion",
    Inform => "inform",
    Lead => "lead",
    Cooperate => "cooperate",
});

impl From<TaskRole> for TaskKind {
    fn from(r: TaskRole) -> TaskKind {
        match r {
            TaskRole::Approver => TaskKind::Approver,
            TaskRole::Opinion => TaskKind::Opinion,
            TaskRole::Inform => TaskKind::Inform,
        }
    }
}

impl TaskKind {
    /// The role of a route's task; none for an incoming paper's (lead, cooperate).
    pub fn route_role(self) -> Option<TaskRole> {
        match self {
            TaskKind::Approver => Some(TaskRole::Approver),
            TaskKind::Opinion => Some(TaskRole::Opinion),
            TaskKind::Inform => Some(TaskRole::Inform),
            TaskKind::Lead | TaskKind::Cooperate => None,
        }
    }
}

/// Policy of a stage as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum PolicyName {
    /// Every assignee must approve.
    All,
    /// Any one assignee.
    Any,
    /// `quorum` assignees.
    Quorum,
}
text_enum!(PolicyName { All => "all", Any => "any", Quorum => "quorum" });

/// Who a stage goes to: exactly one of `user`; `role` + `unit`; `head_of`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AssigneeSpec {
    /// A user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Every active user holding this role in `unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The unit of `role`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The head of this unit (its `head_user_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_of: Option<String>,
}

/// One stage as composed by a drafter or stored in a template.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    pub kind: StageKind,
    /// `all` (default), `any`, or `quorum` with `quorum`.
    #[serde(default = "default_policy")]
    pub policy: PolicyName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<u32>,
    pub assignees: Vec<AssigneeSpec>,
    /// Working days for this stage's tasks; default by the document's urgency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_days: Option<u32>,
    /// `sign` and `issue` stages: how they sign (none: a digital signature is required, at
    /// the default places).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<StageSigning>,
}

/// How a `sign` or `issue` stage signs, kept with the stage.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StageSigning {
    /// `false`: the stage is approved without a digital signature (an office still signing on
    /// paper). Default `true`: `approve` is refused, `sign` / `issue` is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_signature: Option<bool>,
    /// Where the signer's stamp goes; default: the last page's lower right.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<Placement>,
    /// `issue` stages: where the number and date are printed; default: page 1, top left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_place: Option<Placement>,
    /// `issue` stages, instead of `number_place`: the name of an empty signature field of the
    /// document (its template's "Số, ký hiệu" box) that the number and date go into, in the
    /// field's own rectangle. A document without it cannot be issued (422 `signature_field_invalid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_field: Option<String>,
}

impl StageSigning {
    /// Whether the stage needs a digital signature (the default).
    pub fn requires_signature(&self) -> bool {
        self.requires_signature.unwrap_or(true)
    }
}

/// A rectangle on a page of the PDF.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// From 1; `0` or absent: the last page.
    #[serde(default)]
    pub page: u32,
    /// `[x1, y1, x2, y2]` in PDF points (1/72 inch) from the page's lower left.
    pub rect: [f64; 4],
}

fn default_policy() -> PolicyName {
    PolicyName::All
}

/// Starting a route: from a template, or ad hoc stages.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRoute {
    #[serde(default)]
    pub template_id: Option<String>,
    #[serde(default)]
    pub stages: Option<Vec<StageSpec>>,
    /// Working days for the whole route (no stage is due after it); none: no route deadline.
    #[serde(default)]
    pub deadline_days: Option<u32>,
}

/// A person as shown in tasks and records.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PersonRef {
    pub id: String,
    pub full_name: String,
    pub position_title: String,
}

/// A task as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Task {
    pub id: TaskId,
    pub document_id: String,
    pub route_id: Option<RouteId>,
    /// Kind of the task's stage (`review`, `sign`, `issue`, `inform`), none for incoming work.
    pub stage_kind: Option<StageKind>,
    /// Position of the stage, from 1.
    pub stage_position: Option<i32>,
    pub round: i32,
    pub role: TaskKind,
    pub status: TaskStatus,
    /// The person the task is for.
    pub assignee: PersonRef,
    /// Who really acted, when a deputy did.
    pub acting_user: Option<PersonRef>,
    /// Capacity of that deputy.
    pub capacity: Option<Capacity>,
    /// `KT.`, `TL.`, `TUQ.` as printed.
    pub capacity_label: Option<String>,
    pub unit_id: Option<String>,
    pub urgency: Urgency,
    #[serde(with = "crate::datetime::z_opt")]
    pub deadline: Option<NaiveDateTime>,
    /// Still open after its deadline.
    pub overdue: bool,
    #[serde(with = "crate::datetime::z")]
    pub assigned_at: NaiveDateTime,
    #[serde(with = "crate::datetime::z_opt")]
    pub acted_at: Option<NaiveDateTime>,
    /// The comment or result note of the action that closed it.
    pub result: Option<String>,
    pub delegated_from: Option<TaskId>,
    /// A remote signature of this task waiting for its holder's confirmation on the phone, or
    /// the last one that failed (with the reason); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<RemoteSigning>,
}

/// A stage of a route.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Stage {
    /// From 1.
    pub position: i32,
    pub kind: StageKind,
    pub policy: PolicyName,
    pub quorum: Option<i32>,
    pub status: StageStatus,
    pub round: i32,
    pub deadline_days: Option<i32>,
    /// How a `sign` / `issue` stage signs.
    pub signing: StageSigning,
    /// Every task of every round, oldest first.
    pub tasks: Vec<Task>,
}

/// A route with its stages and tasks.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Route {
    pub id: RouteId,
    pub document_id: String,
    pub template_id: Option<TemplateId>,
    pub drafter_id: String,
    pub status: RouteStatus,
    /// Position of the active stage, from 1.
    pub current_stage: i32,
    /// Bumped by every transition.
    pub version: i64,
    #[serde(with = "crate::datetime::z")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::datetime::z")]
    pub updated_at: NaiveDateTime,
    #[serde(with = "crate::datetime::z_opt")]
    pub finished_at: Option<NaiveDateTime>,
    /// The whole route's deadline, when set.
    #[serde(with = "crate::datetime::z_opt")]
    pub deadline: Option<NaiveDateTime>,
    /// Still active after that deadline.
    pub overdue: bool,
    pub stages: Vec<Stage>,
}

/// What to do with a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum ActionKind {
    Approve,
    /// Needs `comment`; `to_stage` (position) or the drafter.
    Return,
    /// Needs `comment`; ends the route.
    Reject,
    Comment,
    /// To a user of your unit or a unit below it (`to_user_id`).
    Delegate,
    /// Ask `to_user_id` for an opinion.
    RequestOpinion,
    /// Add a review stage for `to_user_id` right after yours.
    InsertReviewer,
    /// Incoming work: report it done with the result note in `comment`.
    Complete,
    /// A `sign` stage: sign the current version with `credential_id` and `pin`; counts as
    /// the approval.
    Sign,
    /// An `issue` stage (a clerk of the issuing unit): number from `register_id`, the
    /// organisation's seal signature with the seal's `pin`, the document issued.
    Issue,
}
text_enum!(ActionKind {
    Approve => "approve",
    Return => "return",
    Reject => "reject",
    Comment => "comment",
    Delegate => "delegate",
    RequestOpinion => "request_opinion",
    InsertReviewer => "insert_reviewer",
    Complete => "complete",
    Sign => "sign",
    Issue => "issue",
});

/// `POST /tasks/{id}/actions`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    pub action: ActionKind,
    #[serde(default)]
    pub comment: Option<String>,
    /// The other user of `delegate`, `request_opinion`, `insert_reviewer`.
    #[serde(default)]
    pub to_user_id: Option<String>,
    /// `return` only: the position (from 1) of an earlier stage; absent: to the drafter.
    #[serde(default)]
    pub to_stage: Option<u32>,
    /// `sign` only: the caller's signing credential.
    #[serde(default)]
    pub credential_id: Option<String>,
    /// `sign`: the credential's PIN; `issue`: the seal's PIN. Never stored, never part of the
    /// idempotency fingerprint.
    #[serde(default, skip_serializing)]
    pub pin: Option<String>,
    /// `issue` only: the outgoing register that gives the number.
    #[serde(default)]
    pub register_id: Option<String>,
}

/// The answer to an action: the task after it and its route, when it has one. A retried
/// request with the same `Idempotency-Key` gets this same answer again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActionResult {
    pub action: ActionKind,
    pub task: Task,
    pub route: Option<Route>,
    /// `sign` / `issue`: the signature made and the version it is in.
    #[serde(default)]
    pub signature: Option<crate::workflow::service::SignatureOutcome>,
    /// True when this answer is a replay of an earlier request with the same key.
    #[serde(default)]
    pub replayed: bool,
}

/// One inbox line.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InboxItem {
    pub task: Task,
    pub document_subject: String,
    pub document_type_code: String,
    /// `assignee`, or `deputy` when held through a substitution.
    pub held_as: String,
    /// Whose task it is, when held as a deputy.
    pub on_behalf_of: Option<PersonRef>,
    pub capacity: Option<Capacity>,
}

/// Incoming paper assignment (giao xử lý).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignIncoming {
    /// The lead unit (its head holds the task) …
    #[serde(default)]
    pub lead_unit_id: Option<String>,
    /// … or the lead person: exactly one of the two.
    #[serde(default)]
    pub lead_user_id: Option<String>,
    #[serde(default)]
    pub cooperating_unit_ids: Vec<String>,
    #[serde(default)]
    pub inform_unit_ids: Vec<String>,
    /// Last day (Vietnam time); default by the document's urgency in working days.
    #[serde(default)]
    pub deadline: Option<NaiveDate>,
    /// The leader's instruction (ý kiến chỉ đạo).
    #[serde(default)]
    pub note: Option<String>,
}

/// An incoming paper's assignment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Assignment {
    pub document_id: String,
    pub lead: Task,
    pub cooperating: Vec<Task>,
    pub informed: Vec<Task>,
}

/// A route template as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = route_templates)]
pub struct TemplateRow {
    pub id: String,
    pub name: String,
    pub type_code: Option<String>,
    pub unit_id: Option<String>,
    pub stages: String,
    pub active: bool,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A route template.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Template {
    pub id: TemplateId,
    pub name: String,
    /// Document type it is for; none: any type.
    pub type_code: Option<String>,
    /// Unit it is for; none: any unit.
    pub unit_id: Option<String>,
    pub stages: Vec<StageSpec>,
    pub active: bool,
    #[serde(with = "crate::datetime::z")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::datetime::z")]
    pub updated_at: NaiveDateTime,
}

impl From<TemplateRow> for Template {
    fn from(r: TemplateRow) -> Self {
        Template {
            id: TemplateId(r.id),
            name: r.name,
            type_code: r.type_code,
            unit_id: r.unit_id,
            stages: serde_json::from_str(&r.stages).unwrap_or_default(),
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Creating a template.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTemplate {
    pub name: String,
    #[serde(default)]
    pub type_code: Option<String>,
    #[serde(default)]
    pub unit_id: Option<String>,
    pub stages: Vec<StageSpec>,
}

/// Changing a template; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateChanges {
    pub name: Option<String>,
    pub stages: Option<Vec<StageSpec>>,
    pub active: Option<bool>,
}

/// A route row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = workflow_routes)]
pub struct RouteRow {
    pub id: String,
    pub document_id: String,
    pub template_id: Option<String>,
    pub drafter_id: String,
    pub status: RouteStatus,
    pub current_stage: i32,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub deadline: Option<NaiveDateTime>,
}

/// A stage row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = workflow_stages)]
pub struct StageRow {
    pub id: String,
    pub route_id: String,
    pub position: i32,
    pub kind: StageKind,
    pub policy: PolicyName,
    pub quorum: Option<i32>,
    pub assignees: String,
    pub status: StageStatus,
    pub round: i32,
    pub deadline_days: Option<i32>,
    /// JSON of [`StageSigning`].
    pub signing: String,
}

/// A task row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = workflow_tasks)]
pub struct TaskRow {
    pub id: String,
    pub document_id: String,
    pub route_id: Option<String>,
    pub stage_id: Option<String>,
    pub round: i32,
    pub role: TaskKind,
    pub assignee_id: String,
    pub unit_id: Option<String>,
    pub acting_user_id: Option<String>,
    pub capacity: Option<Capacity>,
    pub status: TaskStatus,
    pub urgency: Urgency,
    pub deadline: Option<NaiveDateTime>,
    pub assigned_at: NaiveDateTime,
    pub acted_at: Option<NaiveDateTime>,
    pub result: Option<String>,
    pub delegated_from: Option<String>,
}

/// A signature prepared for a USB token, waiting for its `complete`; or sent to a remote
/// provider, waiting for the holder's confirmation (`remote_state` set).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::db::schema::signing_handles)]
pub struct HandleRow {
    pub id: String,
    pub task_id: String,
    pub user_id: String,
    pub credential_id: String,
    pub document_id: String,
    pub parent_version: i32,
    /// JSON of the signature's plan (stamp, names, time).
    pub plan: String,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    /// Remote: the certificate and chain the signature was prepared with (PEM, signer first).
    pub certs_pem: Option<String>,
    /// Remote: the provider's transaction id.
    pub remote_transaction: Option<String>,
    pub remote_state: Option<RemoteState>,
    /// Remote, failed: why (the provider's refusal, the time running out, a changed document).
    pub remote_reason: Option<String>,
    /// Remote, pending: when the poller asks the provider next.
    pub next_poll_at: Option<NaiveDateTime>,
}

/// Where a remote signature waiting for its holder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum RemoteState {
    /// Sent to the provider; the holder has not confirmed yet.
    Pending,
    /// Refused, timed out, or could not be completed: the task is still open, sign again.
    Failed,
    /// Confirmed and completed: the task is approved with this signature.
    Done,
}
text_enum!(RemoteState { Pending => "pending", Failed => "failed", Done => "done" });

/// A task's remote signature, as the task shows it (`signing`) and `sign` answers (202).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RemoteSigning {
    pub state: RemoteState,
    /// The prepared signature's id.
    pub handle: String,
    /// Who signs (the holder of the credential).
    pub user_id: String,
    /// The version of the document the signature is made over.
    pub version: i32,
    /// Failed: why.
    pub reason: Option<String>,
    #[serde(with = "crate::datetime::z")]
    pub started_at: NaiveDateTime,
    /// Until when the holder may confirm.
    #[serde(with = "crate::datetime::z")]
    pub expires_at: NaiveDateTime,
}

/// `sign` with a remote credential whose holder must confirm on the phone (202): the task stays
/// open; it is approved when the confirmation arrives (see the task's `signing`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignPending {
    pub task_id: TaskId,
    pub signing: RemoteSigning,
}

/// `POST /tasks/{id}/sign/prepare`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrepareSign {
    /// The caller's own `token` credential.
    pub credential_id: String,
}

/// What the USB token must sign.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PreparedSign {
    /// Give it back to `complete`; single use, bound to you, the task and the version.
    pub handle: String,
    /// Always `sha256`.
    pub hash_algorithm: String,
    /// Base64 of the DER signed attributes (a SET OF): sign these bytes as
    /// `openssl dgst -sha256 -sign KEY` does (RSA PKCS#1 v1.5, or a DER ECDSA signature).
    pub to_sign: String,
    /// The version of the document the signature is made over.
    pub version: i32,
    #[serde(with = "crate::datetime::z")]
    pub expires_at: NaiveDateTime,
}

/// `POST /tasks/{id}/sign/complete`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteSign {
    pub handle: String,
    /// Base64 of the token's signature of `to_sign`.
    pub signature: String,
}

/// An action row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = workflow_actions)]
pub struct ActionRow {
    pub id: String,
    pub route_id: Option<String>,
    pub task_id: Option<String>,
    pub user_id: String,
    pub on_behalf_of: Option<String>,
    pub capacity: Option<Capacity>,
    pub action: String,
    pub comment: Option<String>,
    pub target_user_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub response: Option<String>,
    pub created_at: NaiveDateTime,
}

/// A substitution row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = substitutions)]
pub struct SubstitutionRow {
    pub id: String,
    pub user_id: String,
    pub deputy_id: String,
    pub capacity: Capacity,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

/// A substitution: `deputy` holds `user`'s tasks from `starts_at` to `ends_at`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Substitution {
    pub id: SubstitutionId,
    pub user: PersonRef,
    pub deputy: PersonRef,
    pub capacity: Capacity,
    pub capacity_label: String,
    #[serde(with = "crate::datetime::z")]
    pub starts_at: NaiveDateTime,
    #[serde(with = "crate::datetime::z")]
    pub ends_at: NaiveDateTime,
    #[serde(with = "crate::datetime::z_opt")]
    pub revoked_at: Option<NaiveDateTime>,
    /// In force now.
    pub active: bool,
}

/// Naming a deputy.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubstitution {
    /// Whose tasks; default yourself (admins may name anyone).
    #[serde(default)]
    pub user_id: Option<String>,
    pub deputy_id: String,
    pub capacity: Capacity,
    /// Default now; without an offset, UTC.
    #[serde(default, deserialize_with = "crate::datetime::utc_opt")]
    pub starts_at: Option<NaiveDateTime>,
    /// Without an offset, UTC.
    #[serde(deserialize_with = "crate::datetime::utc")]
    pub ends_at: NaiveDateTime,
}

/// One unit's line in the lateness report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LatenessLine {
    pub unit_id: String,
    pub unit_code: String,
    pub unit_name: String,
    /// Tasks with a deadline handled in the period.
    pub handled: i64,
    /// Of those, handled after their deadline.
    pub handled_late: i64,
    /// handled_late / handled (0 when nothing was handled).
    pub late_rate: f64,
    /// Median working days from assignment to handling (same day: 0).
    pub median_handling_days: Option<f64>,
}

/// One unit's line of the digital-signature report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DigitalLine {
    pub unit_id: String,
    pub unit_code: String,
    pub unit_name: String,
    /// Outgoing documents issued in the period (by issue date) by this unit (the unit of the
    /// register that numbered them).
    pub outgoing_issued: i64,
    /// Of those, issued with digital signatures throughout: every `sign` stage signed (no bare
    /// approval) and the seal applied at issuance.
    pub issued_digitally: i64,
    /// issued_digitally / outgoing_issued (none when nothing was issued).
    pub digital_share: Option<f64>,
    /// Incoming documents received in the period.
    pub incoming_received: i64,
    /// Of those, received electronically (`received_channel` `electronic`, `email`, `lgsp`,
    /// `national_platform` or `điện tử`, in any case).
    pub incoming_electronic: i64,
    /// Received on paper (every other channel, or none given).
    pub incoming_paper: i64,
    /// Of the electronic ones, those whose signatures verified at registration (signed, and
    /// every signature valid and trusted: see docs/DOCUMENTS.md, "Registration").
    pub incoming_signatures_verified: i64,
    /// incoming_signatures_verified / incoming_electronic (none when nothing came
    /// electronically).
    pub signatures_verified_share: Option<f64>,
    /// The late rate of the lateness report for the same unit and period.
    pub late_rate: f64,
}

/// The reform's indicators of a period: digital issuance, electronic receipt, lateness.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DigitalReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub units: Vec<DigitalLine>,
}

/// The lateness report of a period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LatenessReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub units: Vec<LatenessLine>,
}
