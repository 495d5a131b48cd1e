//! Views: a stored route, its stages and tasks as the API shows them.

use super::super::engine::{RouteStatus, StageKind, TaskStatus};
use super::super::model::*;
use super::super::queries;
use super::persist::{load, Loaded};
use crate::accounts::model::UserRow;
use crate::audit::{self, Action, AuditContext};
use crate::db::{self, DbConn};
use crate::documents::access::Viewer;
use crate::documents::service::visible_document;
use crate::error::ApiError;
use chrono::NaiveDateTime;
use serde_json::json;
use std::collections::HashMap;

pub(in crate::workflow) fn person(users: &HashMap<String, UserRow>, id: &str) -> PersonRef {
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

pub(in crate::workflow) fn people_of(
    conn: &mut DbConn,
    tasks: &[TaskRow],
) -> Result<HashMap<String, UserRow>, ApiError> {
    let mut ids: Vec<String> = tasks.iter().map(|t| t.assignee_id.clone()).collect();
    ids.extend(tasks.iter().filter_map(|t| t.acting_user_id.clone()));
    ids.sort();
    ids.dedup();
    Ok(crate::accounts::queries::users_by_id(conn, &ids)?)
}

pub(in crate::workflow) fn task_view(
    t: &TaskRow,
    users: &HashMap<String, UserRow>,
    stages: &HashMap<String, (StageKind, i32)>,
    now: NaiveDateTime,
) -> Task {
    let status = t.status;
    let capacity = t.capacity;
    let stage = t.stage_id.as_ref().and_then(|s| stages.get(s)).copied();
    Task {
        id: TaskId(t.id.clone()),
        document_id: t.document_id.clone(),
        route_id: t.route_id.clone().map(RouteId),
        stage_kind: stage.map(|s| s.0),
        stage_position: stage.map(|s| s.1),
        round: t.round,
        role: t.role,
        status,
        assignee: person(users, &t.assignee_id),
        acting_user: t.acting_user_id.as_deref().map(|a| person(users, a)),
        capacity,
        capacity_label: capacity.map(|c| c.label().to_string()),
        unit_id: t.unit_id.clone(),
        urgency: t.urgency,
        deadline: t.deadline,
        overdue: status == TaskStatus::Pending && t.deadline.is_some_and(|d| d < now),
        assigned_at: t.assigned_at,
        acted_at: t.acted_at,
        result: t.result.clone(),
        delegated_from: t.delegated_from.clone().map(TaskId),
        signing: None,
    }
}

pub(super) fn stage_index(stages: &[StageRow]) -> HashMap<String, (StageKind, i32)> {
    stages
        .iter()
        .map(|s| (s.id.clone(), shown_place((s.kind, s.position))))
        .collect()
}

/// A stage's kind and its position as the API shows it (from 1; stored from 0).
pub(super) fn shown_place((kind, position): queries::StagePlace) -> (StageKind, i32) {
    (kind, position + 1)
}

pub(super) fn route_view(conn: &mut DbConn, l: &Loaded) -> Result<Route, ApiError> {
    let users = people_of(conn, &l.tasks)?;
    route_view_with(conn, l, &users)
}

/// [`route_view`] with the people of the route's tasks already read ([`people_of`]).
pub(super) fn route_view_with(
    conn: &mut DbConn,
    l: &Loaded,
    users: &HashMap<String, UserRow>,
) -> Result<Route, ApiError> {
    let index = stage_index(&l.stages);
    let now = db::now();
    let stages = l
        .stages
        .iter()
        .map(|s| {
            Ok(Stage {
                position: s.position + 1,
                kind: s.kind,
                policy: s.policy,
                quorum: s.quorum,
                status: s.status,
                round: s.round,
                deadline_days: s.deadline_days,
                signing: stage_signing(s)?,
                tasks: l
                    .tasks
                    .iter()
                    .filter(|t| t.stage_id.as_deref() == Some(s.id.as_str()))
                    .map(|t| task_view(t, users, &index, now))
                    .collect(),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let mut stages = stages;
    let mut tasks: Vec<&mut Task> = stages.iter_mut().flat_map(|s| s.tasks.iter_mut()).collect();
    super::remote::attach(conn, &mut tasks)?;
    Ok(Route {
        id: RouteId(l.row.id.clone()),
        document_id: l.row.document_id.clone(),
        template_id: l.row.template_id.clone().map(TemplateId),
        drafter_id: l.row.drafter_id.clone(),
        status: l.row.status,
        current_stage: l.row.current_stage + 1,
        version: l.row.version,
        created_at: l.row.created_at,
        updated_at: l.row.updated_at,
        finished_at: l.row.finished_at,
        deadline: l.row.deadline,
        overdue: l.row.status == RouteStatus::Active && l.row.deadline.is_some_and(|d| d < now),
        stages,
    })
}

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
    if doc.confidentiality.is_classified() {
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

/// The stored signing settings of a stage.
pub(super) fn stage_signing(s: &StageRow) -> Result<StageSigning, ApiError> {
    serde_json::from_str(&s.signing).map_err(|_| super::support::corrupt("stage signing settings"))
}
