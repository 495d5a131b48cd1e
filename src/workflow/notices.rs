//! The one place the workflow tells people: what happened on a route or an assignment
//! becomes `NewNotification`s, written through `crate::notify::enqueue` inside the
//! transaction of the action that caused them (so a rolled-back action tells nobody).

use super::model::TaskRow;
use super::queries;
use crate::db::DbConn;
use crate::error::ApiError;
use crate::notify::{self, NewNotification, NotificationKind};
use chrono::NaiveDateTime;

/// Something that happened that someone must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A task was opened for `assignee` (their deputies in force hear too).
    Assigned { task_id: String, assignee: String },
    /// The route went back; the drafter hears why.
    Returned { drafter: String, comment: String },
    /// The route was refused; the drafter hears why.
    Rejected { drafter: String, comment: String },
    /// Every stage done.
    Finished { drafter: String },
    /// A `sign` stage's signer signed the document.
    Signed { drafter: String },
    /// The document was issued: the drafter gets the issued PDF.
    Issued { drafter: String },
    /// An incoming paper was assigned: the lead, the cooperating and the informed units' heads.
    Incoming {
        task_id: String,
        recipient: String,
        deadline: Option<NaiveDateTime>,
        comment: Option<String>,
    },
}

/// Writes the notifications of `notices` about `document_id`, caused by `actor`. `written`
/// holds tasks as the caller just wrote them (an assigned task's deadline is taken from there
/// rather than read again).
pub fn send(
    conn: &mut DbConn,
    document_id: &str,
    actor: &str,
    notices: &[Notice],
    written: &[TaskRow],
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    for n in notices {
        let base = |kind, recipient: &str| NewNotification {
            kind,
            recipient_id: recipient.to_string(),
            document_id: Some(document_id.to_string()),
            task_id: None,
            actor_id: Some(actor.to_string()),
            comment: None,
            deadline: None,
        };
        match n {
            Notice::Assigned { task_id, assignee } => {
                let deadline = match written.iter().find(|t| &t.id == task_id) {
                    Some(t) => t.deadline,
                    None => queries::task(conn, task_id)?.and_then(|t| t.deadline),
                };
                let mut recipients = vec![assignee.clone()];
                recipients.extend(
                    queries::deputies_of(conn, assignee, now)?
                        .into_iter()
                        .map(|s| s.deputy_id),
                );
                recipients.dedup();
                for r in recipients {
                    let mut note = base(NotificationKind::TaskAssigned, &r);
                    note.task_id = Some(task_id.clone());
                    note.deadline = deadline;
                    notify::enqueue(conn, &note)?;
                }
            }
            Notice::Returned { drafter, comment } => {
                let mut note = base(NotificationKind::Returned, drafter);
                note.comment = Some(comment.clone());
                notify::enqueue(conn, &note)?;
            }
            Notice::Rejected { drafter, comment } => {
                let mut note = base(NotificationKind::Rejected, drafter);
                note.comment = Some(comment.clone());
                notify::enqueue(conn, &note)?;
            }
            Notice::Finished { drafter } => {
                notify::enqueue(conn, &base(NotificationKind::RouteFinished, drafter))?;
            }
            Notice::Signed { drafter } => {
                notify::enqueue(conn, &base(NotificationKind::DocumentSigned, drafter))?;
            }
            Notice::Issued { drafter } => {
                notify::enqueue(conn, &base(NotificationKind::DocumentIssued, drafter))?;
                issued_to_recipients(conn, document_id, actor, drafter)?;
            }
            Notice::Incoming {
                task_id,
                recipient,
                deadline,
                comment,
            } => {
                let mut note = base(NotificationKind::IncomingAssigned, recipient);
                note.task_id = Some(task_id.clone());
                note.deadline = *deadline;
                note.comment = comment.clone();
                notify::enqueue(conn, &note)?;
            }
        }
    }
    Ok(())
}

/// The issued PDF to every address of the document's recipients list (nơi nhận), once each and
/// not again to the drafter's own address; entries without an address are the clerk's to
/// dispatch by other means.
fn issued_to_recipients(
    conn: &mut DbConn,
    document_id: &str,
    actor: &str,
    drafter: &str,
) -> Result<(), ApiError> {
    let Some(doc) = crate::documents::queries::find(conn, document_id)? else {
        return Ok(());
    };
    let entries: Vec<String> = serde_json::from_str(&doc.recipients).map_err(ApiError::internal)?;
    let mut sent: std::collections::HashSet<String> =
        crate::accounts::queries::find_user(conn, drafter)?
            .map(|u| u.email.to_lowercase())
            .into_iter()
            .collect();
    for entry in &entries {
        let Some((name, email)) = notify::model::recipient_address(entry) else {
            continue;
        };
        if !sent.insert(email.to_lowercase()) {
            continue;
        }
        notify::service::enqueue_external_issued(
            conn,
            &notify::service::ExternalIssued {
                email,
                name,
                document_id: document_id.to_string(),
                actor_id: Some(actor.to_string()),
            },
        )?;
    }
    Ok(())
}
