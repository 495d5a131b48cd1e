//! Route templates per document type and unit, edited by admins.

use super::engine::StageKind;
use super::model::*;
use super::queries;
use super::service::{active_user, check_specs, is_uuid, new_id, text};
use crate::accounts::queries as accounts_q;
use crate::audit::{self, Action, AuditContext};
use crate::db::schema::route_templates;
use crate::db::{self, DbConn};
use crate::error::ApiError;
use diesel::prelude::*;
use serde_json::json;

fn check_template_refs(
    conn: &mut DbConn,
    type_code: Option<&str>,
    unit_id: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(t) = type_code {
        if !crate::documents::queries::type_active(conn, t)? {
            return Err(ApiError::validation(
                "type_code",
                "names no active document type",
            ));
        }
    }
    if let Some(u) = unit_id {
        if !is_uuid(u) || !accounts_q::find_unit(conn, u)?.is_some_and(|u| u.active) {
            return Err(ApiError::validation("unit_id", "names no active unit"));
        }
    }
    Ok(())
}

fn check_template_assignees(conn: &mut DbConn, stages: &[StageSpec]) -> Result<(), ApiError> {
    for (i, s) in stages.iter().enumerate() {
        for (j, a) in s.assignees.iter().enumerate() {
            let f = format!("stages[{i}].assignees[{j}]");
            match (&a.user, &a.role, &a.head_of) {
                (Some(u), None, None) if a.unit.is_none() => {
                    active_user(conn, &f, u)?;
                }
                (None, Some(_), None) => {
                    if let Some(u) = &a.unit {
                        if !is_uuid(u) || accounts_q::find_unit(conn, u)?.is_none() {
                            return Err(ApiError::validation(f, "names no unit"));
                        }
                    }
                }
                (None, None, Some(u)) if a.unit.is_none() => {
                    if !is_uuid(u) || accounts_q::find_unit(conn, u)?.is_none() {
                        return Err(ApiError::validation(f, "names no unit"));
                    }
                }
                _ => {
                    return Err(ApiError::validation(
                        f,
                        "give exactly one of: user; role (with unit); head_of",
                    ))
                }
            }
        }
        if let (PolicyName::Quorum, Some(q)) = (s.policy, s.quorum) {
            if q == 0
                || (s.assignees.iter().all(|a| a.role.is_none()) && q as usize > s.assignees.len())
            {
                return Err(ApiError::validation(
                    format!("stages[{i}].quorum"),
                    "must be between 1 and the number of assignees",
                ));
            }
        }
    }
    if stages.iter().all(|s| s.kind == StageKind::Inform) {
        return Err(ApiError::validation(
            "stages",
            "a route needs a stage that is not for information",
        ));
    }
    Ok(())
}

/// Route templates (any signed-in user may read them, to choose one).
pub fn list_templates(conn: &mut DbConn) -> Result<Vec<Template>, ApiError> {
    Ok(queries::templates(conn)?
        .into_iter()
        .map(Template::from)
        .collect())
}

/// Creates a template (admins).
pub fn create_template(
    conn: &mut DbConn,
    ctx: &AuditContext,
    input: NewTemplate,
) -> Result<Template, ApiError> {
    let name = text("name", Some(&input.name), 300)?
        .ok_or_else(|| ApiError::validation("name", "must not be empty"))?;
    check_specs("stages", &input.stages)?;
    db::write_tx(conn, |conn| {
        check_template_refs(conn, input.type_code.as_deref(), input.unit_id.as_deref())?;
        check_template_assignees(conn, &input.stages)?;
        let now = db::now();
        let row = TemplateRow {
            id: new_id(),
            name: name.clone(),
            type_code: input.type_code.clone(),
            unit_id: input.unit_id.clone(),
            stages: serde_json::to_string(&input.stages).map_err(ApiError::internal)?,
            active: true,
            created_by: ctx.actor_id.clone(),
            created_at: now,
            updated_at: now,
        };
        diesel::insert_into(route_templates::table)
            .values(&row)
            .execute(conn)?;
        audit::record(
            conn,
            ctx,
            Action::RouteTemplateCreated,
            "route_template",
            Some(&row.id),
            json!({"name": row.name, "type_code": row.type_code, "unit_id": row.unit_id, "stages": input.stages}),
        )?;
        Ok(Template::from(row))
    })
}

/// One template.
pub fn get_template(conn: &mut DbConn, id: &str) -> Result<Template, ApiError> {
    if !is_uuid(id) {
        return Err(ApiError::NotFound("route template"));
    }
    Ok(Template::from(
        queries::template(conn, id)?.ok_or(ApiError::NotFound("route template"))?,
    ))
}

/// Renames, restages or retires a template (admins). Routes already started keep their stages.
pub fn update_template(
    conn: &mut DbConn,
    ctx: &AuditContext,
    id: &str,
    changes: TemplateChanges,
) -> Result<Template, ApiError> {
    if let Some(s) = &changes.stages {
        check_specs("stages", s)?;
    }
    let name = match &changes.name {
        Some(n) => Some(
            text("name", Some(n), 300)?
                .ok_or_else(|| ApiError::validation("name", "must not be empty"))?,
        ),
        None => None,
    };
    if !is_uuid(id) {
        return Err(ApiError::NotFound("route template"));
    }
    db::write_tx(conn, |conn| {
        let mut row = queries::template(conn, id)?.ok_or(ApiError::NotFound("route template"))?;
        if let Some(s) = &changes.stages {
            check_template_assignees(conn, s)?;
            row.stages = serde_json::to_string(s).map_err(ApiError::internal)?;
        }
        if let Some(n) = name.clone() {
            row.name = n;
        }
        if let Some(a) = changes.active {
            row.active = a;
        }
        row.updated_at = db::now();
        diesel::update(route_templates::table.find(id))
            .set((
                route_templates::name.eq(&row.name),
                route_templates::stages.eq(&row.stages),
                route_templates::active.eq(row.active),
                route_templates::updated_at.eq(row.updated_at),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            ctx,
            Action::RouteTemplateUpdated,
            "route_template",
            Some(id),
            json!({"name": row.name, "active": row.active, "stages": changes.stages}),
        )?;
        Ok(Template::from(row))
    })
}
