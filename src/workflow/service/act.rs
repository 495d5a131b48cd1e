//! Acting on a task: a route's task through the engine, an incoming paper's directly; the
//! action row (with its idempotency key and answer) and the audit event in the same
//! transaction.

use super::super::calendar::Calendar;
use super::super::engine::{self, EngineError, ReturnTarget, TaskStatus};
use super::super::model::*;
use super::super::notices;
use super::super::queries::{self, TaskAct};
use super::persist::{load, notices_of, to_engine, Acting, Loaded, Write};
use super::sign::{SignKit, SignatureOutcome};
use super::support::{active_user, corrupt, engine_error, is_uuid, new_id, text};
use super::view::{people_of, route_view, route_view_with, stage_index, task_view};
use crate::accounts::model::UserRow;
use crate::accounts::queries as accounts_q;
use crate::audit::{self, Action, AuditContext};
use crate::db::{self, DbConn};
use crate::documents::access::Viewer;
use crate::documents::model::DocumentRow;
use crate::error::{ApiError, ErrorCode};
use chrono::NaiveDateTime;
use serde_json::json;
use std::collections::HashMap;

/// Everything one action on one task is about, read under the route lock.
pub(super) struct Step<'a> {
    pub(super) viewer: &'a Viewer,
    pub(super) cal: &'a Calendar,
    pub(super) task: &'a TaskRow,
    pub(super) doc: &'a DocumentRow,
    pub(super) req: &'a ActionRequest,
    pub(super) comment: Option<&'a str>,
    /// Set when a deputy acts for the assignee.
    pub(super) capacity: Option<Capacity>,
    /// The user a delegation, opinion request or inserted review goes to.
    pub(super) target: Option<&'a UserRow>,
    /// `sign` / `issue`: the credential unlocked for it.
    pub(super) kit: Option<&'a SignKit>,
    pub(super) now: NaiveDateTime,
}

/// One action's request as the handler passes it on.
pub struct ActInput<'a> {
    pub req: ActionRequest,
    /// The `Idempotency-Key`.
    pub key: Option<String>,
    /// `sign` / `issue`: the unlocked credential.
    pub kit: Option<&'a SignKit>,
}

/// Acts on a task (as its assignee or as a deputy). With an idempotency key, a retry of the
/// same request answers the first result without acting again. `sign` and `issue` need the
/// `kit` unlocked by [`super::sign::unlock_for`].
pub fn act(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    cal: &Calendar,
    task_id: &str,
    input: ActInput,
) -> Result<ActionResult, ApiError> {
    let ActInput { req, key, kit } = input;
    let comment = text("comment", req.comment.as_deref(), 4000)?;
    if !is_uuid(task_id) {
        return Err(ApiError::NotFound("task"));
    }
    let hash = request_hash(task_id, &req);
    db::write_tx(conn, |conn| {
        let now = db::now();
        // A route's task is read with its route, after the route is taken: another request
        // may have changed it until then.
        let route = queries::lock_route_of_task(conn, task_id)?;
        let loaded = route.map(|row| load(conn, row)).transpose()?;
        let task = match &loaded {
            Some(l) => l.tasks.iter().find(|t| t.id == task_id).cloned(),
            None => queries::task(conn, task_id)?,
        }
        .ok_or(ApiError::NotFound("task"))?;
        // Replays are answered before anything else: the task may be closed by now.
        if let Some(r) = replay(conn, &viewer.id, key.as_deref(), &hash)? {
            return Ok(r);
        }
        let capacity = holder(conn, viewer, &task, now)?;
        let target = action_target(conn, &req, &task)?;
        let doc = crate::documents::queries::find(conn, &task.document_id)?
            .ok_or(ApiError::NotFound("task"))?;
        let step = Step {
            viewer,
            cal,
            task: &task,
            doc: &doc,
            req: &req,
            comment: comment.as_deref(),
            capacity,
            target: target.as_ref(),
            kit,
            now,
        };
        let result = match loaded {
            Some(loaded) => act_on_route(conn, &step, loaded)?,
            None if task.route_id.is_none() => act_on_incoming(conn, &step)?,
            // The route was not found by the task's own route id: no such route.
            None => return Err(ApiError::NotFound("task")),
        };
        let on_behalf_of = capacity.map(|_| task.assignee_id.as_str());
        let record = ActionRecord {
            route_id: task.route_id.as_deref(),
            task_id: Some(&task.id),
            user: &viewer.id,
            on_behalf_of,
            capacity,
            action: req.action.as_str(),
            comment: comment.as_deref(),
            target: target.as_ref().map(|t| t.id.as_str()),
            key: key.as_deref(),
            hash: &hash,
            response: Some(&result),
            now,
        };
        record_action(conn, &record)?;
        audit_step(conn, ctx, &step, on_behalf_of, result.signature.as_ref())?;
        Ok(result)
    })
}

/// The audit event of an action, naming the assignee a deputy acted for.
fn audit_step(
    conn: &mut DbConn,
    ctx: &AuditContext,
    step: &Step,
    on_behalf_of: Option<&str>,
    signature: Option<&SignatureOutcome>,
) -> Result<(), ApiError> {
    let ctx = AuditContext {
        on_behalf_of: on_behalf_of.map(str::to_string),
        ..ctx.clone()
    };
    let task = step.task;
    audit::record(
        conn,
        &ctx,
        audit_action(step.req.action),
        "task",
        Some(&task.id),
        json!({
            "document_id": task.document_id, "route_id": task.route_id,
            "comment": step.comment, "to_user_id": step.target.map(|t| t.id.clone()),
            "to_stage": step.req.to_stage, "capacity": step.capacity.map(|c| c.as_str()),
            "assignee_id": task.assignee_id, "signature": signature,
        }),
    )?;
    Ok(())
}

/// The user an action goes to (delegate, request an opinion, insert a reviewer): required
/// there, refused elsewhere; a delegation goes down the assignee's units only.
fn action_target(
    conn: &mut DbConn,
    req: &ActionRequest,
    task: &TaskRow,
) -> Result<Option<UserRow>, ApiError> {
    let target = match req.action {
        ActionKind::Delegate | ActionKind::RequestOpinion | ActionKind::InsertReviewer => {
            let id = req
                .to_user_id
                .as_deref()
                .ok_or_else(|| ApiError::validation("to_user_id", "is required for this action"))?;
            Some(active_user(conn, "to_user_id", id)?)
        }
        _ if req.to_user_id.is_some() => {
            return Err(ApiError::validation(
                "to_user_id",
                "is not used by this action",
            ))
        }
        _ => None,
    };
    if req.to_stage.is_some() && req.action != ActionKind::Return {
        return Err(ApiError::validation("to_stage", "is used by return only"));
    }
    if req.action == ActionKind::Delegate {
        // A subordinate: someone of the assignee's unit or of a unit below it.
        let assignee =
            accounts_q::find_user(conn, &task.assignee_id)?.ok_or(ApiError::NotFound("task"))?;
        let units = accounts_q::units_by_id(conn)?;
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
    Ok(target)
}

/// Who is acting on a task: the assignee, or a deputy in force now (with the capacity).
pub(super) fn holder(
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
        Some(s) => Ok(Some(s.capacity)),
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

/// The stored answer of an earlier request with this `Idempotency-Key`, if any: a `sign` /
/// `issue` retry is answered from it before any PIN is asked for again.
pub fn replayed(
    conn: &mut DbConn,
    viewer: &Viewer,
    task_id: &str,
    req: &ActionRequest,
    key: Option<&str>,
) -> Result<Option<ActionResult>, ApiError> {
    replay(conn, &viewer.id, key, &request_hash(task_id, req))
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
        ActionKind::Sign => Action::TaskSigned,
        ActionKind::Issue => Action::TaskIssued,
    }
}

/// A route's task: the engine decides, the difference is written, notices go out.
fn act_on_route(conn: &mut DbConn, step: &Step, loaded: Loaded) -> Result<ActionResult, ApiError> {
    let mut route = to_engine(&loaded)?;
    let task = step.task;
    if task.status != TaskStatus::Pending {
        let message = format!(
            "the task is already {}; see the route's current state",
            task.status
        );
        return Err(stale_route(conn, &loaded, ErrorCode::TaskClosed, message));
    }
    let signature = super::sign::before_approval(conn, step, &loaded)?;
    let action = engine_action(step)?;
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
            return Err(stale_route(conn, &loaded, code, e.to_string()));
        }
        Err(e) => return Err(engine_error(e)),
    };
    let no_stages = HashMap::new();
    let write = Write {
        doc: step.doc,
        cal: step.cal,
        now: step.now,
        acting: Some(Acting {
            task,
            user: &step.viewer.id,
            capacity: step.capacity,
            comment: step.comment,
            delegation: step.req.action == ActionKind::Delegate,
        }),
        new_stages: &no_stages,
    };
    let written = write.diff(conn, &loaded, &route)?;
    let (loaded_now, users) = (&written.route, &written.people);
    let mut notices = notices_of(&events, &route, step.comment);
    let drafter = loaded.row.drafter_id.clone();
    match step.req.action {
        ActionKind::Sign => notices.push(notices::Notice::Signed { drafter }),
        ActionKind::Issue => notices.push(notices::Notice::Issued { drafter }),
        _ => {}
    }
    notices::send(
        conn,
        &step.doc.id,
        &step.viewer.id,
        &notices,
        &loaded_now.tasks,
        step.now,
    )?;
    // The answer: the route and the task as they now stand (as written, not read again).
    let route_now = route_view_with(conn, loaded_now, users)?;
    let task_now = match loaded_now.tasks.iter().find(|t| t.id == task.id) {
        Some(t) => t.clone(),
        None => queries::task(conn, &task.id)?.ok_or(ApiError::NotFound("task"))?,
    };
    Ok(ActionResult {
        action: step.req.action,
        task: task_view(&task_now, users, &stage_index(&loaded_now.stages), step.now),
        route: Some(route_now),
        signature,
        replayed: false,
    })
}

/// A 409 that carries the route as it now stands.
fn stale_route(conn: &mut DbConn, loaded: &Loaded, code: ErrorCode, message: String) -> ApiError {
    match route_view(conn, loaded) {
        Ok(current) => ApiError::Stale {
            code,
            message,
            current: serde_json::to_value(current).unwrap_or_default(),
        },
        Err(e) => e,
    }
}

/// The engine's action for an API action on a route's task.
fn engine_action(step: &Step) -> Result<engine::Action, ApiError> {
    let task = step.task.id.clone();
    let comment = step.comment.unwrap_or_default().to_string();
    let target = || step.target.map(|t| t.id.clone()).unwrap_or_default();
    Ok(match step.req.action {
        ActionKind::Approve | ActionKind::Sign | ActionKind::Issue => {
            engine::Action::Approve { task }
        }
        ActionKind::Return => engine::Action::Return {
            task,
            to: match step.req.to_stage {
                None => ReturnTarget::Drafter,
                Some(0) => return Err(ApiError::validation("to_stage", "positions start at 1")),
                Some(n) => ReturnTarget::Stage(n as usize - 1),
            },
            comment,
        },
        ActionKind::Reject => engine::Action::Reject { task, comment },
        ActionKind::Comment => engine::Action::Comment { task, comment },
        ActionKind::Delegate => engine::Action::Delegate { task, to: target() },
        ActionKind::RequestOpinion => engine::Action::RequestOpinion {
            task,
            from: target(),
        },
        ActionKind::InsertReviewer => engine::Action::InsertReviewer {
            task,
            reviewer: target(),
        },
        ActionKind::Complete => {
            return Err(ApiError::Unprocessable {
                code: ErrorCode::ActionNotAllowed,
                message: "complete is for incoming work; approve a route's task".into(),
            })
        }
    })
}

/// An incoming paper's task: `complete` with the result note, or `comment`.
fn act_on_incoming(conn: &mut DbConn, step: &Step) -> Result<ActionResult, ApiError> {
    let task = step.task;
    match step.req.action {
        ActionKind::Complete => {
            let note = step
                .comment
                .ok_or_else(|| ApiError::validation("comment", "the result note is required"))?;
            let act = TaskAct {
                status: TaskStatus::Completed,
                at: step.now,
                acting_user: (step.viewer.id != task.assignee_id).then(|| step.viewer.id.clone()),
                capacity: step.capacity,
                result: Some(note.to_string()),
            };
            if queries::complete_incoming_task(conn, &task.id, &act)? != 1 {
                return Err(stale_task(conn, &task.id, step.now));
            }
        }
        ActionKind::Comment => {
            if step.comment.is_none() {
                return Err(ApiError::validation(
                    "comment",
                    "is required for this action",
                ));
            }
            if task.status != TaskStatus::Pending {
                return Err(stale_task(conn, &task.id, step.now));
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
        action: step.req.action,
        task: task_view(&now_task, &users, &HashMap::new(), step.now),
        route: None,
        signature: None,
        replayed: false,
    })
}

/// A 409 that carries the incoming task as it now stands.
fn stale_task(conn: &mut DbConn, task_id: &str, now: NaiveDateTime) -> ApiError {
    let tasks: Vec<TaskRow> = queries::task(conn, task_id)
        .ok()
        .flatten()
        .into_iter()
        .collect();
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
                serde_json::to_value(task_view(t, &users, &HashMap::new(), now)).unwrap_or_default()
            })
            .unwrap_or_default(),
    }
}

/// One row of the action log (`workflow_actions`), with the idempotency key and the answer
/// a retry gets.
pub(super) struct ActionRecord<'a> {
    pub(super) route_id: Option<&'a str>,
    pub(super) task_id: Option<&'a str>,
    pub(super) user: &'a str,
    pub(super) on_behalf_of: Option<&'a str>,
    pub(super) capacity: Option<Capacity>,
    /// An [`ActionKind`]'s text, or `recall`.
    pub(super) action: &'a str,
    pub(super) comment: Option<&'a str>,
    pub(super) target: Option<&'a str>,
    pub(super) key: Option<&'a str>,
    pub(super) hash: &'a str,
    pub(super) response: Option<&'a ActionResult>,
    pub(super) now: NaiveDateTime,
}

impl ActionRecord<'_> {
    /// An empty record at `now`, to fill with struct update syntax.
    pub(super) fn new(now: NaiveDateTime) -> Self {
        ActionRecord {
            route_id: None,
            task_id: None,
            user: "",
            on_behalf_of: None,
            capacity: None,
            action: "",
            comment: None,
            target: None,
            key: None,
            hash: "",
            response: None,
            now,
        }
    }
}

pub(super) fn record_action(conn: &mut DbConn, r: &ActionRecord) -> Result<(), ApiError> {
    let row = ActionRow {
        id: new_id(),
        route_id: r.route_id.map(str::to_string),
        task_id: r.task_id.map(str::to_string),
        user_id: r.user.to_string(),
        on_behalf_of: r.on_behalf_of.map(str::to_string),
        capacity: r.capacity,
        action: r.action.to_string(),
        comment: r.comment.map(str::to_string),
        target_user_id: r.target.map(str::to_string),
        idempotency_key: r.key.map(str::to_string),
        request_hash: Some(r.hash.to_string()),
        response: r
            .response
            .map(serde_json::to_string)
            .transpose()
            .map_err(ApiError::internal)?,
        created_at: r.now,
    };
    queries::insert_action(conn, &row)?;
    Ok(())
}
