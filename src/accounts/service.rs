//! Account operations. Each public function owns its transaction and writes its audit event
//! inside it.

use super::model::{
    LoginResponse, NewUnit, NewUser, PasswordChange, Role, Unit, UnitChanges, UnitRow, User,
    UserChanges, UserRow,
};
use super::{password, queries, throttle};
use crate::audit::{self, Action, AuditContext};
use crate::config::Config;
use crate::db::schema::{sessions, units, users};
use crate::db::{self, DbConn};
use crate::error::{ApiError, ErrorCode};
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde_json::json;

/// The user behind a valid token.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user_id: String,
    pub username: String,
    pub unit_id: Option<String>,
    pub roles: Vec<Role>,
    pub session_id: String,
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn token_hash(token: &str) -> String {
    crate::audit::service::hex(&openssl::sha::sha256(token.as_bytes()))
}

// Every text field of accounts is a name (one line, shown in mail headers); the API checks
// bodies already (crate::text), this also holds for `docflow user add`.
fn required_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    crate::text::check_name(field, value)?;
    let v = value.trim();
    if v.is_empty() {
        return Err(ApiError::validation(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(ApiError::validation(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(v.to_string())
}

fn optional_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    crate::text::check_name(field, value)?;
    let v = value.trim();
    if v.chars().count() > max {
        return Err(ApiError::validation(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(v.to_string())
}

fn valid_username(name: &str) -> Result<String, ApiError> {
    let ok_len = (3..=64).contains(&name.len());
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok_len && ok_chars {
        Ok(name.to_string())
    } else {
        Err(ApiError::validation(
            "username",
            "must be 3–64 characters: lower-case letters, digits, '.', '_' or '-'",
        ))
    }
}

fn valid_email(email: &str) -> Result<String, ApiError> {
    let e = email.trim();
    let ok = e.len() <= 254
        && !e.chars().any(char::is_whitespace)
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if ok {
        Ok(e.to_string())
    } else {
        Err(ApiError::validation(
            "email",
            "must be an email address like name@example.gov.vn",
        ))
    }
}

fn valid_unit_code(code: &str) -> Result<String, ApiError> {
    let c = code.trim();
    let ok = (1..=32).contains(&c.len())
        && c.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
    if ok {
        Ok(c.to_string())
    } else {
        Err(ApiError::validation(
            "code",
            "must be 1–32 characters: letters, digits, '-', '_' or '.'",
        ))
    }
}

fn valid_password(field: &str, pw: &str) -> Result<(), ApiError> {
    match password::policy_problem(pw) {
        Some(problem) => Err(ApiError::validation(field, problem)),
        None => Ok(()),
    }
}

fn valid_uuid(field: &str, id: &str) -> Result<(), ApiError> {
    uuid::Uuid::parse_str(id)
        .map(|_| ())
        .map_err(|_| ApiError::validation(field, "must be a unit id (UUID)"))
}

/// Checks that `unit_id` names an existing active unit.
fn require_active_unit(conn: &mut DbConn, field: &str, unit_id: &str) -> Result<(), ApiError> {
    valid_uuid(field, unit_id)?;
    match queries::find_unit(conn, unit_id)? {
        Some(u) if u.active => Ok(()),
        Some(_) => Err(ApiError::validation(field, "names a deactivated unit")),
        None => Err(ApiError::validation(field, "names no existing unit")),
    }
}

// ---- units ----

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
            code,
            name,
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
        if let Some(code) = code {
            if queries::unit_code_taken(conn, &code, Some(id))? {
                return Err(ApiError::conflict(
                    ErrorCode::UnitCodeTaken,
                    format!("a unit with code '{code}' exists"),
                ));
            }
            row.code = code;
        }
        if let Some(name) = name {
            row.name = name;
        }
        if let Some(parent) = &changes.parent_id {
            if let Some(p) = parent {
                require_active_unit(conn, "parent_id", p)?;
                // Walk up from the new parent: reaching this unit would close a cycle.
                let mut cursor = Some(p.clone());
                let mut steps = 0;
                while let Some(cur) = cursor {
                    if cur == row.id {
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
            }
            row.parent_id = parent.clone();
        }
        if let Some(active) = changes.active {
            if !active && row.active {
                let (members, subunits) = queries::unit_active_members(conn, id)?;
                if members > 0 || subunits > 0 {
                    return Err(ApiError::conflict(
                        ErrorCode::UnitInUse,
                        format!("the unit still has {members} active users and {subunits} active sub-units"),
                    ));
                }
            }
            row.active = active;
        }
        if let Some(head) = &changes.head_user_id {
            if let Some(h) = head {
                match queries::find_user(conn, h)? {
                    Some(u) if u.active => {}
                    _ => return Err(ApiError::validation("head_user_id", "names no active user")),
                }
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

// ---- users ----

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
            username,
            password_hash: hash,
            full_name,
            position_title,
            email,
            unit_id: input.unit_id.clone(),
            active: true,
            created_at: now,
            updated_at: now,
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
    db::write_tx(conn, |conn| {
        let mut row = queries::find_user(conn, id)?.ok_or(ApiError::NotFound("user"))?;
        let mut changed: Vec<&str> = Vec::new();
        if let Some(v) = full_name {
            row.full_name = v;
            changed.push("full_name");
        }
        if let Some(v) = position_title {
            row.position_title = v;
            changed.push("position_title");
        }
        if let Some(v) = email {
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
        if let Some(h) = new_hash {
            row.password_hash = h;
            changed.push("password");
        }
        row.updated_at = now;
        diesel::update(users::table.find(id))
            .set((
                users::full_name.eq(&row.full_name),
                users::position_title.eq(&row.position_title),
                users::email.eq(&row.email),
                users::unit_id.eq(&row.unit_id),
                users::active.eq(row.active),
                users::password_hash.eq(&row.password_hash),
                users::updated_at.eq(now),
            ))
            .execute(conn)?;
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
        Ok(_) => Ok(Some(generated.then_some(password))),
        // Another process created it at the same moment.
        Err(ApiError::Conflict { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

// ---- login ----

/// Result of a login attempt that did not throw.
pub enum LoginOutcome {
    /// Token issued.
    Ok(LoginResponse),
    /// Wrong credentials; wait this long before answering.
    Failed { delay_ms: u64 },
    /// Locked for this many seconds.
    Locked { retry_after: u64 },
}

/// Checks credentials, applies throttling, and issues a token.
pub fn login(
    conn: &mut DbConn,
    cfg: &Config,
    ctx: &AuditContext,
    username: &str,
    password_text: &str,
) -> Result<LoginOutcome, ApiError> {
    let username = username.trim().to_lowercase();
    let keys = throttle::keys(&username, ctx.client_ip.as_deref());
    let now = db::now();
    if let Some(retry_after) = throttle::locked_for(conn, &keys, now)? {
        db::write_tx(conn, |conn| {
            audit::record(
                conn,
                ctx,
                Action::LoginRefused,
                "user",
                None,
                json!({"username": username}),
            )
        })?;
        return Ok(LoginOutcome::Locked { retry_after });
    }
    // Verify outside any transaction: argon2 is slow and must not hold the write lock.
    let user = queries::find_user_by_username(conn, &username)?;
    let ok = match &user {
        Some(u) => password::verify(password_text, &u.password_hash) && u.active,
        None => {
            password::verify(password_text, password::dummy_hash());
            false
        }
    };
    let lockout = Duration::minutes(cfg.login_lockout_minutes);
    db::write_tx(conn, |conn| match (&user, ok) {
        (Some(u), true) => {
            throttle::clear_account(conn, &keys)?;
            let token = format!(
                "dft_{}",
                password::random_token(32).map_err(ApiError::internal)?
            );
            let expires_at = now + Duration::minutes(cfg.token_lifetime_minutes);
            let session_id = new_id();
            diesel::insert_into(sessions::table)
                .values((
                    sessions::id.eq(&session_id),
                    sessions::token_hash.eq(token_hash(&token)),
                    sessions::user_id.eq(&u.id),
                    sessions::created_at.eq(now),
                    sessions::expires_at.eq(expires_at),
                    sessions::client_ip.eq(&ctx.client_ip),
                ))
                .execute(conn)?;
            let actor = AuditContext {
                actor_id: Some(u.id.clone()),
                ..ctx.clone()
            };
            audit::record(
                conn,
                &actor,
                Action::LoginSucceeded,
                "session",
                Some(&session_id),
                json!({}),
            )?;
            Ok(LoginOutcome::Ok(LoginResponse { token, expires_at }))
        }
        _ => {
            let failures =
                throttle::record_failure(conn, &keys, now, cfg.login_max_failures, lockout)?;
            audit::record(
                conn,
                ctx,
                Action::LoginFailed,
                "user",
                user.as_ref().map(|u| u.id.as_str()),
                json!({"username": username, "failures": failures}),
            )?;
            let delay_ms = cfg
                .login_slowdown_ms
                .saturating_mul(failures.max(0) as u64)
                .min(5_000);
            Ok(LoginOutcome::Failed { delay_ms })
        }
    })
}

/// Resolves a bearer token to its user, if the token is valid now.
pub fn authenticate(conn: &mut DbConn, token: &str) -> Result<Option<Authenticated>, ApiError> {
    let now: NaiveDateTime = db::now();
    let found: Option<(String, UserRow)> = sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(token_hash(token)))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(users::active.eq(true))
        .select((sessions::id, UserRow::as_select()))
        .first(conn)
        .optional()?;
    let Some((session_id, user)) = found else {
        return Ok(None);
    };
    let roles = queries::roles_of(conn, &user.id)?;
    Ok(Some(Authenticated {
        user_id: user.id,
        username: user.username,
        unit_id: user.unit_id,
        roles,
        session_id,
    }))
}

/// Revokes the session behind the caller's token.
pub fn logout(conn: &mut DbConn, ctx: &AuditContext, session_id: &str) -> Result<(), ApiError> {
    db::write_tx(conn, |conn| {
        diesel::update(
            sessions::table
                .find(session_id)
                .filter(sessions::revoked_at.is_null()),
        )
        .set(sessions::revoked_at.eq(db::now()))
        .execute(conn)?;
        audit::record(
            conn,
            ctx,
            Action::Logout,
            "session",
            Some(session_id),
            json!({}),
        )?;
        Ok(())
    })
}

/// What [`change_own_password`] decided.
#[derive(Debug)]
pub enum PasswordOutcome {
    /// Changed; every other session of the user has ended.
    Changed,
    /// The current password was wrong; wait this long before answering (it counts as a failed
    /// login: a stolen token must not become a way to guess the password).
    Wrong { delay_ms: u64 },
    /// Too many failures; locked for this many seconds.
    Locked { retry_after: u64 },
}

/// The signed-in user changes their own password: the current one is checked (throttled like a
/// login), the new one meets the policy and differs; the session asking stays, every other one
/// ends.
pub fn change_own_password(
    conn: &mut DbConn,
    cfg: &Config,
    ctx: &AuditContext,
    me: (&str, &str),
    change: &PasswordChange,
) -> Result<PasswordOutcome, ApiError> {
    let (user_id, session_id) = me;
    valid_password("new_password", &change.new_password)?;
    if change.new_password == change.current_password {
        return Err(ApiError::validation(
            "new_password",
            "is the same as the current password",
        ));
    }
    let row = queries::find_user(conn, user_id)?.ok_or(ApiError::NotFound("user"))?;
    let keys = throttle::keys(&row.username, ctx.client_ip.as_deref());
    let now = db::now();
    if let Some(retry_after) = throttle::locked_for(conn, &keys, now)? {
        return Ok(PasswordOutcome::Locked { retry_after });
    }
    // Verify and hash outside any transaction: argon2 is slow and must not hold the write lock.
    if !password::verify(&change.current_password, &row.password_hash) {
        let lockout = Duration::minutes(cfg.login_lockout_minutes);
        let failures = db::write_tx(conn, |conn| {
            let failures =
                throttle::record_failure(conn, &keys, now, cfg.login_max_failures, lockout)?;
            audit::record(
                conn,
                ctx,
                Action::LoginFailed,
                "user",
                Some(user_id),
                json!({"username": row.username, "failures": failures, "during": "password_change"}),
            )?;
            Ok::<_, ApiError>(failures)
        })?;
        let delay_ms = cfg
            .login_slowdown_ms
            .saturating_mul(failures.max(0) as u64)
            .min(5_000);
        return Ok(PasswordOutcome::Wrong { delay_ms });
    }
    let hash = password::hash(&change.new_password).map_err(ApiError::internal)?;
    db::write_tx(conn, |conn| {
        queries::set_password_hash(conn, user_id, &hash, now)?;
        let ended = queries::revoke_other_sessions(conn, user_id, session_id, now)?;
        throttle::clear_account(conn, &keys)?;
        audit::record(
            conn,
            ctx,
            Action::UserPasswordChanged,
            "user",
            Some(user_id),
            json!({"other_sessions_ended": ended}),
        )?;
        Ok(PasswordOutcome::Changed)
    })
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
