//! Users: creating and changing them, the first `admin`, reading them.

use super::new_id;
use super::validate::{
    optional_text, require_active_unit, required_text, valid_email, valid_password, valid_username,
};
use crate::accounts::model::{NewUser, Role, UnitRow, User, UserChanges, UserRow};
use crate::accounts::{password, queries};
use crate::audit::{self, Action, AuditContext};
use crate::config::Config;
use crate::db::schema::users;
use crate::db::{self, DbConn};
use crate::error::{ApiError, ErrorCode};
use diesel::prelude::*;
use serde_json::json;

/// Creates a user with a hashed password and roles.
pub fn create_user(
    conn: &mut DbConn,
    ctx: &AuditContext,
    input: NewUser,
) -> Result<User, ApiError> {
    let username = valid_username(&input.username)?;
    valid_password("password", &input.password)?;
    let full_name = required_text("full_name", &input.full_name, 200)?;
    let position_title = optional_text("position_title", &input.position_title, 200)?;
    let email = valid_email(&input.email)?;
    let hash = password::hash(&input.password).map_err(ApiError::internal)?;
    db::write_tx(conn, |conn| {
        if let Some(unit) = &input.unit_id {
            require_active_unit(conn, "unit_id", unit)?;
        }
        if queries::find_user_by_username(conn, &username)?.is_some() {
            return Err(ApiError::conflict(
                ErrorCode::UsernameTaken,
                format!("the username '{username}' is taken"),
            ));
        }
        let now = db::now();
        let row = UserRow {
            id: new_id(),
            username: username.clone(),
            password_hash: hash.clone(),
            full_name: full_name.clone(),
            position_title: position_title.clone(),
            email: email.clone(),
            unit_id: input.unit_id.clone(),
            active: true,
            created_at: now,
            updated_at: now,
            must_change_password: false,
        };
        diesel::insert_into(users::table)
            .values(&row)
            .execute(conn)?;
        queries::set_roles(conn, &row.id, &input.roles)?;
        let view = queries::user_view(conn, row)?;
        audit::record(
            conn,
            ctx,
            Action::UserCreated,
            "user",
            Some(&view.id.0),
            json!({"username": view.username, "unit_id": input.unit_id, "roles": view.roles}),
        )?;
        Ok(view)
    })
}

/// Changes a user. Keeps at least one active admin; a new password or deactivation ends sessions.
pub fn update_user(
    conn: &mut DbConn,
    ctx: &AuditContext,
    id: &str,
    changes: UserChanges,
) -> Result<User, ApiError> {
    let CheckedChanges {
        full_name,
        position_title,
        email,
        new_hash,
    } = checked_changes(&changes)?;
    db::write_tx(conn, |conn| {
        let mut row = queries::find_user(conn, id)?.ok_or(ApiError::NotFound("user"))?;
        let mut changed: Vec<&str> = Vec::new();
        if let Some(v) = full_name.clone() {
            row.full_name = v;
            changed.push("full_name");
        }
        if let Some(v) = position_title.clone() {
            row.position_title = v;
            changed.push("position_title");
        }
        if let Some(v) = email.clone() {
            row.email = v;
            changed.push("email");
        }
        if let Some(unit) = &changes.unit_id {
            if let Some(u) = unit {
                require_active_unit(conn, "unit_id", u)?;
            }
            row.unit_id = unit.clone();
            changed.push("unit_id");
        }
        if let Some(active) = changes.active {
            row.active = active;
            changed.push("active");
        }
        let now = db::now();
        if let Some(h) = new_hash.clone() {
            row.password_hash = h;
            changed.push("password");
        }
        row.updated_at = now;
        save_user(conn, id, &row)?;
        if let Some(roles) = &changes.roles {
            queries::set_roles(conn, id, roles)?;
            changed.push("roles");
        }
        if queries::active_admins(conn)? == 0 {
            return Err(ApiError::conflict(
                ErrorCode::LastAdmin,
                "this change would leave no active administrator",
            ));
        }
        if changes.active == Some(false) || changes.password.is_some() {
            queries::revoke_sessions(conn, id, now)?;
        }
        // A password an admin set for someone else is a reset: its holder changes it first.
        if changes.password.is_some() && ctx.actor_id.as_deref() != Some(id) {
            queries::require_password_change(conn, id)?;
            row.must_change_password = true;
        }
        let view = queries::user_view(conn, row)?;
        audit::record(
            conn,
            ctx,
            Action::UserUpdated,
            "user",
            Some(id),
            json!({"changed": changed, "active": view.active, "roles": view.roles, "unit_id": view.unit.as_ref().map(|u| &u.id)}),
        )?;
        Ok(view)
    })
}

/// The values of a user's changes, checked, with the new password (if any) hashed.
struct CheckedChanges {
    full_name: Option<String>,
    position_title: Option<String>,
    email: Option<String>,
    new_hash: Option<String>,
}

/// Checks the changed values, in the order their errors are reported, and hashes a new
/// password (outside any transaction: argon2 is slow).
fn checked_changes(changes: &UserChanges) -> Result<CheckedChanges, ApiError> {
    let full_name = changes
        .full_name
        .as_deref()
        .map(|v| required_text("full_name", v, 200))
        .transpose()?;
    let position_title = changes
        .position_title
        .as_deref()
        .map(|v| optional_text("position_title", v, 200))
        .transpose()?;
    let email = changes.email.as_deref().map(valid_email).transpose()?;
    let new_hash = match &changes.password {
        Some(pw) => {
            valid_password("password", pw)?;
            Some(password::hash(pw).map_err(ApiError::internal)?)
        }
        None => None,
    };
    Ok(CheckedChanges {
        full_name,
        position_title,
        email,
        new_hash,
    })
}

/// Writes the changeable columns of user `id` from `row`.
fn save_user(conn: &mut DbConn, id: &str, row: &UserRow) -> Result<(), ApiError> {
    diesel::update(users::table.find(id))
        .set((
            users::full_name.eq(&row.full_name),
            users::position_title.eq(&row.position_title),
            users::email.eq(&row.email),
            users::unit_id.eq(&row.unit_id),
            users::active.eq(row.active),
            users::password_hash.eq(&row.password_hash),
            users::updated_at.eq(row.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Creates the `admin` account when no user named `admin` exists yet. Returns the generated
/// password when one was made (the caller logs it once).
pub fn bootstrap_admin(
    conn: &mut DbConn,
    cfg: &Config,
) -> Result<Option<Option<String>>, ApiError> {
    if queries::find_user_by_username(conn, "admin")?.is_some() {
        return Ok(None);
    }
    let (password, generated) = if cfg.admin_password.is_empty() {
        (
            password::random_token(12).map_err(ApiError::internal)?,
            true,
        )
    } else {
        (cfg.admin_password.clone(), false)
    };
    let created = create_user(
        conn,
        &AuditContext::system(),
        NewUser {
            username: "admin".into(),
            password: password.clone(),
            full_name: "Administrator".into(),
            position_title: String::new(),
            email: "admin@localhost.localdomain".into(),
            unit_id: None,
            roles: vec![Role::Admin],
        },
    );
    match created {
        Ok(user) => {
            if generated {
                queries::require_password_change(conn, &user.id.0)?;
            }
            Ok(Some(generated.then_some(password)))
        }
        // Another process created it at the same moment.
        Err(ApiError::Conflict { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The API view of one user.
pub fn get_user(conn: &mut DbConn, id: &str) -> Result<User, ApiError> {
    let row = queries::find_user(conn, id)?.ok_or(ApiError::NotFound("user"))?;
    Ok(queries::user_view(conn, row)?)
}

/// Users, optionally of one unit.
pub fn list_users(conn: &mut DbConn, unit_id: Option<&str>) -> Result<Vec<User>, ApiError> {
    let rows = queries::list_users(conn, unit_id)?;
    // Two queries for the whole list instead of two per user.
    let units: std::collections::HashMap<String, UnitRow> = queries::list_units(conn)?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    let mut roles = queries::roles_by_user(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let unit = r.unit_id.as_ref().and_then(|id| units.get(id)).cloned();
            let user_roles = roles.remove(&r.id).unwrap_or_default();
            queries::assemble_user(r, unit, user_roles)
        })
        .collect())
}
