//! Incoming papers: a leader assigns one lead (unit or person), cooperating and
//! for-information units, and a deadline; one task, one lead.

use super::calendar::{self, Calendar};
use super::engine::TaskStatus;
use super::model::*;
use super::notices::{self, Notice};
use super::queries;
use super::service::{active_user, head_of, new_id, people_of, task_view, text};
use crate::accounts::model::UserRow;
use crate::accounts::{queries as accounts_q, Role};
use crate::audit::{self, Action, AuditContext};
use crate::db::{self, DbConn};
use crate::documents::access::Viewer;
use crate::documents::model::{DocumentRow, Kind, Status};
use crate::documents::service::visible_document;
use crate::error::{ApiError, ErrorCode};
use chrono::NaiveDateTime;
use serde_json::json;
use std::collections::{HashMap, HashSet};

/// A leader assigns an incoming paper: one lead (unit or person), cooperating and
/// for-information units, a deadline.
pub fn assign_incoming(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    cal: &Calendar,
    document_id: &str,
    req: AssignIncoming,
) -> Result<Assignment, ApiError> {
    let note = text("note", req.note.as_deref(), 4000)?;
    db::write_tx(conn, |conn| {
        let doc = visible_document(conn, viewer, document_id)?;
        check_assignable(conn, viewer, &doc)?;
        let (lead_user, lead_unit) = lead_of(conn, &req)?;
        let (coop, inform) = other_units(conn, &req, lead_unit.as_deref())?;
        let now = db::now();
        let deadline = match req.deadline {
            Some(d) => {
                if d < calendar::local_date(now) {
                    return Err(ApiError::validation("deadline", "is in the past"));
                }
                calendar::end_of_local_day(d)
            }
            None => cal.deadline(now, calendar::default_days(doc.urgency)),
        };
        if queries::has_lead(conn, &doc.id)? {
            return Err(ApiError::conflict(
                ErrorCode::LeadAlreadyAssigned,
                "one task, one lead: this paper already has its lead",
            ));
        }
        let new_task = NewTask {
            doc: &doc,
            note: note.as_deref(),
            now,
        };
        let mut rows = vec![new_task.row(
            TaskKind::Lead,
            &lead_user,
            lead_unit.clone(),
            Some(deadline),
        )];
        for (u, head) in &coop {
            rows.push(new_task.row(TaskKind::Cooperate, head, Some(u.clone()), Some(deadline)));
        }
        for (u, head) in &inform {
            rows.push(new_task.row(TaskKind::Inform, head, Some(u.clone()), None));
        }
        for r in &rows {
            queries::insert_task(conn, r)?;
        }
        audit::record(
            conn,
            ctx,
            Action::IncomingAssigned,
            "document",
            Some(&doc.id),
            json!({
                "lead_user_id": lead_user.id, "lead_unit_id": lead_unit,
                "cooperating_unit_ids": req.cooperating_unit_ids, "inform_unit_ids": req.inform_unit_ids,
                "deadline": deadline, "note": note,
            }),
        )?;
        let notices: Vec<Notice> = rows
            .iter()
            .map(|r| Notice::Incoming {
                task_id: r.id.clone(),
                recipient: r.assignee_id.clone(),
                deadline: r.deadline,
                comment: note.clone(),
            })
            .collect();
        notices::send(conn, &doc.id, &viewer.id, &notices, &rows, now)?;
        assignment_view(conn, &doc.id)
    })
}

/// Only a received incoming paper is assigned, by the head of its unit or an official of it.
fn check_assignable(conn: &mut DbConn, viewer: &Viewer, doc: &DocumentRow) -> Result<(), ApiError> {
    if doc.kind != Kind::Incoming {
        return Err(ApiError::conflict(
            ErrorCode::NotIncoming,
            "only incoming papers are assigned; drafts travel a route",
        ));
    }
    if doc.status == Status::Returned {
        return Err(ApiError::conflict(
            ErrorCode::DocumentReturned,
            "the paper was sent back",
        ));
    }
    let unit = accounts_q::find_unit(conn, &doc.unit_id)?.ok_or(ApiError::NotFound("document"))?;
    let leader = unit.head_user_id.as_deref() == Some(viewer.id.as_str())
        || (viewer.has(Role::Official) && viewer.unit_id.as_deref() == Some(doc.unit_id.as_str()));
    if !leader {
        return Err(ApiError::Forbidden);
    }
    Ok(())
}

/// The one lead: a unit (its head holds the task) or a person (with their unit).
fn lead_of(conn: &mut DbConn, req: &AssignIncoming) -> Result<(UserRow, Option<String>), ApiError> {
    match (&req.lead_unit_id, &req.lead_user_id) {
        (Some(u), None) => Ok((head_of(conn, "lead_unit_id", u)?, Some(u.clone()))),
        (None, Some(p)) => {
            let user = active_user(conn, "lead_user_id", p)?;
            let unit = user.unit_id.clone();
            Ok((user, unit))
        }
        _ => Err(ApiError::validation(
            "lead_unit_id",
            "one task, one lead: give exactly one of lead_unit_id and lead_user_id",
        )),
    }
}

/// A unit with the head who holds its task.
type UnitHead = (String, UserRow);

/// The cooperating and for-information units with their heads; no unit twice.
fn other_units(
    conn: &mut DbConn,
    req: &AssignIncoming,
    lead_unit: Option<&str>,
) -> Result<(Vec<UnitHead>, Vec<UnitHead>), ApiError> {
    let mut seen: HashSet<String> = lead_unit.iter().map(|u| u.to_string()).collect();
    let mut coop = Vec::new();
    for (i, u) in req.cooperating_unit_ids.iter().enumerate() {
        let f = format!("cooperating_unit_ids[{i}]");
        if !seen.insert(u.clone()) {
            return Err(ApiError::validation(
                f,
                "names a unit twice (or the lead unit)",
            ));
        }
        coop.push((u.clone(), head_of(conn, &f, u)?));
    }
    let mut inform = Vec::new();
    for (i, u) in req.inform_unit_ids.iter().enumerate() {
        let f = format!("inform_unit_ids[{i}]");
        if !seen.insert(u.clone()) {
            return Err(ApiError::validation(
                f,
                "names a unit twice (or a lead or cooperating unit)",
            ));
        }
        inform.push((u.clone(), head_of(conn, &f, u)?));
    }
    Ok((coop, inform))
}

/// What every task of one assignment shares.
struct NewTask<'a> {
    doc: &'a DocumentRow,
    note: Option<&'a str>,
    now: NaiveDateTime,
}

impl NewTask<'_> {
    /// A task row: pending with the deadline, or informed (for-information units).
    fn row(
        &self,
        role: TaskKind,
        user: &UserRow,
        unit: Option<String>,
        deadline: Option<NaiveDateTime>,
    ) -> TaskRow {
        let status = if role == TaskKind::Inform {
            TaskStatus::Informed
        } else {
            TaskStatus::Pending
        };
        TaskRow {
            id: new_id(),
            document_id: self.doc.id.clone(),
            route_id: None,
            stage_id: None,
            round: 1,
            role,
            assignee_id: user.id.clone(),
            unit_id: unit.or_else(|| user.unit_id.clone()),
            acting_user_id: None,
            capacity: None,
            status,
            urgency: self.doc.urgency,
            deadline,
            assigned_at: self.now,
            acted_at: None,
            result: self.note.map(str::to_string),
            delegated_from: None,
        }
    }
}

fn assignment_view(conn: &mut DbConn, document_id: &str) -> Result<Assignment, ApiError> {
    let tasks = queries::incoming_tasks(conn, document_id)?;
    let users = people_of(conn, &tasks)?;
    let now = db::now();
    let empty = HashMap::new();
    let view = |role: TaskKind| -> Vec<Task> {
        tasks
            .iter()
            .filter(|t| t.role == role)
            .map(|t| task_view(t, &users, &empty, now))
            .collect()
    };
    let lead = view(TaskKind::Lead)
        .into_iter()
        .next()
        .ok_or(ApiError::NotFound("assignment"))?;
    Ok(Assignment {
        document_id: document_id.to_string(),
        lead,
        cooperating: view(TaskKind::Cooperate),
        informed: view(TaskKind::Inform),
    })
}

/// The assignment of an incoming paper the viewer may see.
pub fn get_assignment(
    conn: &mut DbConn,
    viewer: &Viewer,
    document_id: &str,
) -> Result<Assignment, ApiError> {
    let doc = visible_document(conn, viewer, document_id)?;
    assignment_view(conn, &doc.id)
}
