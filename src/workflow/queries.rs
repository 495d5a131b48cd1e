//! Database queries of the workflow domain. Each takes a connection; none opens a transaction.

use super::engine::{RouteStatus, StageKind, StageStatus, TaskStatus};
use super::model::{
    ActionRow, HandleRow, RemoteState, RouteRow, StageRow, SubstitutionRow, TaskRow, TemplateRow,
};
use super::model::{Capacity, TaskKind};
use crate::db::schema::{
    route_templates, substitutions, workflow_actions, workflow_routes, workflow_stages,
    workflow_tasks,
};
use crate::db::DbConn;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::Error as DbError;

/// The route of a task, taken for the rest of the transaction: `SELECT … FOR UPDATE` on
/// PostgreSQL (one statement finds, locks and reads it); on SQLite the immediate write
/// transaction already serialises writers. None when the task does not exist or is not on a
/// route (an incoming paper's). Call inside [`crate::db::write_tx`].
pub fn lock_route_of_task(conn: &mut DbConn, task_id: &str) -> Result<Option<RouteRow>, DbError> {
    // The same query on each backend's own connection (its row type is chosen per backend).
    let query = || {
        let route_of_task = workflow_tasks::table
            .filter(workflow_tasks::id.eq(task_id))
            .select(workflow_tasks::route_id)
            .single_value();
        workflow_routes::table.filter(workflow_routes::id.nullable().eq(route_of_task))
    };
    match conn {
        DbConn::Pg(c) => query()
            .select(RouteRow::as_select())
            .for_update()
            .first(c)
            .optional(),
        DbConn::Sqlite(c) => query().select(RouteRow::as_select()).first(c).optional(),
    }
}

/// A route by id.
pub fn route(conn: &mut DbConn, id: &str) -> Result<Option<RouteRow>, DbError> {
    workflow_routes::table
        .find(id)
        .select(RouteRow::as_select())
        .first(conn)
        .optional()
}

/// The latest route of a document (active or not).
pub fn latest_route(conn: &mut DbConn, document_id: &str) -> Result<Option<RouteRow>, DbError> {
    workflow_routes::table
        .filter(workflow_routes::document_id.eq(document_id))
        .order((
            workflow_routes::created_at.desc(),
            workflow_routes::id.desc(),
        ))
        .select(RouteRow::as_select())
        .first(conn)
        .optional()
}

/// Whether a document has an active route.
pub fn has_active_route(conn: &mut DbConn, document_id: &str) -> Result<bool, DbError> {
    let n: i64 = workflow_routes::table
        .filter(workflow_routes::document_id.eq(document_id))
        .filter(workflow_routes::status.eq(RouteStatus::Active))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Stages of a route in order.
pub fn stages(conn: &mut DbConn, route_id: &str) -> Result<Vec<StageRow>, DbError> {
    workflow_stages::table
        .filter(workflow_stages::route_id.eq(route_id))
        .order(workflow_stages::position.asc())
        .select(StageRow::as_select())
        .load(conn)
}

/// Every task of a route, oldest first.
pub fn route_tasks(conn: &mut DbConn, route_id: &str) -> Result<Vec<TaskRow>, DbError> {
    workflow_tasks::table
        .filter(workflow_tasks::route_id.eq(route_id))
        .order((workflow_tasks::assigned_at.asc(), workflow_tasks::id.asc()))
        .select(TaskRow::as_select())
        .load(conn)
}

/// Incoming-assignment tasks of a document.
pub fn incoming_tasks(conn: &mut DbConn, document_id: &str) -> Result<Vec<TaskRow>, DbError> {
    workflow_tasks::table
        .filter(workflow_tasks::document_id.eq(document_id))
        .filter(workflow_tasks::route_id.is_null())
        .order((workflow_tasks::assigned_at.asc(), workflow_tasks::id.asc()))
        .select(TaskRow::as_select())
        .load(conn)
}

/// A task by id.
pub fn task(conn: &mut DbConn, id: &str) -> Result<Option<TaskRow>, DbError> {
    workflow_tasks::table
        .find(id)
        .select(TaskRow::as_select())
        .first(conn)
        .optional()
}

/// Substitutions naming `deputy_id` in force at `now`.
pub fn substitutions_for_deputy(
    conn: &mut DbConn,
    deputy_id: &str,
    now: NaiveDateTime,
) -> Result<Vec<SubstitutionRow>, DbError> {
    Ok(unended_substitutions_for_deputy(conn, deputy_id, now)?
        .into_iter()
        .filter(|s| s.starts_at <= now)
        .collect())
}

/// Substitutions naming `deputy_id` that have not ended at `now` (not revoked): those in
/// force and those still to begin, oldest first.
pub fn unended_substitutions_for_deputy(
    conn: &mut DbConn,
    deputy_id: &str,
    now: NaiveDateTime,
) -> Result<Vec<SubstitutionRow>, DbError> {
    substitutions::table
        .filter(substitutions::deputy_id.eq(deputy_id))
        .filter(substitutions::ends_at.gt(now))
        .filter(substitutions::revoked_at.is_null())
        .order(substitutions::created_at.asc())
        .select(SubstitutionRow::as_select())
        .load(conn)
}

/// Deputies of `user_id` in force at `now`.
pub fn deputies_of(
    conn: &mut DbConn,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<Vec<SubstitutionRow>, DbError> {
    substitutions::table
        .filter(substitutions::user_id.eq(user_id))
        .filter(substitutions::starts_at.le(now))
        .filter(substitutions::ends_at.gt(now))
        .filter(substitutions::revoked_at.is_null())
        .order(substitutions::created_at.asc())
        .select(SubstitutionRow::as_select())
        .load(conn)
}

/// Every substitution in force at `now`, oldest first (the deadline scanner groups them by user).
pub fn substitutions_in_force(
    conn: &mut DbConn,
    now: NaiveDateTime,
) -> Result<Vec<SubstitutionRow>, DbError> {
    substitutions::table
        .filter(substitutions::starts_at.le(now))
        .filter(substitutions::ends_at.gt(now))
        .filter(substitutions::revoked_at.is_null())
        .order(substitutions::created_at.asc())
        .select(SubstitutionRow::as_select())
        .load(conn)
}

/// Substitutions naming `user_id` as user or deputy (all, when `None`), newest first.
pub fn list_substitutions(
    conn: &mut DbConn,
    user_id: Option<&str>,
) -> Result<Vec<SubstitutionRow>, DbError> {
    let mut q = substitutions::table.into_boxed();
    if let Some(u) = user_id {
        q = q.filter(
            substitutions::user_id
                .eq(u.to_string())
                .or(substitutions::deputy_id.eq(u.to_string())),
        );
    }
    q.order((substitutions::starts_at.desc(), substitutions::id.asc()))
        .select(SubstitutionRow::as_select())
        .load(conn)
}

/// A substitution by id.
pub fn substitution(conn: &mut DbConn, id: &str) -> Result<Option<SubstitutionRow>, DbError> {
    substitutions::table
        .find(id)
        .select(SubstitutionRow::as_select())
        .first(conn)
        .optional()
}

/// A stage's kind and position.
pub type StagePlace = (StageKind, i32);

/// Open tasks assigned to any of `assignees`, each with its stage's kind and position (none
/// for an incoming paper's task).
pub fn open_tasks_of(
    conn: &mut DbConn,
    assignees: &[String],
) -> Result<Vec<(TaskRow, Option<StagePlace>)>, DbError> {
    // One read for the inbox: the stage (same domain) comes with its task.
    workflow_tasks::table
        .left_join(
            workflow_stages::table.on(workflow_stages::id.nullable().eq(workflow_tasks::stage_id)),
        )
        .filter(workflow_tasks::assignee_id.eq_any(assignees))
        .filter(workflow_tasks::status.eq(TaskStatus::Pending))
        .select((
            TaskRow::as_select(),
            (workflow_stages::kind, workflow_stages::position).nullable(),
        ))
        .load(conn)
}

/// A template by id.
pub fn template(conn: &mut DbConn, id: &str) -> Result<Option<TemplateRow>, DbError> {
    route_templates::table
        .find(id)
        .select(TemplateRow::as_select())
        .first(conn)
        .optional()
}

/// Templates, by name.
pub fn templates(conn: &mut DbConn) -> Result<Vec<TemplateRow>, DbError> {
    route_templates::table
        .order((route_templates::name.asc(), route_templates::id.asc()))
        .select(TemplateRow::as_select())
        .load(conn)
}

/// The action a user recorded under an idempotency key.
pub fn action_by_key(
    conn: &mut DbConn,
    user_id: &str,
    key: &str,
) -> Result<Option<ActionRow>, DbError> {
    workflow_actions::table
        .filter(workflow_actions::user_id.eq(user_id))
        .filter(workflow_actions::idempotency_key.eq(key))
        .select(ActionRow::as_select())
        .first(conn)
        .optional()
}

/// Tasks handled in `[from, to)` that count for lateness (they had a deadline and were
/// decided by their holder), optionally of one unit.
pub fn handled_tasks(
    conn: &mut DbConn,
    unit_id: Option<&str>,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<TaskRow>, DbError> {
    let mut q = workflow_tasks::table
        .filter(workflow_tasks::acted_at.ge(from))
        .filter(workflow_tasks::acted_at.lt(to))
        .filter(workflow_tasks::deadline.is_not_null())
        .filter(workflow_tasks::role.eq_any([TaskKind::Approver, TaskKind::Lead]))
        .filter(workflow_tasks::status.eq_any([
            TaskStatus::Approved,
            TaskStatus::Returned,
            TaskStatus::Rejected,
            TaskStatus::Completed,
        ]))
        .into_boxed();
    if let Some(u) = unit_id {
        q = q.filter(workflow_tasks::unit_id.eq(u.to_string()));
    }
    q.select(TaskRow::as_select()).load(conn)
}

// ---- writes (each inside the caller's transaction) ----

/// What acting on a task records on its row.
pub struct TaskAct {
    pub status: TaskStatus,
    pub at: NaiveDateTime,
    /// The deputy who acted, when not the assignee.
    pub acting_user: Option<String>,
    pub capacity: Option<Capacity>,
    pub result: Option<String>,
}

/// Stages by id.
pub fn stages_by_id(conn: &mut DbConn, ids: &[String]) -> Result<Vec<StageRow>, DbError> {
    workflow_stages::table
        .filter(workflow_stages::id.eq_any(ids))
        .select(StageRow::as_select())
        .load(conn)
}

/// Whether an incoming paper already has its lead task.
pub fn has_lead(conn: &mut DbConn, document_id: &str) -> Result<bool, DbError> {
    let n: i64 = workflow_tasks::table
        .filter(workflow_tasks::document_id.eq(document_id))
        .filter(workflow_tasks::role.eq(TaskKind::Lead))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

pub fn insert_route(conn: &mut DbConn, row: &RouteRow) -> Result<(), DbError> {
    diesel::insert_into(workflow_routes::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn insert_stage(conn: &mut DbConn, row: &StageRow) -> Result<(), DbError> {
    diesel::insert_into(workflow_stages::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// A stage moved, changed status or began a new round.
pub fn update_stage(
    conn: &mut DbConn,
    id: &str,
    position: i32,
    status: StageStatus,
    round: i32,
) -> Result<(), DbError> {
    diesel::update(workflow_stages::table.find(id))
        .set((
            workflow_stages::position.eq(position),
            workflow_stages::status.eq(status),
            workflow_stages::round.eq(round),
        ))
        .execute(conn)
        .map(drop)
}

pub fn insert_task(conn: &mut DbConn, row: &TaskRow) -> Result<(), DbError> {
    diesel::insert_into(workflow_tasks::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn set_task_status(conn: &mut DbConn, id: &str, status: TaskStatus) -> Result<(), DbError> {
    diesel::update(workflow_tasks::table.find(id))
        .set(workflow_tasks::status.eq(status))
        .execute(conn)
        .map(drop)
}

/// The acted-on task: its new status, when, by whom, in which capacity, the note.
pub fn record_task_act(conn: &mut DbConn, id: &str, act: &TaskAct) -> Result<(), DbError> {
    diesel::update(workflow_tasks::table.find(id))
        .set((
            workflow_tasks::status.eq(act.status),
            workflow_tasks::acted_at.eq(Some(act.at)),
            workflow_tasks::acting_user_id.eq(act.acting_user.as_deref()),
            workflow_tasks::capacity.eq(act.capacity),
            workflow_tasks::result.eq(act.result.as_deref()),
        ))
        .execute(conn)
        .map(drop)
}

/// Completes an open incoming task (lead or cooperating); answers the rows changed (0: it
/// was no longer open).
pub fn complete_incoming_task(
    conn: &mut DbConn,
    id: &str,
    act: &TaskAct,
) -> Result<usize, DbError> {
    diesel::update(
        workflow_tasks::table
            .filter(workflow_tasks::id.eq(id))
            .filter(workflow_tasks::status.eq(TaskStatus::Pending))
            .filter(workflow_tasks::role.eq_any([TaskKind::Lead, TaskKind::Cooperate])),
    )
    .set((
        workflow_tasks::status.eq(act.status),
        workflow_tasks::acted_at.eq(Some(act.at)),
        workflow_tasks::acting_user_id.eq(act.acting_user.as_deref()),
        workflow_tasks::capacity.eq(act.capacity),
        workflow_tasks::result.eq(act.result.as_deref()),
    ))
    .execute(conn)
}

/// Moves the route on if its version is still the one read; answers the rows changed (0: it
/// moved meanwhile).
pub fn advance_route(
    conn: &mut DbConn,
    before: &RouteRow,
    status: RouteStatus,
    current_stage: i32,
    now: NaiveDateTime,
    finished_at: Option<NaiveDateTime>,
) -> Result<usize, DbError> {
    diesel::update(
        workflow_routes::table
            .filter(workflow_routes::id.eq(&before.id))
            .filter(workflow_routes::version.eq(before.version)),
    )
    .set((
        workflow_routes::status.eq(status),
        workflow_routes::current_stage.eq(current_stage),
        workflow_routes::version.eq(before.version + 1),
        workflow_routes::updated_at.eq(now),
        workflow_routes::finished_at.eq(finished_at),
    ))
    .execute(conn)
}

pub fn insert_action(conn: &mut DbConn, row: &ActionRow) -> Result<(), DbError> {
    diesel::insert_into(workflow_actions::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Records a signature prepared for a token.
pub fn insert_handle(conn: &mut DbConn, row: &HandleRow) -> Result<(), DbError> {
    use crate::db::schema::signing_handles;
    diesel::insert_into(signing_handles::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// A prepared signature by id.
pub fn handle(conn: &mut DbConn, id: &str) -> Result<Option<HandleRow>, DbError> {
    use crate::db::schema::signing_handles;
    signing_handles::table
        .find(id)
        .select(HandleRow::as_select())
        .first(conn)
        .optional()
}

/// Marks a prepared signature used, unless it already is: 1 when this call took it.
pub fn use_handle(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> Result<usize, DbError> {
    use crate::db::schema::signing_handles;
    diesel::update(
        signing_handles::table
            .find(id)
            .filter(signing_handles::used_at.is_null()),
    )
    .set(signing_handles::used_at.eq(Some(at)))
    .execute(conn)
}

/// An open task with a deadline, as the reminder scanner needs it.
pub struct OpenTaskRow {
    pub task_id: String,
    pub document_id: String,
    pub assignee_id: String,
    pub deadline: NaiveDateTime,
    pub unit_id: Option<String>,
    /// The drafter of the task's route (none for an incoming paper's task).
    pub drafter_id: Option<String>,
}

/// Pending tasks with a deadline that ask for an answer (approvers, opinions, incoming leads
/// and cooperating units; not "for information"), earliest deadline first.
pub fn open_tasks_with_deadline(conn: &mut DbConn) -> Result<Vec<OpenTaskRow>, DbError> {
    type Row = (
        String,
        String,
        String,
        NaiveDateTime,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = workflow_tasks::table
        .left_join(
            workflow_routes::table.on(workflow_routes::id.nullable().eq(workflow_tasks::route_id)),
        )
        .filter(workflow_tasks::status.eq(TaskStatus::Pending))
        .filter(workflow_tasks::role.eq_any([
            TaskKind::Approver,
            TaskKind::Opinion,
            TaskKind::Lead,
            TaskKind::Cooperate,
        ]))
        .filter(workflow_tasks::deadline.is_not_null())
        .select((
            workflow_tasks::id,
            workflow_tasks::document_id,
            workflow_tasks::assignee_id,
            workflow_tasks::deadline.assume_not_null(),
            workflow_tasks::unit_id,
            workflow_routes::drafter_id.nullable(),
        ))
        .order(workflow_tasks::deadline.asc())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(task_id, document_id, assignee_id, deadline, unit_id, drafter_id)| OpenTaskRow {
                task_id,
                document_id,
                assignee_id,
                deadline,
                unit_id,
                drafter_id,
            },
        )
        .collect())
}

/// An `approve`, `sign` or `issue` action on a task of a `sign` or `issue` stage.
pub struct SigningStep {
    pub document_id: String,
    pub stage_kind: super::engine::StageKind,
    /// The action's text.
    pub action: String,
    /// The stored answer (JSON of the action's result).
    pub response: Option<String>,
}

/// The signing steps of documents' routes, for the digital-signature report.
pub fn signing_steps(
    conn: &mut DbConn,
    document_ids: &[String],
) -> Result<Vec<SigningStep>, DbError> {
    use super::engine::StageKind;
    let mut out = Vec::new();
    for chunk in document_ids.chunks(1000) {
        let tasks: Vec<(String, String, Option<String>)> = workflow_tasks::table
            .filter(workflow_tasks::document_id.eq_any(chunk))
            .filter(workflow_tasks::stage_id.is_not_null())
            .select((
                workflow_tasks::id,
                workflow_tasks::document_id,
                workflow_tasks::stage_id,
            ))
            .load(conn)?;
        let stage_ids: Vec<String> = tasks.iter().filter_map(|t| t.2.clone()).collect();
        let mut kinds = std::collections::HashMap::new();
        for ids in stage_ids.chunks(1000) {
            for s in stages_by_id(conn, ids)? {
                if matches!(s.kind, StageKind::Sign | StageKind::Issue) {
                    kinds.insert(s.id.clone(), s.kind);
                }
            }
        }
        let by_task: std::collections::HashMap<String, (String, StageKind)> = tasks
            .into_iter()
            .filter_map(|(id, doc, stage)| {
                let kind = *kinds.get(stage.as_deref()?)?;
                Some((id, (doc, kind)))
            })
            .collect();
        let task_ids: Vec<String> = by_task.keys().cloned().collect();
        for ids in task_ids.chunks(1000) {
            let actions: Vec<(Option<String>, String, Option<String>)> = workflow_actions::table
                .filter(workflow_actions::task_id.eq_any(ids))
                .filter(workflow_actions::action.eq_any(["approve", "sign", "issue"]))
                .select((
                    workflow_actions::task_id,
                    workflow_actions::action,
                    workflow_actions::response,
                ))
                .load(conn)?;
            for (task, action, response) in actions {
                if let Some((document_id, stage_kind)) = task.and_then(|t| by_task.get(&t).cloned())
                {
                    out.push(SigningStep {
                        document_id,
                        stage_kind,
                        action,
                        response,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// The caller's remote signature of this task still waiting for its holder, if any.
pub fn pending_remote(
    conn: &mut DbConn,
    task_id: &str,
    user_id: &str,
) -> Result<Option<HandleRow>, DbError> {
    use crate::db::schema::signing_handles as h;
    h::table
        .filter(h::task_id.eq(task_id))
        .filter(h::user_id.eq(user_id))
        .filter(h::remote_state.eq(RemoteState::Pending))
        .filter(h::used_at.is_null())
        .order(h::created_at.desc())
        .select(HandleRow::as_select())
        .first(conn)
        .optional()
}

/// Remote signatures sent to the provider: the transaction to poll, until when, and when the
/// poller looks first.
pub fn set_remote_pending(
    conn: &mut DbConn,
    id: &str,
    transaction: &str,
    expires_at: NaiveDateTime,
    next_poll_at: NaiveDateTime,
) -> Result<usize, DbError> {
    use crate::db::schema::signing_handles as h;
    diesel::update(
        h::table
            .find(id)
            .filter(h::remote_state.eq(RemoteState::Pending)),
    )
    .set((
        h::remote_transaction.eq(Some(transaction)),
        h::expires_at.eq(expires_at),
        h::next_poll_at.eq(Some(next_poll_at)),
    ))
    .execute(conn)
}

/// Ends a pending remote signature: `Done`, or `Failed` with the reason. 1 when it was pending.
pub fn end_remote(
    conn: &mut DbConn,
    id: &str,
    state: RemoteState,
    reason: Option<&str>,
) -> Result<usize, DbError> {
    use crate::db::schema::signing_handles as h;
    diesel::update(
        h::table
            .find(id)
            .filter(h::remote_state.eq(RemoteState::Pending)),
    )
    .set((
        h::remote_state.eq(Some(state)),
        h::remote_reason.eq(reason),
        h::next_poll_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)
}

/// Pending remote signatures due for a look at the provider, oldest due first.
pub fn due_remote(
    conn: &mut DbConn,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<HandleRow>, DbError> {
    use crate::db::schema::signing_handles as h;
    h::table
        .filter(h::remote_state.eq(RemoteState::Pending))
        .filter(h::next_poll_at.le(now))
        .order(h::next_poll_at.asc())
        .limit(limit)
        .select(HandleRow::as_select())
        .load(conn)
}

/// Takes a due row for this poller by moving its next look from `seen` to `next`: 1 when this
/// call took it, 0 when another poller did first.
pub fn claim_remote(
    conn: &mut DbConn,
    id: &str,
    seen: NaiveDateTime,
    next: NaiveDateTime,
) -> Result<usize, DbError> {
    use crate::db::schema::signing_handles as h;
    diesel::update(
        h::table
            .find(id)
            .filter(h::remote_state.eq(RemoteState::Pending))
            .filter(h::next_poll_at.eq(seen)),
    )
    .set(h::next_poll_at.eq(Some(next)))
    .execute(conn)
}

/// The remote signatures of these tasks that are pending or failed, newest first.
pub fn remote_of_tasks(conn: &mut DbConn, task_ids: &[String]) -> Result<Vec<HandleRow>, DbError> {
    use crate::db::schema::signing_handles as h;
    if task_ids.is_empty() {
        return Ok(Vec::new());
    }
    h::table
        .filter(h::task_id.eq_any(task_ids))
        .filter(h::remote_state.eq_any([RemoteState::Pending, RemoteState::Failed]))
        .order(h::created_at.desc())
        .select(HandleRow::as_select())
        .load(conn)
}
