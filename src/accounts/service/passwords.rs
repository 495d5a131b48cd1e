//! Passwords: the signed-in user changing their own.

use super::validate::valid_password;
use crate::accounts::model::PasswordChange;
use crate::accounts::{password, queries, throttle};
use crate::audit::{self, Action, AuditContext};
use crate::config::Config;
use crate::db::{self, DbConn};
use crate::error::ApiError;
use chrono::Duration;
use serde_json::json;

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
