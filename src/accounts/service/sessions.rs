//! Sessions: login (with throttling), resolving a token, logout.

use super::new_id;
use crate::accounts::model::{LoginResponse, Role, UserRow};
use crate::accounts::{password, queries, throttle};
use crate::audit::{self, Action, AuditContext};
use crate::config::Config;
use crate::db::schema::{sessions, user_roles, users};
use crate::db::{self, DbConn};
use crate::error::ApiError;
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
    /// The password was set by someone else (see [`crate::accounts::auth`]).
    pub must_change_password: bool,
    /// When the session ends by itself.
    pub expires_at: NaiveDateTime,
}

/// What a token is stored and looked up as.
pub fn token_hash(token: &str) -> String {
    crate::audit::service::hex(&openssl::sha::sha256(token.as_bytes()))
}

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
            let session = start_session(conn, cfg, ctx, u, now)?;
            Ok(LoginOutcome::Ok(session))
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

/// Issues a token to `user` after a successful login: a new session row and its audit event,
/// recorded with the user as the actor.
fn start_session(
    conn: &mut DbConn,
    cfg: &Config,
    ctx: &AuditContext,
    user: &UserRow,
    now: NaiveDateTime,
) -> Result<LoginResponse, ApiError> {
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
            sessions::user_id.eq(&user.id),
            sessions::created_at.eq(now),
            sessions::expires_at.eq(expires_at),
            sessions::client_ip.eq(&ctx.client_ip),
        ))
        .execute(conn)?;
    let actor = AuditContext {
        actor_id: Some(user.id.clone()),
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
    Ok(LoginResponse { token, expires_at })
}

/// A row of [`authenticate`]'s read: the session and its user, with one of the user's roles.
#[derive(Clone, Queryable)]
struct SessionUserRole {
    session_id: String,
    user_id: String,
    username: String,
    unit_id: Option<String>,
    must_change_password: bool,
    expires_at: NaiveDateTime,
    role: Option<Role>,
}

/// Resolves a bearer token, by its [`token_hash`], to its user, if the token is valid now.
pub fn authenticate_hash(conn: &mut DbConn, hash: &str) -> Result<Option<Authenticated>, ApiError> {
    let now: NaiveDateTime = db::now();
    // One read: the session, its user and the user's roles (a row per role).
    let rows: Vec<SessionUserRole> = sessions::table
        .inner_join(users::table.left_join(user_roles::table))
        .filter(sessions::token_hash.eq(hash))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(users::active.eq(true))
        .select((
            sessions::id,
            users::id,
            users::username,
            users::unit_id,
            users::must_change_password,
            sessions::expires_at,
            user_roles::role.nullable(),
        ))
        .load(conn)?;
    let Some(first) = rows.first().cloned() else {
        return Ok(None);
    };
    let roles = queries::in_order(rows.into_iter().filter_map(|r| r.role).collect());
    Ok(Some(Authenticated {
        user_id: first.user_id,
        username: first.username,
        unit_id: first.unit_id,
        roles,
        session_id: first.session_id,
        must_change_password: first.must_change_password,
        expires_at: first.expires_at,
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
