//! Login throttling, shared by every server process through the database. Failures are
//! counted per account, per (account, client address) and per client address. Past the limit,
//! the (account, address) pair and the address are refused for a while; the account alone is
//! never locked (whoever knows a username could otherwise lock its owner out from anywhere),
//! but its count slows every failed attempt on it down, wherever it comes from.

use crate::db::schema::login_throttle;
use crate::db::DbConn;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::result::Error as DbError;

/// Addresses get more room than accounts: one office behind one NAT address shares it.
pub const ADDRESS_ALLOWANCE_FACTOR: i32 = 4;

/// One counter an attempt touches.
#[derive(Debug, Clone)]
pub struct Key {
    /// The row's key (`user:…`, `user:…|ip:…`, `ip:…`).
    pub name: String,
    /// Failures that lock it, as a multiple of `login_max_failures`; `None`: it never locks
    /// and only measures the slowdown.
    pub lock_factor: Option<i32>,
}

fn account_key(username: &str) -> String {
    format!("user:{}", username.to_lowercase())
}

/// Throttle keys for one attempt. Without a client address the account itself locks: there is
/// nothing else to tell the owner from an attacker by.
pub fn keys(username: &str, client_ip: Option<&str>) -> Vec<Key> {
    let account = account_key(username);
    match client_ip {
        Some(ip) => vec![
            Key {
                name: account.clone(),
                lock_factor: None,
            },
            Key {
                name: format!("{account}|ip:{ip}"),
                lock_factor: Some(1),
            },
            Key {
                name: format!("ip:{ip}"),
                lock_factor: Some(ADDRESS_ALLOWANCE_FACTOR),
            },
        ],
        None => vec![Key {
            name: account,
            lock_factor: Some(1),
        }],
    }
}

/// Seconds until the login may be tried again, if any key is locked now.
pub fn locked_for(
    conn: &mut DbConn,
    keys: &[Key],
    now: NaiveDateTime,
) -> Result<Option<u64>, DbError> {
    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
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

/// Counts one failure on every key; returns the account's recent failure count (from every
/// address: what the slowdown grows with).
pub fn record_failure(
    conn: &mut DbConn,
    keys: &[Key],
    now: NaiveDateTime,
    max_failures: i32,
    lockout: Duration,
) -> Result<i32, DbError> {
    let mut account_failures = 0;
    for key in keys {
        // The row exists before it is read: two first failures at once on PostgreSQL would
        // otherwise both insert it, and the loser's unique violation would fail its login.
        crate::db::insert_throttle_row(conn, &key.name, now)?;
        let (failures, window_start): (i32, NaiveDateTime) = login_throttle::table
            .find(&key.name)
            .select((login_throttle::failures, login_throttle::window_start))
            .first(conn)?;
        let (failures, window_start) = if now - window_start < lockout {
            (failures + 1, window_start)
        } else {
            (1, now)
        };
        let locked_until = key
            .lock_factor
            .filter(|f| failures >= max_failures.saturating_mul(*f))
            .map(|_| now + lockout);
        diesel::update(login_throttle::table.find(&key.name))
            .set((
                login_throttle::failures.eq(failures),
                login_throttle::window_start.eq(window_start),
                login_throttle::locked_until.eq(locked_until),
            ))
            .execute(conn)?;
        if key.name.starts_with("user:") && !key.name.contains("|ip:") {
            account_failures = failures;
        }
    }
    Ok(account_failures)
}

/// Forgets the account's failures (from everywhere, and from this address) after a
/// successful login; the address's own count stays.
pub fn clear_account(conn: &mut DbConn, keys: &[Key]) -> Result<(), DbError> {
    let names: Vec<&str> = keys
        .iter()
        .map(|k| k.name.as_str())
        .filter(|n| n.starts_with("user:"))
        .collect();
    diesel::delete(login_throttle::table.filter(login_throttle::key.eq_any(names)))
        .execute(conn)?;
    Ok(())
}
