//! Login throttling, shared by every server process through the database: failures are
//! counted per account and per client address; past the limit, logins are refused for a while.

use crate::db::schema::login_throttle;
use crate::db::DbConn;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::result::Error as DbError;

/// Addresses get more room than accounts: one office behind one NAT address shares it.
pub const ADDRESS_ALLOWANCE_FACTOR: i32 = 4;

/// Throttle keys for one attempt.
pub fn keys(username: &str, client_ip: Option<&str>) -> Vec<(String, i32)> {
    let mut k = vec![(format!("user:{}", username.to_lowercase()), 1)];
    if let Some(ip) = client_ip {
        k.push((format!("ip:{ip}"), ADDRESS_ALLOWANCE_FACTOR));
    }
    k
}

/// Seconds until the login may be tried again, if any key is locked now.
pub fn locked_for(
    conn: &mut DbConn,
    keys: &[(String, i32)],
    now: NaiveDateTime,
) -> Result<Option<u64>, DbError> {
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    let until: Vec<Option<NaiveDateTime>> = login_throttle::table
        .filter(login_throttle::key.eq_any(names))
        .select(login_throttle::locked_until)
        .load(conn)?;
    Ok(until
        .into_iter()
        .flatten()
        .filter(|t| *t > now)
        .map(|t| (t - now).num_seconds().max(1) as u64)
        .max())
}

/// Counts one failure on every key; returns the highest recent failure count.
pub fn record_failure(
    conn: &mut DbConn,
    keys: &[(String, i32)],
    now: NaiveDateTime,
    max_failures: i32,
    lockout: Duration,
) -> Result<i32, DbError> {
    let mut worst = 0;
    for (key, factor) in keys {
        let limit = max_failures.saturating_mul(*factor);
        let row: Option<(i32, NaiveDateTime)> = login_throttle::table
            .find(key)
            .select((login_throttle::failures, login_throttle::window_start))
            .first(conn)
            .optional()?;
        let (failures, window_start) = match row {
            Some((n, start)) if now - start < lockout => (n + 1, start),
            _ => (1, now),
        };
        let locked_until = (failures >= limit).then(|| now + lockout);
        let updated = diesel::update(login_throttle::table.find(key))
            .set((
                login_throttle::failures.eq(failures),
                login_throttle::window_start.eq(window_start),
                login_throttle::locked_until.eq(locked_until),
            ))
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(login_throttle::table)
                .values((
                    login_throttle::key.eq(key),
                    login_throttle::failures.eq(failures),
                    login_throttle::window_start.eq(window_start),
                    login_throttle::locked_until.eq(locked_until),
                ))
                .execute(conn)?;
        }
        if *factor == 1 {
            worst = worst.max(failures);
        } else {
            worst = worst.max(failures / factor);
        }
    }
    Ok(worst)
}

/// Forgets the account's failures after a successful login.
pub fn clear_account(conn: &mut DbConn, username: &str) -> Result<(), DbError> {
    diesel::delete(login_throttle::table.find(format!("user:{}", username.to_lowercase())))
        .execute(conn)?;
    Ok(())
}
