//! Database queries of the accounts domain. Each takes a connection; none opens a transaction.

use super::model::{Role, UnitId, UnitRef, UnitRow, User, UserId, UserRow};
use crate::db::schema::{sessions, units, user_roles, users};
use crate::db::DbConn;
use diesel::prelude::*;
use diesel::result::Error as DbError;
use std::collections::HashMap;

/// A unit by id.
pub fn find_unit(conn: &mut DbConn, id: &str) -> Result<Option<UnitRow>, DbError> {
    units::table
        .find(id)
        .select(UnitRow::as_select())
        .first(conn)
        .optional()
}

/// All units, ordered by code.
pub fn list_units(conn: &mut DbConn) -> Result<Vec<UnitRow>, DbError> {
    units::table
        .order(units::code.asc())
        .select(UnitRow::as_select())
        .load(conn)
}

/// Whether a unit with this code exists (other than `except_id`).
pub fn unit_code_taken(
    conn: &mut DbConn,
    code: &str,
    except_id: Option<&str>,
) -> Result<bool, DbError> {
    let mut q = units::table.filter(units::code.eq(code)).into_boxed();
    if let Some(id) = except_id {
        q = q.filter(units::id.ne(id));
    }
    Ok(q.select(units::id)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

/// Active users and active sub-units of a unit.
pub fn unit_active_members(conn: &mut DbConn, id: &str) -> Result<(i64, i64), DbError> {
    let users_n = users::table
        .filter(users::unit_id.eq(id).and(users::active.eq(true)))
        .count()
        .get_result(conn)?;
    let units_n = units::table
        .filter(units::parent_id.eq(id).and(units::active.eq(true)))
        .count()
        .get_result(conn)?;
    Ok((users_n, units_n))
}

/// A user by id.
pub fn find_user(conn: &mut DbConn, id: &str) -> Result<Option<UserRow>, DbError> {
    users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// A user by username.
pub fn find_user_by_username(
    conn: &mut DbConn,
    username: &str,
) -> Result<Option<UserRow>, DbError> {
    users::table
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// Roles of a user, sorted.
pub fn roles_of(conn: &mut DbConn, user_id: &str) -> Result<Vec<Role>, DbError> {
    let roles: Vec<Role> = user_roles::table
        .filter(user_roles::user_id.eq(user_id))
        .select(user_roles::role)
        .load(conn)?;
    Ok(in_order(roles))
}

/// A user's roles in the one order every answer gives them (by name, each once).
pub fn in_order(mut roles: Vec<Role>) -> Vec<Role> {
    roles.sort_by_key(|r| r.as_str());
    roles.dedup();
    roles
}

/// Replaces a user's roles.
pub fn set_roles(conn: &mut DbConn, user_id: &str, roles: &[Role]) -> Result<(), DbError> {
    diesel::delete(user_roles::table.filter(user_roles::user_id.eq(user_id))).execute(conn)?;
    let mut unique: Vec<Role> = roles.to_vec();
    unique.sort();
    unique.dedup();
    for role in unique {
        diesel::insert_into(user_roles::table)
            .values((
                user_roles::user_id.eq(user_id),
                user_roles::role.eq(role.as_str()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Number of active users holding the admin role.
pub fn active_admins(conn: &mut DbConn) -> Result<i64, DbError> {
    users::table
        .inner_join(user_roles::table)
        .filter(users::active.eq(true).and(user_roles::role.eq(Role::Admin)))
        .count()
        .get_result(conn)
}

/// The API view of a user: row + unit summary + roles.
pub fn user_view(conn: &mut DbConn, row: UserRow) -> Result<User, DbError> {
    let unit = match &row.unit_id {
        Some(id) => find_unit(conn, id)?,
        None => None,
    };
    let roles = roles_of(conn, &row.id)?;
    Ok(assemble_user(row, unit, roles))
}

/// Roles of every user, each list sorted by name.
pub fn roles_by_user(conn: &mut DbConn) -> Result<HashMap<String, Vec<Role>>, DbError> {
    let pairs: Vec<(String, Role)> = user_roles::table
        .select((user_roles::user_id, user_roles::role))
        .load(conn)?;
    let mut out: HashMap<String, Vec<Role>> = HashMap::new();
    for (user, role) in pairs {
        out.entry(user).or_default().push(role);
    }
    for roles in out.values_mut() {
        roles.sort_by_key(|r| r.as_str());
    }
    Ok(out)
}

/// Puts a user row, its unit and its roles together as the API shows them.
pub fn assemble_user(row: UserRow, unit: Option<UnitRow>, roles: Vec<Role>) -> User {
    User {
        id: UserId(row.id),
        username: row.username,
        full_name: row.full_name,
        position_title: row.position_title,
        email: row.email,
        unit: unit.map(|u| UnitRef {
            id: UnitId(u.id),
            code: u.code,
            name: u.name,
        }),
        roles,
        active: row.active,
        must_change_password: row.must_change_password,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// Users, optionally of one unit, ordered by username.
pub fn list_users(conn: &mut DbConn, unit_id: Option<&str>) -> Result<Vec<UserRow>, DbError> {
    let mut q = users::table.into_boxed();
    if let Some(u) = unit_id {
        q = q.filter(users::unit_id.eq(u));
    }
    q.order(users::username.asc())
        .select(UserRow::as_select())
        .load(conn)
}

/// Ends every open session of a user.
pub fn revoke_sessions(
    conn: &mut DbConn,
    user_id: &str,
    at: chrono::NaiveDateTime,
) -> Result<usize, DbError> {
    diesel::update(
        sessions::table.filter(
            sessions::user_id
                .eq(user_id)
                .and(sessions::revoked_at.is_null()),
        ),
    )
    .set(sessions::revoked_at.eq(at))
    .execute(conn)
}

/// Ends every open session of a user except `keep` (the one asking).
pub fn revoke_other_sessions(
    conn: &mut DbConn,
    user_id: &str,
    keep: &str,
    at: chrono::NaiveDateTime,
) -> Result<usize, DbError> {
    diesel::update(
        sessions::table.filter(
            sessions::user_id
                .eq(user_id)
                .and(sessions::id.ne(keep))
                .and(sessions::revoked_at.is_null()),
        ),
    )
    .set(sessions::revoked_at.eq(at))
    .execute(conn)
}

/// Sets a user's own new password hash (which ends a forced change).
pub fn set_password_hash(
    conn: &mut DbConn,
    user_id: &str,
    hash: &str,
    at: chrono::NaiveDateTime,
) -> Result<usize, DbError> {
    diesel::update(users::table.find(user_id))
        .set((
            users::password_hash.eq(hash),
            users::updated_at.eq(at),
            users::must_change_password.eq(false),
        ))
        .execute(conn)
}

/// Marks a password set by someone else: its holder must change it first.
pub fn require_password_change(conn: &mut DbConn, user_id: &str) -> Result<usize, DbError> {
    diesel::update(users::table.find(user_id))
        .set(users::must_change_password.eq(true))
        .execute(conn)
}

/// Users by id, for names.
pub fn users_by_id(conn: &mut DbConn, ids: &[String]) -> Result<HashMap<String, UserRow>, DbError> {
    Ok(users::table
        .filter(users::id.eq_any(ids))
        .select(UserRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect())
}

/// Active users of a unit holding a role.
pub fn users_with_role(
    conn: &mut DbConn,
    unit_id: &str,
    role: Role,
) -> Result<Vec<String>, DbError> {
    users::table
        .inner_join(user_roles::table)
        .filter(users::unit_id.eq(unit_id))
        .filter(users::active.eq(true))
        .filter(user_roles::role.eq(role))
        .order(users::username.asc())
        .select(users::id)
        .load(conn)
}

/// All units, by id.
pub fn units_by_id(conn: &mut DbConn) -> Result<HashMap<String, UnitRow>, DbError> {
    Ok(units::table
        .select(UnitRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect())
}
