//! The inbox: a user's open tasks and those they hold as a deputy, most urgent first.

use super::super::engine::StageKind;
use super::super::model::*;
use super::super::queries;
use super::view::{people_of, person, shown_place, task_view};
use crate::cache::Deps;
use crate::db::{self, DbConn};
use crate::documents::access::Viewer;
use crate::documents::model::Urgency;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::web::Bytes;
use std::cmp::Ordering;
use std::collections::HashMap;

/// The viewer's inbox as JSON, from this node's cache when it may serve it
/// (`crate::cache`; then `true`), else read and kept.
pub async fn inbox_json(state: &AppState, viewer: Viewer) -> Result<(Bytes, bool), ApiError> {
    let cache = &state.cache.inboxes;
    if let Some(json) = cache.get(&viewer.id, db::now()) {
        return Ok((json, true));
    }
    let ticket = cache.ticket();
    let id = viewer.id.clone();
    let (items, deps) = state.db(move |conn| inbox_and_deps(conn, &viewer)).await?;
    let json = Bytes::from(serde_json::to_vec(&items).map_err(ApiError::internal)?);
    cache.put(ticket, &id, json.clone(), deps);
    Ok((json, false))
}

/// The viewer's open tasks and those they hold as a deputy: most urgent first, then by
/// deadline (none last), then oldest.
pub fn inbox(conn: &mut DbConn, viewer: &Viewer) -> Result<Vec<InboxItem>, ApiError> {
    Ok(inbox_and_deps(conn, viewer)?.0)
}

/// [`inbox`], and what it depends on: the people and documents it shows, and the moment it
/// stops being true by itself (a deadline passes, a deputy's term starts or ends).
fn inbox_and_deps(conn: &mut DbConn, viewer: &Viewer) -> Result<(Vec<InboxItem>, Deps), ApiError> {
    let now = db::now();
    let mut deps = Deps::new(now);
    deps.person(&viewer.id);
    // One read: the terms in force now, and those still to begin (when one begins, the
    // inbox changes).
    let (subs, later): (Vec<_>, Vec<_>) =
        queries::unended_substitutions_for_deputy(conn, &viewer.id, now)?
            .into_iter()
            .partition(|s| s.starts_at <= now);
    for s in &later {
        deps.until(s.starts_at);
    }
    for s in &subs {
        deps.person(&s.user_id);
        deps.until(s.ends_at);
    }
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
    for id in users.keys() {
        deps.person(id);
    }
    for t in items.iter().map(|i| &i.task) {
        deps.document(&t.document_id);
        if let Some(d) = t.deadline.filter(|d| *d >= now) {
            // `overdue` turns true once the deadline is behind.
            deps.until(d);
        }
    }
    Ok((items, deps))
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
