//! Notifications (issue 6). Only the seam the workflow writes through lives on this branch.
// placeholder: replaced by the notify module at merge

/// Why someone is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    TaskAssigned,
    TaskReminder,
    TaskOverdue,
    TaskEscalated,
    Returned,
    Rejected,
    RouteFinished,
    DocumentSigned,
    DocumentIssued,
    IncomingAssigned,
}

/// A notification to write in the caller's transaction.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub kind: NotificationKind,
    /// users.id
    pub recipient_id: String,
    pub document_id: Option<String>,
    pub task_id: Option<String>,
    /// Who caused it.
    pub actor_id: Option<String>,
    pub comment: Option<String>,
    pub deadline: Option<chrono::NaiveDateTime>,
}

/// Queues a notification inside the caller's transaction.
pub fn enqueue(
    _conn: &mut crate::db::DbConn,
    _n: &NewNotification,
) -> Result<(), crate::error::ApiError> {
    // placeholder: replaced by the notify module at merge
    Ok(())
}
