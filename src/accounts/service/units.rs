//! Units: the tree of the organisation.

use super::new_id;
use super::validate::{require_active_unit, required_text, valid_unit_code};
use crate::accounts::model::{NewUnit, Unit, UnitChanges, UnitRow};
use crate::accounts::queries;
use crate::audit::{self, Action, AuditContext};
use crate::db::schema::units;
use crate::db::{self, DbConn};
use crate::error::{ApiError, ErrorCode};
use diesel::prelude::*;
use serde_json::json;

/// Creates a unit.
pub fn create_unit(
    conn: &mut DbConn,
    ctx: &AuditContext,
    input: NewUnit,
) -> Result<Unit, ApiError> {
    let code = valid_unit_code(&input.code)?;
    let name = required_text("name", &input.name, 300)?;
    db::write_tx(conn, |conn| {
        if let Some(parent) = &input.parent_id {
            require_active_unit(conn, "parent_id", parent)?;
        }
        if queries::unit_code_taken(conn, &code, None)? {
            return Err(ApiError::conflict(
                ErrorCode::UnitCodeTaken,
                format!("a unit with code '{code}' exists"),
            ));
        }
        let now = db::now();
        let row = UnitRow {
            id: new_id(),
            parent_id: input.parent_id.clone(),
            code: code.clone(),
            name: name.clone(),
            active: true,
            created_at: now,
            updated_at: now,
            head_user_id: None,
        };
        diesel::insert_into(units::table)
            .values(&row)
            .execute(conn)?;
        audit::record(
            conn,
            ctx,
            Action::UnitCreated,
            "unit",
            Some(&row.id),
            json!({"code": row.code, "name": row.name, "parent_id": row.parent_id}),
        )?;
        Ok(Unit::from(row))
    })
}

/// Changes a unit; refuses cycles in the tree and deactivating a unit still in use.
pub fn update_unit(
    conn: &mut DbConn,
    ctx: &AuditContext,
    id: &str,
    changes: UnitChanges,
) -> Result<Unit, ApiError> {
    let code = changes.code.as_deref().map(valid_unit_code).transpose()?;
    let name = changes
        .name
        .as_deref()
        .map(|n| required_text("name", n, 300))
        .transpose()?;
    db::write_tx(conn, |conn| {
        let mut row = queries::find_unit(conn, id)?.ok_or(ApiError::NotFound("unit"))?;
        if let Some(code) = code.clone() {
            if queries::unit_code_taken(conn, &code, Some(id))? {
                return Err(ApiError::conflict(
                    ErrorCode::UnitCodeTaken,
                    format!("a unit with code '{code}' exists"),
                ));
            }
            row.code = code;
        }
        if let Some(name) = name.clone() {
            row.name = name;
        }
        if let Some(parent) = &changes.parent_id {
            if let Some(p) = parent {
                check_parent(conn, &row.id, p)?;
            }
            row.parent_id = parent.clone();
        }
        if let Some(active) = changes.active {
            if !active && row.active {
                check_unused(conn, id)?;
            }
            row.active = active;
        }
        if let Some(head) = &changes.head_user_id {
            if let Some(h) = head {
                check_head(conn, h)?;
            }
            row.head_user_id = head.clone();
        }
        row.updated_at = db::now();
        diesel::update(units::table.find(id))
            .set((
                units::code.eq(&row.code),
                units::name.eq(&row.name),
                units::parent_id.eq(&row.parent_id),
                units::active.eq(row.active),
                units::head_user_id.eq(&row.head_user_id),
                units::updated_at.eq(row.updated_at),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            ctx,
            Action::UnitUpdated,
            "unit",
            Some(id),
            json!({"code": row.code, "name": row.name, "parent_id": row.parent_id, "active": row.active, "head_user_id": row.head_user_id}),
        )?;
        Ok(Unit::from(row))
    })
}

/// Checks that `parent` may become the parent of `unit_id`: an active unit, and not the unit
/// itself or one of its descendants.
fn check_parent(conn: &mut DbConn, unit_id: &str, parent: &str) -> Result<(), ApiError> {
    require_active_unit(conn, "parent_id", parent)?;
    // Walk up from the new parent: reaching this unit would close a cycle.
    let mut cursor = Some(parent.to_string());
    let mut steps = 0;
    while let Some(cur) = cursor {
        if cur == unit_id {
            return Err(ApiError::validation(
                "parent_id",
                "would make the unit its own ancestor",
            ));
        }
        steps += 1;
        if steps > 10_000 {
            return Err(ApiError::internal(anyhow::anyhow!(
                "unit tree too deep or cyclic"
            )));
        }
        cursor = queries::find_unit(conn, &cur)?.and_then(|u| u.parent_id);
    }
    Ok(())
}

/// Refuses to deactivate a unit that still has active users or active sub-units.
fn check_unused(conn: &mut DbConn, id: &str) -> Result<(), ApiError> {
    let (members, subunits) = queries::unit_active_members(conn, id)?;
    if members > 0 || subunits > 0 {
        return Err(ApiError::conflict(
            ErrorCode::UnitInUse,
            format!("the unit still has {members} active users and {subunits} active sub-units"),
        ));
    }
    Ok(())
}

/// Checks that the new head of a unit is an active user.
fn check_head(conn: &mut DbConn, user_id: &str) -> Result<(), ApiError> {
    match queries::find_user(conn, user_id)? {
        Some(u) if u.active => Ok(()),
        _ => Err(ApiError::validation("head_user_id", "names no active user")),
    }
}

/// One unit.
pub fn get_unit(conn: &mut DbConn, id: &str) -> Result<Unit, ApiError> {
    queries::find_unit(conn, id)?
        .map(Unit::from)
        .ok_or(ApiError::NotFound("unit"))
}

/// All units.
pub fn list_units(conn: &mut DbConn) -> Result<Vec<Unit>, ApiError> {
    Ok(queries::list_units(conn)?
        .into_iter()
        .map(Unit::from)
        .collect())
}

/// Finds a unit id by its code (command line).
pub fn unit_id_by_code(conn: &mut DbConn, code: &str) -> Result<Option<String>, ApiError> {
    Ok(units::table
        .filter(units::code.eq(code))
        .select(units::id)
        .first(conn)
        .optional()?)
}
