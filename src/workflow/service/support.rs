//! Small rules every workflow operation shares: ids, free text, assignee resolution, the checks
//! of stage specs, and how engine errors reach the API.

use super::super::engine::{EngineError, Policy};
use super::super::model::*;
use crate::accounts::model::UserRow;
use crate::accounts::queries as accounts_q;
use crate::db::DbConn;
use crate::error::{ApiError, ErrorCode};

pub(in crate::workflow) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(in crate::workflow) fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

pub(in crate::workflow) fn text(
    field: &str,
    v: Option<&str>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) if s.chars().count() > max => Err(ApiError::validation(
            field,
            format!("must be at most {max} characters"),
        )),
        other => Ok(other.map(str::to_string)),
    }
}

pub(in crate::workflow) fn corrupt(what: &str) -> ApiError {
    ApiError::internal(anyhow::anyhow!(
        "stored workflow data is not readable: {what}"
    ))
}

/// An active user by id, or a validation error on `field`.
pub(in crate::workflow) fn active_user(
    conn: &mut DbConn,
    field: &str,
    id: &str,
) -> Result<UserRow, ApiError> {
    if !is_uuid(id) {
        return Err(ApiError::validation(field, "must be a user id (UUID)"));
    }
    match accounts_q::find_user(conn, id)? {
        Some(u) if u.active => Ok(u),
        _ => Err(ApiError::validation(field, "names no active user")),
    }
}

/// The head of a unit, or a validation error naming the unit.
pub(in crate::workflow) fn head_of(
    conn: &mut DbConn,
    field: &str,
    unit_id: &str,
) -> Result<UserRow, ApiError> {
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
pub(super) fn resolve(
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
                let found = accounts_q::users_with_role(conn, &unit, *role)?;
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
pub(in crate::workflow) fn check_specs(field: &str, specs: &[StageSpec]) -> Result<(), ApiError> {
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
        if let Some(signing) = &s.signing {
            check_signing(&f, s.kind, signing)?;
        }
    }
    Ok(())
}

pub(super) fn policy_of(name: PolicyName, quorum: Option<u32>) -> Policy {
    match name {
        PolicyName::All => Policy::All,
        PolicyName::Any => Policy::Any,
        PolicyName::Quorum => Policy::Quorum(quorum.unwrap_or(1)),
    }
}

pub(super) fn engine_error(e: EngineError) -> ApiError {
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

/// A stage's signing settings: only on `sign` and `issue` stages, places inside a page.
fn check_signing(
    f: &str,
    kind: crate::workflow::engine::StageKind,
    s: &StageSigning,
) -> Result<(), ApiError> {
    if !matches!(
        kind,
        crate::workflow::engine::StageKind::Sign | crate::workflow::engine::StageKind::Issue
    ) {
        return Err(ApiError::validation(
            format!("{f}.signing"),
            "only sign and issue stages take signing settings",
        ));
    }
    if let Some(p) = &s.stamp {
        check_placement(&format!("{f}.signing.stamp"), p)?;
    }
    if let Some(p) = &s.number_place {
        if kind != crate::workflow::engine::StageKind::Issue {
            return Err(ApiError::validation(
                format!("{f}.signing.number_place"),
                "only an issue stage prints the number",
            ));
        }
        check_placement(&format!("{f}.signing.number_place"), p)?;
    }
    if let Some(name) = &s.number_field {
        let at = format!("{f}.signing.number_field");
        if kind != crate::workflow::engine::StageKind::Issue {
            return Err(ApiError::validation(
                at,
                "only an issue stage prints the number",
            ));
        }
        if s.number_place.is_some() {
            return Err(ApiError::validation(
                at,
                "give number_place or number_field, not both",
            ));
        }
        crate::text::check_name(&at, name)?;
        if name.trim().is_empty() || name.len() > 100 || name.contains('.') {
            return Err(ApiError::validation(
                at,
                "must name a field: 1 to 100 bytes, no dot",
            ));
        }
    }
    Ok(())
}

/// A rectangle that can hold a stamp: finite, within 14,400 points, at least 20 × 10 points.
pub(super) fn check_placement(field: &str, p: &Placement) -> Result<(), ApiError> {
    let [x1, y1, x2, y2] = p.rect;
    if p.rect
        .iter()
        .any(|c| !c.is_finite() || *c < 0.0 || *c > 14_400.0)
    {
        return Err(ApiError::validation(
            format!("{field}.rect"),
            "coordinates are points between 0 and 14400",
        ));
    }
    if (x2 - x1).abs() < 20.0 || (y2 - y1).abs() < 10.0 {
        return Err(ApiError::validation(
            format!("{field}.rect"),
            "a stamp needs at least 20 × 10 points",
        ));
    }
    if p.page > 100_000 {
        return Err(ApiError::validation(
            format!("{field}.page"),
            "no such page",
        ));
    }
    Ok(())
}
