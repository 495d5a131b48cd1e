//! The inbox: a user's open tasks and those they hold as a deputy, most urgent first.

use super::super::engine::StageKind;
use super::super::model::*;
use super::super::queries;
use super::view::{people_of, person, shown_place, task_view};
use crate::db::{self, DbConn};
use crate::documents::access::Viewer;
use crate::documents::model::Urgency;
use crate::error::ApiError;
use std::cmp::Ordering;
use std::collections::HashMap;

/// The viewer's open tasks and those they hold as a deputy: most urgent first, then by
/// deadline (none last), then oldest.
pub fn inbox(conn: &mut DbConn, viewer: &Viewer) -> Result<Vec<InboxItem>, ApiError> {
    let now = db::now();
    let subs = queries::substitutions_for_deputy(conn, &viewer.id, now)?;
    let mut holders = vec![viewer.id.clone()];
    holders.extend(subs.iter().map(|s| s.user_id.clone()));
    let (tasks, stages): (Vec<TaskRow>, Vec<_>) =
        queries::open_tasks_of(conn, &holders)?.into_iter().unzip();
    let index: HashMap<String, (StageKind, i32)> = tasks
        .iter()
        .zip(stages)
        .filter_map(|(t, s)| Some((t.stage_id.clone()?, shown_place(s?))))
        .collect();
    let users = people_of(conn, &tasks)?;
    let doc_ids: Vec<String> = tasks.iter().map(|t| t.document_id.clone()).collect();
    let docs = crate::documents::queries::by_ids(conn, &doc_ids)?;
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
                capacity: sub.map(|s| s.capacity),
            }
        })
        .collect();
    let mut tasks: Vec<&mut Task> = items.iter_mut().map(|i| &mut i.task).collect();
    super::remote::attach(conn, &mut tasks)?;
    items.sort_by(by_urgency_then_deadline);
    Ok(items)
}

/// Most urgent first, then by deadline (none last), then oldest.
fn by_urgency_then_deadline(a: &InboxItem, b: &InboxItem) -> Ordering {
    let rank = |u: Urgency| match u {
        Urgency::Flash => 0,
        Urgency::VeryUrgent => 1,
        Urgency::Urgent => 2,
        Urgency::Normal => 3,
    };
    rank(a.task.urgency)
        .cmp(&rank(b.task.urgency))
        .then_with(|| match (a.task.deadline, b.task.deadline) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
        .then_with(|| a.task.assigned_at.cmp(&b.task.assigned_at))
}
