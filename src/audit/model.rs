//! Audit rows and the context (who, for whom, from where) every change is recorded with.

use crate::db::schema::{audit_events, audit_pending};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

/// Who is acting, for whom, and from which address.
#[derive(Debug, Clone, Default)]
pub struct AuditContext {
    /// The user doing it; `None` for the system itself (bootstrap, CLI).
    pub actor_id: Option<String>,
    /// The user the actor stands in for (substitution), when any.
    pub on_behalf_of: Option<String>,
    /// Client address of the request, when any.
    pub client_ip: Option<String>,
}

impl AuditContext {
    /// The system acting on its own (first start, command line).
    pub fn system() -> Self {
        AuditContext::default()
    }
}

/// What happened. The string forms are stored and must never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    LoginSucceeded,
    LoginFailed,
    LoginRefused,
    Logout,
    UnitCreated,
    UnitUpdated,
    UserCreated,
    /// `docflow dev seed` wrote a test office (one event for the whole seed).
    DevSeeded,
    UserUpdated,
    UserPasswordChanged,
    DocumentTypeCreated,
    RegisterCreated,
    RegisterUpdated,
    RegisterReportExported,
    RegisterViewed,
    RegistersListed,
    DocumentCreated,
    DocumentViewed,
    DocumentsListed,
    DocumentFileDownloaded,
    DocumentVersionAdded,
    DocumentAttachmentAdded,
    DocumentAttachmentDownloaded,
    DocumentSignaturesVerified,
    DocumentRegistered,
    DocumentAcknowledged,
    DocumentReturned,
    DocumentGrantsViewed,
    DocumentGrantAdded,
    DocumentGrantRemoved,
    RouteStarted,
    RouteViewed,
    RouteRecalled,
    TaskApproved,
    TaskReturned,
    TaskRejected,
    TaskCommented,
    TaskDelegated,
    TaskOpinionRequested,
    TaskReviewerInserted,
    TaskCompleted,
    IncomingAssigned,
    RouteTemplateCreated,
    RouteTemplateUpdated,
    SubstitutionCreated,
    SubstitutionRevoked,
    LatenessReportViewed,
    NotificationRetried,
    NotificationPreferencesUpdated,
    NotificationClockSet,
    SigningCredentialAdded,
    SigningCredentialIssued,
    SigningCredentialDeleted,
    SigningCredentialLocked,
    SigningCredentialPinChanged,
    SealSet,
    SignatureImageSet,
    TaskSigned,
    TaskIssued,
}

impl Action {
    /// Stored name of the action.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::LoginSucceeded => "auth.login",
            Action::LoginFailed => "auth.login_failed",
            Action::LoginRefused => "auth.login_refused",
            Action::Logout => "auth.logout",
            Action::UnitCreated => "unit.created",
            Action::UnitUpdated => "unit.updated",
            Action::UserCreated => "user.created",
            Action::DevSeeded => "dev.seeded",
            Action::UserUpdated => "user.updated",
            Action::UserPasswordChanged => "user.password_changed",
            Action::DocumentTypeCreated => "document_type.created",
            Action::RegisterCreated => "register.created",
            Action::RegisterUpdated => "register.updated",
            Action::RegisterReportExported => "register.report_exported",
            Action::RegisterViewed => "register.viewed",
            Action::RegistersListed => "register.listed",
            Action::DocumentCreated => "document.created",
            Action::DocumentViewed => "document.viewed",
            Action::DocumentsListed => "document.listed",
            Action::DocumentFileDownloaded => "document.file_downloaded",
            Action::DocumentVersionAdded => "document.version_added",
            Action::DocumentAttachmentAdded => "document.attachment_added",
            Action::DocumentAttachmentDownloaded => "document.attachment_downloaded",
            Action::DocumentSignaturesVerified => "document.signatures_verified",
            Action::DocumentRegistered => "document.registered",
            Action::DocumentAcknowledged => "document.acknowledged",
            Action::DocumentReturned => "document.returned",
            Action::DocumentGrantsViewed => "document.grants_viewed",
            Action::DocumentGrantAdded => "document.grant_added",
            Action::DocumentGrantRemoved => "document.grant_removed",
            Action::RouteStarted => "route.started",
            Action::RouteViewed => "route.viewed",
            Action::RouteRecalled => "route.recalled",
            Action::TaskApproved => "task.approved",
            Action::TaskSigned => "task.signed",
            Action::TaskIssued => "task.issued",
            Action::TaskReturned => "task.returned",
            Action::TaskRejected => "task.rejected",
            Action::TaskCommented => "task.commented",
            Action::TaskDelegated => "task.delegated",
            Action::TaskOpinionRequested => "task.opinion_requested",
            Action::TaskReviewerInserted => "task.reviewer_inserted",
            Action::TaskCompleted => "task.completed",
            Action::IncomingAssigned => "document.assigned",
            Action::RouteTemplateCreated => "route_template.created",
            Action::RouteTemplateUpdated => "route_template.updated",
            Action::SubstitutionCreated => "substitution.created",
            Action::SubstitutionRevoked => "substitution.revoked",
            Action::LatenessReportViewed => "report.lateness_viewed",
            Action::NotificationRetried => "notification.retried",
            Action::NotificationPreferencesUpdated => "notification.preferences_updated",
            Action::NotificationClockSet => "notification.clock_set",
            Action::SigningCredentialAdded => "signing_credential.added",
            Action::SigningCredentialIssued => "signing_credential.issued",
            Action::SigningCredentialDeleted => "signing_credential.deleted",
            Action::SigningCredentialLocked => "signing_credential.locked",
            Action::SigningCredentialPinChanged => "signing_credential.pin_changed",
            Action::SealSet => "unit.seal_set",
            Action::SignatureImageSet => "signature_image.set",
        }
    }
}

/// A stored audit row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// When it happened (UTC).
    #[serde(with = "crate::datetime::z")]
    pub occurred_at: NaiveDateTime,
    /// Who did it (user id), or none for the system.
    pub actor_id: Option<String>,
    /// For whom the actor acted (substitution).
    pub on_behalf_of: Option<String>,
    /// What happened, e.g. `user.created`.
    pub action: String,
    /// Kind of object, e.g. `user`.
    pub object_type: String,
    /// Which object.
    pub object_id: Option<String>,
    /// Client address.
    pub client_ip: Option<String>,
    /// JSON details of the change.
    pub details: String,
    /// Hash of the previous row (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and this row's canonical content.
    pub hash: String,
}

/// An event written by a change on PostgreSQL, waiting for the chainer to give it its place
/// (`seq`) and hash (`service::chain_pending`).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_pending)]
pub struct PendingEvent {
    pub id: i64,
    #[diesel(embed)]
    pub event: NewPendingEvent,
}

/// What an event says before its place in the chain is known: a new [`PendingEvent`] (its id
/// comes from the database), or on SQLite the fields of the event appended at once.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_pending)]
pub struct NewPendingEvent {
    pub occurred_at: NaiveDateTime,
    pub actor_id: Option<String>,
    pub on_behalf_of: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub client_ip: Option<String>,
    pub details: String,
}
