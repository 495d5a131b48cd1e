//! Workflow operations. Public functions own their transactions: each loads what it needs,
//! asks the pure engine what happens, writes the difference, the action row, the audit
//! event and the notifications in one transaction.

use super::calendar::{self, Calendar};
use super::engine::{
    self, EngineError, Event, Policy, ReturnTarget, RouteStatus, StageKind, StageStatus, TaskRole,
    TaskStatus,
};
use super::model::*;
use super::notices::{self, Notice};
use super::queries;
use crate::accounts::model::UserRow;
use crate::accounts::queries as accounts_q;
use crate::audit::{self, Action, AuditContext};
use crate::db::schema::{workflow_actions, workflow_routes, workflow_stages, workflow_tasks};
use crate::db::{self, DbConn};
use crate::documents::access::Viewer;
use crate::documents::model::{DocumentRow, Kind, Status, Urgency};
use crate::documents::service::visible_document;
use crate::error::{ApiError, ErrorCode};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;
use std::collections::HashMap;

pub(super) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(super) fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

pub(super) fn text(field: &str, v: Option<&str>, max: usize) -> Result<Option<String>, ApiError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) if s.chars().count() > max => Err(ApiError::validation(
            field,
            format!("must be at most {max} characters"),
        )),
        other => Ok(other.map(str::to_string)),
    }
}

pub(super) fn corrupt(what: &str) -> ApiError {
    ApiError::internal(anyhow::anyhow!(
        "stored workflow data is not readable: {what}"
    ))
}

// ---- assignees and stages ----

/// An active user by id, or a validation error on `field`.
pub(super) fn active_user(conn: &mut DbConn, field: &str, id: &str) -> Result<UserRow, ApiError> {
    if !is_uuid(id) {
        return Err(ApiError::validation(field, "must be a user id (UUID)"));
    }
    match accounts_q::find_user(conn, id)? {
        Some(u) if u.active => Ok(u),
        _ => Err(ApiError::validation(field, "names no active user")),
    }
}

/// The head of a unit, or a validation error naming the unit.
pub(super) fn head_of(conn: &mut DbConn, field: &str, unit_id: &str) -> Result<UserRow, ApiError> {
    if !is_uuid(unit_id) {
        return Err(ApiError::validation(field, "must be a unit id (UUID)"));
    }
    let unit = accounts_q::find_unit(conn, unit_id)?
        .filter(|u| u.active)
        .ok_or_else(|| ApiError::validation(field, "names no active unit"))?;
    let head = unit.head_user_id.ok_or_else(|| {
        ApiError::validation(
            field,
            format!(
                "unit {} has no head; an admin sets head_user_id on the unit",
                unit.code
            ),
        )
    })?;
    active_user(conn, field, &head)
}

/// Resolves a stage's assignee specs to user ids (in order, without repeats).
fn resolve(
    conn: &mut DbConn,
    field: &str,
    specs: &[AssigneeSpec],
    doc_unit: &str,
) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let f = format!("{field}.assignees[{i}]");
        let ids = match (&s.user, &s.role, &s.head_of) {
            (Some(u), None, None) if s.unit.is_none() => vec![active_user(conn, &f, u)?.id],
            (None, Some(role), None) => {
                let unit = s.unit.clone().unwrap_or_else(|| doc_unit.to_string());
                let found = queries::users_with_role(conn, &unit, role.as_str())?;
                if found.is_empty() {
                    return Err(ApiError::validation(
                        f,
                        format!(
                            "no active user holds the role {} in that unit",
                            role.as_str()
                        ),
                    ));
                }
                found
            }
            (None, None, Some(unit)) if s.unit.is_none() => vec![head_of(conn, &f, unit)?.id],
            _ => {
                return Err(ApiError::validation(
                    f,
                    "give exactly one of: user; role (with unit); head_of",
                ))
            }
        };
        for id in ids {
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    Ok(out)
}

/// Checks stage specs that do not need the database.
pub(super) fn check_specs(field: &str, specs: &[StageSpec]) -> Result<(), ApiError> {
    if specs.is_empty() || specs.len() > 50 {
        return Err(ApiError::validation(field, "give 1–50 stages"));
    }
    for (i, s) in specs.iter().enumerate() {
        let f = format!("{field}[{i}]");
        if s.assignees.is_empty() || s.assignees.len() > 100 {
            return Err(ApiError::validation(f, "give 1–100 assignees"));
        }
        match (s.policy, s.quorum) {
            (PolicyName::Quorum, None) => {
                return Err(ApiError::validation(
                    format!("{f}.quorum"),
                    "a quorum policy needs quorum",
                ))
            }
            (PolicyName::All | PolicyName::Any, Some(_)) => {
                return Err(ApiError::validation(
                    format!("{f}.quorum"),
                    "only a quorum policy takes quorum",
                ))
            }
            _ => {}
        }
        if s.deadline_days.is_some_and(|d| d > 365) {
            return Err(ApiError::validation(
                format!("{f}.deadline_days"),
                "at most 365 working days",
            ));
        }
    }
    Ok(())
}

fn policy_of(name: PolicyName, quorum: Option<u32>) -> Policy {
    match name {
        PolicyName::All => Policy::All,
        PolicyName::Any => Policy::Any,
        PolicyName::Quorum => Policy::Quorum(quorum.unwrap_or(1)),
    }
}

fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::CommentRequired => {
            ApiError::validation("comment", "is required for this action")
        }
        EngineError::BadReturnTarget => ApiError::validation(
            "to_stage",
            "must be the position of an earlier stage that is not for information",
        ),
        EngineError::Invalid(m) => ApiError::validation("stages", m),
        EngineError::NotAllowed(m) => ApiError::Unprocessable {
            code: ErrorCode::ActionNotAllowed,
            message: m.to_string(),
        },
        EngineError::RecallRefused => ApiError::conflict(
            ErrorCode::RecallRefused,
            "the active stage has already decided; the route can no longer be recalled",
        ),
        EngineError::Finished => {
            ApiError::conflict(ErrorCode::RouteFinished, "the route is finished")
        }
        EngineError::UnknownTask | EngineError::TaskClosed(_) | EngineError::NotCurrentStage => {
            ApiError::conflict(ErrorCode::TaskClosed, "the task is no longer open")
        }
    }
}

// ---- loading and showing ----

/// A route as stored, with its stages and every task.
struct Loaded {
    row: RouteRow,
    stages: Vec<StageRow>,
    tasks: Vec<TaskRow>,
}

fn load(conn: &mut DbConn, row: RouteRow) -> Result<Loaded, ApiError> {
    let stages = queries::stages(conn, &row.id)?;
    let tasks = queries::route_tasks(conn, &row.id)?;
    Ok(Loaded { row, stages, tasks })
}

fn to_engine(l: &Loaded) -> Result<engine::Route, ApiError> {
    let mut stages = Vec::with_capacity(l.stages.len());
    for s in &l.stages {
        let kind = StageKind::parse(&s.kind).ok_or_else(|| corrupt("stage kind"))?;
        let policy = match PolicyName::parse(&s.policy).ok_or_else(|| corrupt("policy"))? {
            PolicyName::All => Policy::All,
            PolicyName::Any => Policy::Any,
            PolicyName::Quorum => Policy::Quorum(s.quorum.unwrap_or(1).max(1) as u32),
        };
        let assignees: Vec<String> =
            serde_json::from_str(&s.assignees).map_err(|_| corrupt("assignees"))?;
        let mut tasks = Vec::new();
        for t in l
            .tasks
            .iter()
            .filter(|t| t.stage_id.as_deref() == Some(s.id.as_str()) && t.round == s.round)
        {
            tasks.push(engine::Task {
                id: t.id.clone(),
                assignee: t.assignee_id.clone(),
                role: TaskRole::parse(&t.role).ok_or_else(|| corrupt("task role"))?,
                status: TaskStatus::parse(&t.status).ok_or_else(|| corrupt("task status"))?,
            });
        }
        stages.push(engine::Stage {
            id: s.id.clone(),
            kind,
            policy,
            assignees,
            status: StageStatus::parse(&s.status).ok_or_else(|| corrupt("stage status"))?,
            round: s.round.max(0) as u32,
            tasks,
        });
    }
    Ok(engine::Route {
        drafter: l.row.drafter_id.clone(),
        status: RouteStatus::parse(&l.row.status).ok_or_else(|| corrupt("route status"))?,
        current: l.row.current_stage.max(0) as usize,
        stages,
    })
}

pub(super) fn person(users: &HashMap<String, UserRow>, id: &str) -> PersonRef {
    match users.get(id) {
        Some(u) => PersonRef {
            id: u.id.clone(),
            full_name: u.full_name.clone(),
            position_title: u.position_title.clone(),
        },
        None => PersonRef {
            id: id.to_string(),
            full_name: String::new(),
            position_title: String::new(),
        },
    }
}

pub(super) fn people_of(
    conn: &mut DbConn,
    tasks: &[TaskRow],
) -> Result<HashMap<String, UserRow>, ApiError> {
    let mut ids: Vec<String> = tasks.iter().map(|t| t.assignee_id.clone()).collect();
    ids.extend(tasks.iter().filter_map(|t| t.acting_user_id.clone()));
    ids.sort();
    ids.dedup();
    Ok(queries::users_by_id(conn, &ids)?)
}

pub(super) fn task_view(
    t: &TaskRow,
    users: &HashMap<String, UserRow>,
    stages: &HashMap<String, (StageKind, i32)>,
    now: NaiveDateTime,
) -> Task {
    let status = TaskStatus::parse(&t.status).unwrap_or(TaskStatus::Cancelled);
    let capacity = t.capacity.as_deref().and_then(Capacity::parse);
    let stage = t.stage_id.as_ref().and_then(|s| stages.get(s)).copied();
    Task {
        id: TaskId(t.id.clone()),
        document_id: t.document_id.clone(),
        route_id: t.route_id.clone().map(RouteId),
        stage_kind: stage.map(|s| s.0),
        stage_position: stage.map(|s| s.1),
        round: t.round,
        role: TaskKind::parse(&t.role).unwrap_or(TaskKind::Inform),
        status,
        assignee: person(users, &t.assignee_id),
        acting_user: t.acting_user_id.as_deref().map(|a| person(users, a)),
        capacity,
        capacity_label: capacity.map(|c| c.label().to_string()),
        unit_id: t.unit_id.clone(),
        urgency: Urgency::parse(&t.urgency).unwrap_or_default(),
        deadline: t.deadline,
        overdue: status == TaskStatus::Pending && t.deadline.is_some_and(|d| d < now),
        assigned_at: t.assigned_at,
        acted_at: t.acted_at,
        result: t.result.clone(),
        delegated_from: t.delegated_from.clone().map(TaskId),
    }
}

fn stage_index(stages: &[StageRow]) -> HashMap<String, (StageKind, i32)> {
    stages
        .iter()
        .filter_map(|s| Some((s.id.clone(), (StageKind::parse(&s.kind)?, s.position + 1))))
        .collect()
}

fn route_view(conn: &mut DbConn, l: &Loaded) -> Result<Route, ApiError> {
    let users = people_of(conn, &l.tasks)?;
    let index = stage_index(&l.stages);
    let now = db::now();
    let stages = l
        .stages
        .iter()
        .map(|s| Stage {
            position: s.position + 1,
            kind: StageKind::parse(&s.kind).unwrap_or(StageKind::Review),
            policy: PolicyName::parse(&s.policy).unwrap_or(PolicyName::All),
            quorum: s.quorum,
            status: StageStatus::parse(&s.status).unwrap_or(StageStatus::Closed),
            round: s.round,
            deadline_days: s.deadline_days,
            tasks: l
                .tasks
                .iter()
                .filter(|t| t.stage_id.as_deref() == Some(s.id.as_str()))
                .map(|t| task_view(t, &users, &index, now))
                .collect(),
        })
        .collect();
    Ok(Route {
        id: RouteId(l.row.id.clone()),
        document_id: l.row.document_id.clone(),
        template_id: l.row.template_id.clone().map(TemplateId),
        drafter_id: l.row.drafter_id.clone(),
        status: RouteStatus::parse(&l.row.status).unwrap_or(RouteStatus::Active),
        current_stage: l.row.current_stage + 1,
        version: l.row.version,
        created_at: l.row.created_at,
        updated_at: l.row.updated_at,
        finished_at: l.row.finished_at,
        deadline: l.row.deadline,
        overdue: l.row.status == "active" && l.row.deadline.is_some_and(|d| d < now),
        stages,
    })
}

fn current_route(conn: &mut DbConn, route_id: &str) -> Result<Route, ApiError> {
    let row = queries::route(conn, route_id)?.ok_or(ApiError::NotFound("route"))?;
    let l = load(conn, row)?;
    route_view(conn, &l)
}

// ---- starting a route ----

/// Starts a route on a draft: from a template or ad hoc stages. Only the drafter starts it.
pub fn start_route(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    cal: &Calendar,
    document_id: &str,
    req: StartRoute,
) -> Result<Route, ApiError> {
    if let Some(stages) = &req.stages {
        check_specs("stages", stages)?;
    }
    if req.deadline_days.is_some_and(|d| d > 365) {
        return Err(ApiError::validation(
            "deadline_days",
            "at most 365 working days",
        ));
    }
    db::write_tx(conn, |conn| {
        let doc = visible_document(conn, viewer, document_id)?;
        if doc.created_by != viewer.id {
            return Err(ApiError::Forbidden);
        }
        if doc.kind() == Kind::Incoming || doc.status() != Status::Draft {
            return Err(ApiError::conflict(
                ErrorCode::NotADraft,
                "only an outgoing or internal draft travels a route; incoming papers are assigned",
            ));
        }
        if queries::has_active_route(conn, &doc.id)? {
            return Err(ApiError::conflict(
                ErrorCode::RouteActive,
                "the document is already on an active route",
            ));
        }
        if queries::latest_route(conn, &doc.id)?.is_some_and(|r| r.status == "completed") {
            return Err(ApiError::conflict(
                ErrorCode::RouteCompleted,
                "the draft has been through its whole route; it is not routed again",
            ));
        }
        let (specs, template_id) = match (&req.template_id, req.stages) {
            (Some(t), None) => {
                let tpl = queries::template(conn, t)?
                    .filter(|t| t.active)
                    .ok_or_else(|| {
                        ApiError::validation("template_id", "names no active template")
                    })?;
                if tpl.type_code.as_deref().is_some_and(|c| c != doc.type_code)
                    || tpl.unit_id.as_deref().is_some_and(|u| u != doc.unit_id)
                {
                    return Err(ApiError::validation(
                        "template_id",
                        "the template is for another document type or unit",
                    ));
                }
                let specs: Vec<StageSpec> =
                    serde_json::from_str(&tpl.stages).map_err(|_| corrupt("template stages"))?;
                (specs, Some(tpl.id))
            }
            (None, Some(stages)) => (stages, None),
            _ => {
                return Err(ApiError::validation(
                    "template_id",
                    "give exactly one of template_id and stages",
                ))
            }
        };
        let now = db::now();
        let route_id = new_id();
        let mut stage_rows = Vec::with_capacity(specs.len());
        let mut stages = Vec::with_capacity(specs.len());
        for (i, s) in specs.iter().enumerate() {
            let assignees = resolve(conn, &format!("stages[{i}]"), &s.assignees, &doc.unit_id)?;
            let mut st = engine::Stage::new(s.kind, policy_of(s.policy, s.quorum), assignees);
            st.id = new_id();
            stage_rows.push((st.id.clone(), s.deadline_days));
            stages.push(st);
        }
        let mut ids = new_id;
        let (route, events) =
            engine::Route::start(viewer.id.clone(), stages, &mut ids).map_err(engine_error)?;
        let row = RouteRow {
            id: route_id.clone(),
            document_id: doc.id.clone(),
            template_id,
            drafter_id: viewer.id.clone(),
            status: route.status.as_str().to_string(),
            current_stage: route.current as i32,
            version: 1,
            created_at: now,
            updated_at: now,
            finished_at: None,
            deadline: req.deadline_days.map(|d| cal.deadline(now, d)),
        };
        diesel::insert_into(workflow_routes::table)
            .values(&row)
            .execute(conn)?;
        let deadline_days: HashMap<String, Option<u32>> = stage_rows.into_iter().collect();
        let empty = Loaded {
            row: row.clone(),
            stages: Vec::new(),
            tasks: Vec::new(),
        };
        let write = Write {
            doc: &doc,
            cal,
            now,
            acting: None,
            deadline_days: &deadline_days,
        };
        write.diff(conn, &empty, &route)?;
        audit::record(
            conn,
            ctx,
            Action::RouteStarted,
            "route",
            Some(&route_id),
            json!({"document_id": doc.id, "template_id": row.template_id, "stages": specs}),
        )?;
        let notices = notices_of(&events, &route, None);
        notices::send(conn, &doc.id, viewer.id.as_str(), &notices, now)?;
        current_route(conn, &route_id)
    })
}

/// How new rows are filled in while writing an engine step.
struct Write<'a> {
    doc: &'a DocumentRow,
    cal: &'a Calendar,
    now: NaiveDateTime,
    /// The task acted on, who acted, in which capacity, the comment, and (for a delegation)
    /// the task that new tasks come from.
    acting: Option<Acting<'a>>,
    /// Working days of stages created in this step.
    deadline_days: &'a HashMap<String, Option<u32>>,
}

struct Acting<'a> {
    task: &'a TaskRow,
    user: &'a str,
    capacity: Option<Capacity>,
    comment: Option<&'a str>,
    delegation: bool,
}

impl Write<'_> {
    /// Writes what changed between the stored route and the engine's route.
    fn diff(
        &self,
        conn: &mut DbConn,
        before: &Loaded,
        after: &engine::Route,
    ) -> Result<(), ApiError> {
        let old_stages: HashMap<&str, &StageRow> =
            before.stages.iter().map(|s| (s.id.as_str(), s)).collect();
        let old_tasks: HashMap<&str, &TaskRow> =
            before.tasks.iter().map(|t| (t.id.as_str(), t)).collect();
        let mut new_assignees: Vec<String> = Vec::new();
        for st in &after.stages {
            for t in &st.tasks {
                if !old_tasks.contains_key(t.id.as_str()) {
                    new_assignees.push(t.assignee.clone());
                }
            }
        }
        let people = queries::users_by_id(conn, &new_assignees)?;
        for (pos, st) in after.stages.iter().enumerate() {
            let pos = pos as i32;
            let days = match old_stages.get(st.id.as_str()) {
                Some(old) => {
                    if old.position != pos
                        || old.status != st.status.as_str()
                        || old.round != st.round as i32
                    {
                        diesel::update(workflow_stages::table.find(&st.id))
                            .set((
                                workflow_stages::position.eq(pos),
                                workflow_stages::status.eq(st.status.as_str()),
                                workflow_stages::round.eq(st.round as i32),
                            ))
                            .execute(conn)?;
                    }
                    old.deadline_days.map(|d| d.max(0) as u32)
                }
                None => {
                    let (policy, quorum) = match st.policy {
                        Policy::All => ("all", None),
                        Policy::Any => ("any", None),
                        Policy::Quorum(n) => ("quorum", Some(n as i32)),
                    };
                    let days = self.deadline_days.get(&st.id).copied().flatten();
                    let row = StageRow {
                        id: st.id.clone(),
                        route_id: before.row.id.clone(),
                        position: pos,
                        kind: st.kind.as_str().to_string(),
                        policy: policy.to_string(),
                        quorum,
                        assignees: serde_json::to_string(&st.assignees)
                            .map_err(ApiError::internal)?,
                        status: st.status.as_str().to_string(),
                        round: st.round as i32,
                        deadline_days: days.map(|d| d as i32),
                    };
                    diesel::insert_into(workflow_stages::table)
                        .values(&row)
                        .execute(conn)?;
                    days
                }
            };
            for t in &st.tasks {
                match old_tasks.get(t.id.as_str()) {
                    Some(old) if old.status != t.status.as_str() => {
                        let acted_here = self.acting.as_ref().is_some_and(|a| a.task.id == t.id);
                        if acted_here {
                            let a = self
                                .acting
                                .as_ref()
                                .map(|a| (a.user, a.capacity, a.comment));
                            let (user, capacity, comment) =
                                a.unwrap_or((old.assignee_id.as_str(), None, None));
                            let acting_user = (user != old.assignee_id).then(|| user.to_string());
                            diesel::update(workflow_tasks::table.find(&t.id))
                                .set((
                                    workflow_tasks::status.eq(t.status.as_str()),
                                    workflow_tasks::acted_at.eq(Some(self.now)),
                                    workflow_tasks::acting_user_id.eq(acting_user),
                                    workflow_tasks::capacity.eq(capacity.map(|c| c.as_str())),
                                    workflow_tasks::result.eq(comment),
                                ))
                                .execute(conn)?;
                        } else {
                            diesel::update(workflow_tasks::table.find(&t.id))
                                .set(workflow_tasks::status.eq(t.status.as_str()))
                                .execute(conn)?;
                        }
                    }
                    Some(_) => {}
                    None => {
                        let delegated = self.acting.as_ref().filter(|a| a.delegation);
                        let deadline = match delegated {
                            Some(a) => a.task.deadline,
                            None if t.status == TaskStatus::Pending => {
                                let own = self.cal.deadline(
                                    self.now,
                                    days.unwrap_or_else(|| {
                                        calendar::default_days(&self.doc.urgency)
                                    }),
                                );
                                // No stage is due after the route.
                                Some(before.row.deadline.map_or(own, |r| own.min(r)))
                            }
                            None => None,
                        };
                        let row = TaskRow {
                            id: t.id.clone(),
                            document_id: self.doc.id.clone(),
                            route_id: Some(before.row.id.clone()),
                            stage_id: Some(st.id.clone()),
                            round: st.round as i32,
                            role: t.role.as_str().to_string(),
                            assignee_id: t.assignee.clone(),
                            unit_id: people.get(&t.assignee).and_then(|u| u.unit_id.clone()),
                            acting_user_id: None,
                            capacity: None,
                            status: t.status.as_str().to_string(),
                            urgency: self.doc.urgency.clone(),
                            deadline,
                            assigned_at: self.now,
                            acted_at: None,
                            result: None,
                            delegated_from: delegated.map(|a| a.task.id.clone()),
                        };
                        diesel::insert_into(workflow_tasks::table)
                            .values(&row)
                            .execute(conn)?;
                    }
                }
            }
        }
        if !before.stages.is_empty() {
            // The optimistic check: nobody moved the route since it was read.
            let n = diesel::update(
                workflow_routes::table
                    .filter(workflow_routes::id.eq(&before.row.id))
                    .filter(workflow_routes::version.eq(before.row.version)),
            )
            .set((
                workflow_routes::status.eq(after.status.as_str()),
                workflow_routes::current_stage.eq(after.current as i32),
                workflow_routes::version.eq(before.row.version + 1),
                workflow_routes::updated_at.eq(self.now),
                workflow_routes::finished_at.eq(after.status.is_finished().then_some(self.now)),
            ))
            .execute(conn)?;
            if n != 1 {
                return Err(ApiError::conflict(
                    ErrorCode::ConcurrentUpdate,
                    "the route changed at the same time; reload it",
                ));
            }
        }
        Ok(())
    }
}

fn notices_of(events: &[Event], route: &engine::Route, comment: Option<&str>) -> Vec<Notice> {
    let mut out = Vec::new();
    for e in events {
        match e {
            Event::TaskAssigned { task, assignee } => {
                let informed = route
                    .find_task(task)
                    .map(|(s, t)| route.stages[s].tasks[t].role == TaskRole::Inform)
                    .unwrap_or(false);
                if !informed {
                    out.push(Notice::Assigned {
                        task_id: task.clone(),
                        assignee: assignee.clone(),
                    });
                }
            }
            Event::Returned { .. } => out.push(Notice::Returned {
                drafter: route.drafter.clone(),
                comment: comment.unwrap_or_default().to_string(),
            }),
            Event::Rejected => out.push(Notice::Rejected {
                drafter: route.drafter.clone(),
                comment: comment.unwrap_or_default().to_string(),
            }),
            Event::Completed => out.push(Notice::Finished {
                drafter: route.drafter.clone(),
            }),
            Event::StageCompleted { .. } | Event::Recalled | Event::Commented => {}
        }
    }
    out
}

// ---- reading ----

/// The document's latest route; recorded only for a classified document (as documents do,
/// see `audit::service::Read`).
pub fn get_route(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    document_id: &str,
) -> Result<Route, ApiError> {
    let doc = visible_document(conn, viewer, document_id)?;
    let row = queries::latest_route(conn, &doc.id)?.ok_or(ApiError::NotFound("route"))?;
    let l = load(conn, row)?;
    if doc.confidentiality().is_classified() {
        audit::service::record_read(
            conn,
            ctx,
            audit::service::Read {
                action: Action::RouteViewed,
                object_type: "route",
                object_id: Some(&l.row.id),
                details: json!({"document_id": doc.id}),
                classified: true,
            },
        )?;
    }
    route_view(conn, &l)
}

/// The viewer's open tasks and those they hold as a deputy: most urgent first, then by
/// deadline (none last), then oldest.
pub fn inbox(conn: &mut DbConn, viewer: &Viewer) -> Result<Vec<InboxItem>, ApiError> {
    let now = db::now();
    let subs = queries::substitutions_for_deputy(conn, &viewer.id, now)?;
    let mut holders = vec![viewer.id.clone()];
    holders.extend(subs.iter().map(|s| s.user_id.clone()));
    let tasks = queries::open_tasks_of(conn, &holders)?;
    let users = people_of(conn, &tasks)?;
    let doc_ids: Vec<String> = tasks.iter().map(|t| t.document_id.clone()).collect();
    let docs: HashMap<String, DocumentRow> = {
        use crate::db::schema::documents;
        documents::table
            .filter(documents::id.eq_any(&doc_ids))
            .select(DocumentRow::as_select())
            .load(conn)?
            .into_iter()
            .map(|d| (d.id.clone(), d))
            .collect()
    };
    let mut stage_ids: Vec<String> = tasks.iter().filter_map(|t| t.stage_id.clone()).collect();
    stage_ids.dedup();
    let stage_rows: Vec<StageRow> = workflow_stages::table
        .filter(workflow_stages::id.eq_any(&stage_ids))
        .select(StageRow::as_select())
        .load(conn)?;
    let index = stage_index(&stage_rows);
    let mut items: Vec<InboxItem> = tasks
        .iter()
        .map(|t| {
            let sub = (t.assignee_id != viewer.id)
                .then(|| subs.iter().find(|s| s.user_id == t.assignee_id))
                .flatten();
            let doc = docs.get(&t.document_id);
            InboxItem {
                task: task_view(t, &users, &index, now),
                document_subject: doc.map(|d| d.subject.clone()).unwrap_or_default(),
                document_type_code: doc.map(|d| d.type_code.clone()).unwrap_or_default(),
                held_as: if sub.is_some() { "deputy" } else { "assignee" }.to_string(),
                on_behalf_of: sub.map(|s| person(&users, &s.user_id)),
                capacity: sub.and_then(|s| Capacity::parse(&s.capacity)),
            }
        })
        .collect();
    let rank = |u: Urgency| match u {
        Urgency::Flash => 0,
        Urgency::VeryUrgent => 1,
        Urgency::Urgent => 2,
        Urgency::Normal => 3,
    };
    items.sort_by(|a, b| {
        rank(a.task.urgency)
            .cmp(&rank(b.task.urgency))
            .then_with(|| match (a.task.deadline, b.task.deadline) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then_with(|| a.task.assigned_at.cmp(&b.task.assigned_at))
    });
    Ok(items)
}

// ---- acting ----

/// Who is acting on a task: the assignee, or a deputy in force now (with the capacity).
fn holder(
    conn: &mut DbConn,
    viewer: &Viewer,
    task: &TaskRow,
    now: NaiveDateTime,
) -> Result<Option<Capacity>, ApiError> {
    if task.assignee_id == viewer.id {
        return Ok(None);
    }
    let subs = queries::substitutions_for_deputy(conn, &viewer.id, now)?;
    match subs.iter().find(|s| s.user_id == task.assignee_id) {
        Some(s) => Ok(Some(
            Capacity::parse(&s.capacity).ok_or_else(|| corrupt("capacity"))?,
        )),
        None => Err(ApiError::NotFound("task")),
    }
}

/// Whether `target`'s unit is `unit` or below it.
fn is_below(
    units: &HashMap<String, crate::accounts::model::UnitRow>,
    unit: &str,
    target: Option<&str>,
) -> bool {
    let mut cur = target.map(str::to_string);
    let mut steps = 0;
    while let Some(u) = cur {
        if u == unit {
            return true;
        }
        steps += 1;
        if steps > 1000 {
            return false;
        }
        cur = units.get(&u).and_then(|r| r.parent_id.clone());
    }
    false
}

fn request_hash(task_id: &str, req: &ActionRequest) -> String {
    let body = serde_json::to_string(&(task_id, req)).unwrap_or_default();
    crate::audit::service::hex(&openssl::sha::sha256(body.as_bytes()))
}

/// Checks an idempotency key (already taken inside the lock): a replay answers the first
/// result, a reuse with another request is refused.
fn replay(
    conn: &mut DbConn,
    user: &str,
    key: Option<&str>,
    hash: &str,
) -> Result<Option<ActionResult>, ApiError> {
    let Some(key) = key else { return Ok(None) };
    let Some(found) = queries::action_by_key(conn, user, key)? else {
        return Ok(None);
    };
    if found.request_hash.as_deref() != Some(hash) {
        return Err(ApiError::Unprocessable {
            code: ErrorCode::IdempotencyKeyReused,
            message: "this Idempotency-Key was used for a different request".into(),
        });
    }
    let mut r: ActionResult = found
        .response
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| corrupt("stored response"))?;
    r.replayed = true;
    Ok(Some(r))
}

#[allow(clippy::too_many_arguments)]
fn record_action(
    conn: &mut DbConn,
    route_id: Option<&str>,
    task_id: Option<&str>,
    user: &str,
    on_behalf_of: Option<&str>,
    capacity: Option<Capacity>,
    action: &str,
    comment: Option<&str>,
    target: Option<&str>,
    key: Option<&str>,
    hash: &str,
    response: Option<&ActionResult>,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let row = ActionRow {
        id: new_id(),
        route_id: route_id.map(str::to_string),
        task_id: task_id.map(str::to_string),
        user_id: user.to_string(),
        on_behalf_of: on_behalf_of.map(str::to_string),
        capacity: capacity.map(|c| c.as_str().to_string()),
        action: action.to_string(),
        comment: comment.map(str::to_string),
        target_user_id: target.map(str::to_string),
        idempotency_key: key.map(str::to_string),
        request_hash: Some(hash.to_string()),
        response: response
            .map(serde_json::to_string)
            .transpose()
            .map_err(ApiError::internal)?,
        created_at: now,
    };
    diesel::insert_into(workflow_actions::table)
        .values(&row)
        .execute(conn)?;
    Ok(())
}

fn audit_action(kind: ActionKind) -> Action {
    match kind {
        ActionKind::Approve => Action::TaskApproved,
        ActionKind::Return => Action::TaskReturned,
        ActionKind::Reject => Action::TaskRejected,
        ActionKind::Comment => Action::TaskCommented,
        ActionKind::Delegate => Action::TaskDelegated,
        ActionKind::RequestOpinion => Action::TaskOpinionRequested,
        ActionKind::InsertReviewer => Action::TaskReviewerInserted,
        ActionKind::Complete => Action::TaskCompleted,
    }
}

/// Acts on a task (as its assignee or as a deputy). With an idempotency key, a retry of the
/// same request answers the first result without acting again.
pub fn act(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    cal: &Calendar,
    task_id: &str,
    req: ActionRequest,
    key: Option<String>,
) -> Result<ActionResult, ApiError> {
    let comment = text("comment", req.comment.as_deref(), 4000)?;
    if !is_uuid(task_id) {
        return Err(ApiError::NotFound("task"));
    }
    let hash = request_hash(task_id, &req);
    db::write_tx(conn, |conn| {
        let now = db::now();
        let first = queries::task(conn, task_id)?.ok_or(ApiError::NotFound("task"))?;
        if let Some(route_id) = &first.route_id {
            db::lock_route(conn, route_id)?;
        }
        // Replays are answered before anything else: the task may be closed by now.
        if let Some(r) = replay(conn, &viewer.id, key.as_deref(), &hash)? {
            return Ok(r);
        }
        // Read again under the lock: another request may have changed it meanwhile.
        let task = queries::task(conn, task_id)?.ok_or(ApiError::NotFound("task"))?;
        let capacity = holder(conn, viewer, &task, now)?;
        let on_behalf_of = capacity.map(|_| task.assignee_id.clone());
        let ctx = AuditContext {
            on_behalf_of: on_behalf_of.clone(),
            ..ctx.clone()
        };
        let target = match req.action {
            ActionKind::Delegate | ActionKind::RequestOpinion | ActionKind::InsertReviewer => {
                let id = req.to_user_id.as_deref().ok_or_else(|| {
                    ApiError::validation("to_user_id", "is required for this action")
                })?;
                Some(active_user(conn, "to_user_id", id)?)
            }
            _ => {
                if req.to_user_id.is_some() {
                    return Err(ApiError::validation(
                        "to_user_id",
                        "is not used by this action",
                    ));
                }
                None
            }
        };
        if req.to_stage.is_some() && req.action != ActionKind::Return {
            return Err(ApiError::validation("to_stage", "is used by return only"));
        }
        if req.action == ActionKind::Delegate {
            // A subordinate: someone of the assignee's unit or of a unit below it.
            let assignee = accounts_q::find_user(conn, &task.assignee_id)?
                .ok_or(ApiError::NotFound("task"))?;
            let units = queries::units_by_id(conn)?;
            let ok = match (&assignee.unit_id, &target) {
                (Some(u), Some(t)) => is_below(&units, u, t.unit_id.as_deref()),
                _ => false,
            };
            if !ok {
                return Err(ApiError::validation(
                    "to_user_id",
                    "a task is delegated to someone of your unit or a unit below it",
                ));
            }
        }
        let doc = crate::documents::queries::find(conn, &task.document_id)?
            .ok_or(ApiError::NotFound("task"))?;
        let result = match &task.route_id {
            Some(route_id) => act_on_route(
                conn,
                viewer,
                cal,
                &task,
                route_id,
                &doc,
                &req,
                comment.as_deref(),
                capacity,
                target.as_ref(),
                now,
            )?,
            None => act_on_incoming(conn, viewer, &task, &req, comment.as_deref(), capacity, now)?,
        };
        record_action(
            conn,
            task.route_id.as_deref(),
            Some(&task.id),
            &viewer.id,
            on_behalf_of.as_deref(),
            capacity,
            req.action.as_str(),
            comment.as_deref(),
            target.as_ref().map(|t| t.id.as_str()),
            key.as_deref(),
            &hash,
            Some(&result),
            now,
        )?;
        audit::record(
            conn,
            &ctx,
            audit_action(req.action),
            "task",
            Some(&task.id),
            json!({
                "document_id": task.document_id, "route_id": task.route_id,
                "comment": comment, "to_user_id": target.as_ref().map(|t| t.id.clone()),
                "to_stage": req.to_stage, "capacity": capacity.map(|c| c.as_str()),
                "assignee_id": task.assignee_id,
            }),
        )?;
        Ok(result)
    })
}

#[allow(clippy::too_many_arguments)]
fn act_on_route(
    conn: &mut DbConn,
    viewer: &Viewer,
    cal: &Calendar,
    task: &TaskRow,
    route_id: &str,
    doc: &DocumentRow,
    req: &ActionRequest,
    comment: Option<&str>,
    capacity: Option<Capacity>,
    target: Option<&UserRow>,
    now: NaiveDateTime,
) -> Result<ActionResult, ApiError> {
    let row = queries::route(conn, route_id)?.ok_or(ApiError::NotFound("task"))?;
    let loaded = load(conn, row)?;
    let mut route = to_engine(&loaded)?;
    let stale = |conn: &mut DbConn, code: ErrorCode, message: String| -> ApiError {
        match route_view(conn, &loaded) {
            Ok(current) => ApiError::Stale {
                code,
                message,
                current: serde_json::to_value(current).unwrap_or_default(),
            },
            Err(e) => e,
        }
    };
    if task.status != "pending" {
        return Err(stale(
            conn,
            ErrorCode::TaskClosed,
            format!(
                "the task is already {}; see the route's current state",
                task.status
            ),
        ));
    }
    let id = task.id.clone();
    let c = comment.unwrap_or_default().to_string();
    let action = match req.action {
        ActionKind::Approve => engine::Action::Approve { task: id },
        ActionKind::Return => engine::Action::Return {
            task: id,
            to: match req.to_stage {
                None => ReturnTarget::Drafter,
                Some(0) => return Err(ApiError::validation("to_stage", "positions start at 1")),
                Some(n) => ReturnTarget::Stage(n as usize - 1),
            },
            comment: c,
        },
        ActionKind::Reject => engine::Action::Reject {
            task: id,
            comment: c,
        },
        ActionKind::Comment => engine::Action::Comment {
            task: id,
            comment: c,
        },
        ActionKind::Delegate => engine::Action::Delegate {
            task: id,
            to: target.map(|t| t.id.clone()).unwrap_or_default(),
        },
        ActionKind::RequestOpinion => engine::Action::RequestOpinion {
            task: id,
            from: target.map(|t| t.id.clone()).unwrap_or_default(),
        },
        ActionKind::InsertReviewer => engine::Action::InsertReviewer {
            task: id,
            reviewer: target.map(|t| t.id.clone()).unwrap_or_default(),
        },
        ActionKind::Complete => {
            return Err(ApiError::Unprocessable {
                code: ErrorCode::ActionNotAllowed,
                message: "complete is for incoming work; approve a route's task".into(),
            })
        }
    };
    let mut ids = new_id;
    let events = match route.apply(action, &mut ids) {
        Ok(ev) => ev,
        Err(
            e @ (EngineError::Finished
            | EngineError::TaskClosed(_)
            | EngineError::UnknownTask
            | EngineError::NotCurrentStage),
        ) => {
            let code = match e {
                EngineError::Finished => ErrorCode::RouteFinished,
                _ => ErrorCode::TaskClosed,
            };
            return Err(stale(conn, code, e.to_string()));
        }
        Err(e) => return Err(engine_error(e)),
    };
    let no_days = HashMap::new();
    let write = Write {
        doc,
        cal,
        now,
        acting: Some(Acting {
            task,
            user: &viewer.id,
            capacity,
            comment,
            delegation: req.action == ActionKind::Delegate,
        }),
        deadline_days: &no_days,
    };
    write.diff(conn, &loaded, &route)?;
    let notices = notices_of(&events, &route, comment);
    notices::send(conn, &doc.id, &viewer.id, &notices, now)?;
    let route_now = current_route(conn, route_id)?;
    let task_now = queries::task(conn, &task.id)?.ok_or(ApiError::NotFound("task"))?;
    let users = people_of(conn, std::slice::from_ref(&task_now))?;
    let stages = queries::stages(conn, route_id)?;
    Ok(ActionResult {
        action: req.action,
        task: task_view(&task_now, &users, &stage_index(&stages), now),
        route: Some(route_now),
        replayed: false,
    })
}

#[allow(clippy::too_many_arguments)]
fn act_on_incoming(
    conn: &mut DbConn,
    viewer: &Viewer,
    task: &TaskRow,
    req: &ActionRequest,
    comment: Option<&str>,
    capacity: Option<Capacity>,
    now: NaiveDateTime,
) -> Result<ActionResult, ApiError> {
    let stale_task = |conn: &mut DbConn| -> ApiError {
        let tasks = queries::task(conn, &task.id)
            .ok()
            .flatten()
            .into_iter()
            .collect::<Vec<_>>();
        let users = people_of(conn, &tasks).unwrap_or_default();
        ApiError::Stale {
            code: ErrorCode::TaskClosed,
            message: format!(
                "the task is already {}",
                tasks.first().map(|t| t.status.as_str()).unwrap_or("closed")
            ),
            current: tasks
                .first()
                .map(|t| {
                    serde_json::to_value(task_view(t, &users, &HashMap::new(), now))
                        .unwrap_or_default()
                })
                .unwrap_or_default(),
        }
    };
    match req.action {
        ActionKind::Complete => {
            let note = comment
                .ok_or_else(|| ApiError::validation("comment", "the result note is required"))?;
            let acting = (viewer.id != task.assignee_id).then(|| viewer.id.clone());
            let n = diesel::update(
                workflow_tasks::table
                    .filter(workflow_tasks::id.eq(&task.id))
                    .filter(workflow_tasks::status.eq("pending"))
                    .filter(workflow_tasks::role.eq_any(["lead", "cooperate"])),
            )
            .set((
                workflow_tasks::status.eq("completed"),
                workflow_tasks::acted_at.eq(Some(now)),
                workflow_tasks::acting_user_id.eq(acting),
                workflow_tasks::capacity.eq(capacity.map(|c| c.as_str())),
                workflow_tasks::result.eq(Some(note)),
            ))
            .execute(conn)?;
            if n != 1 {
                return Err(stale_task(conn));
            }
        }
        ActionKind::Comment => {
            if comment.is_none() {
                return Err(ApiError::validation(
                    "comment",
                    "is required for this action",
                ));
            }
            if task.status != "pending" {
                return Err(stale_task(conn));
            }
        }
        _ => {
            return Err(ApiError::Unprocessable {
                code: ErrorCode::ActionNotAllowed,
                message: "incoming work takes complete (with the result note) or comment".into(),
            })
        }
    }
    let now_task = queries::task(conn, &task.id)?.ok_or(ApiError::NotFound("task"))?;
    let users = people_of(conn, std::slice::from_ref(&now_task))?;
    Ok(ActionResult {
        action: req.action,
        task: task_view(&now_task, &users, &HashMap::new(), now),
        route: None,
        replayed: false,
    })
}

/// The drafter takes the route back before the active stage has decided.
pub fn recall(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    cal: &Calendar,
    document_id: &str,
) -> Result<Route, ApiError> {
    db::write_tx(conn, |conn| {
        let doc = visible_document(conn, viewer, document_id)?;
        let row = queries::latest_route(conn, &doc.id)?.ok_or(ApiError::NotFound("route"))?;
        db::lock_route(conn, &row.id)?;
        let row = queries::route(conn, &row.id)?.ok_or(ApiError::NotFound("route"))?;
        if row.drafter_id != viewer.id {
            return Err(ApiError::Forbidden);
        }
        let loaded = load(conn, row)?;
        let mut route = to_engine(&loaded)?;
        let mut ids = new_id;
        if let Err(e) = route.apply(
            engine::Action::Recall {
                by: viewer.id.clone(),
            },
            &mut ids,
        ) {
            let current = route_view(conn, &loaded)?;
            let code = match e {
                EngineError::Finished => ErrorCode::RouteFinished,
                _ => ErrorCode::RecallRefused,
            };
            return Err(ApiError::Stale {
                code,
                message: engine_error(e).to_string(),
                current: serde_json::to_value(current).map_err(ApiError::internal)?,
            });
        }
        let now = db::now();
        let no_days = HashMap::new();
        let write = Write {
            doc: &doc,
            cal,
            now,
            acting: None,
            deadline_days: &no_days,
        };
        write.diff(conn, &loaded, &route)?;
        record_action(
            conn,
            Some(&loaded.row.id),
            None,
            &viewer.id,
            None,
            None,
            "recall",
            None,
            None,
            None,
            "",
            None,
            now,
        )?;
        audit::record(
            conn,
            ctx,
            Action::RouteRecalled,
            "route",
            Some(&loaded.row.id),
            json!({"document_id": doc.id}),
        )?;
        current_route(conn, &loaded.row.id)
    })
}
