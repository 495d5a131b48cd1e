//! Database access: one connection type over PostgreSQL and SQLite, the pool, migrations,
//! and the few places where the two backends need different SQL.

mod pool;
pub mod schema;

use crate::config::{Config, DatabaseKind};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{Pool, PooledConnection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::time::Duration;

/// A connection to either backend; domain code only sees this type.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// Production database.
    Pg(PgConnection),
    /// Embedded default.
    Sqlite(SqliteConnection),
}

pub use pool::{Manager, Pooled};

/// Pool of [`DbConn`] (see [`pool`] for its checkout check).
pub type DbPool = Pool<Manager>;
/// A connection checked out of the pool; derefs to [`DbConn`].
pub type PooledConn = PooledConnection<Manager>;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Sets what every connection needs: SQLite's pragmas, PostgreSQL's time zone and no JIT.
///
/// SQLite reads the first GiB of the database file through a memory map (`mmap_size`)
/// instead of copying every page into each connection's own 2 MB cache with a system call: a
/// search that reads many rows ran 3.4 times faster under load (docs/OPERATIONS.md, "SQLite
/// reads through a memory map"). Writes still go through the file (SQLite maps read-only), so
/// a full disk is still `SQLITE_FULL`.
fn setup_connection(conn: &mut DbConn) -> Result<(), diesel::result::Error> {
    match conn {
        DbConn::Sqlite(c) => c.batch_execute(
            // busy_timeout first: switching to WAL takes a lock that the pool's other
            // connections, opening at the same moment, must wait for rather than fail on.
            "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA mmap_size = 1073741824;",
        ),
        // No JIT: it compiles a query whose estimated cost passes `jit_above_cost` to machine
        // code first, some 30 ms, where docflow's queries take a few. A correlated subquery's
        // estimate (a listing's row-by-row terms) passes it with no more real work to do: a
        // clerk's search page took 80 ms instead of 23 (docs/OPERATIONS.md).
        DbConn::Pg(c) => c.batch_execute("SET TIME ZONE 'UTC'; SET jit = off"),
    }
}

/// The database URL diesel understands, creating the SQLite folder when needed.
pub fn connection_url(cfg: &Config) -> anyhow::Result<String> {
    match cfg.database()? {
        DatabaseKind::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    anyhow::anyhow!("cannot create database folder {}: {e}", dir.display())
                })?;
            }
            Ok(path.to_string_lossy().into_owned())
        }
        DatabaseKind::Postgres(url) => Ok(url),
    }
}

/// Opens one connection (CLI commands, migrations).
pub fn connect(cfg: &Config) -> anyhow::Result<DbConn> {
    let url = connection_url(cfg)?;
    let mut conn = match cfg.database()? {
        DatabaseKind::Sqlite(_) => DbConn::Sqlite(SqliteConnection::establish(&url)?),
        DatabaseKind::Postgres(_) => DbConn::Pg(PgConnection::establish(&url)?),
    };
    setup_connection(&mut conn)?;
    Ok(conn)
}

/// Builds the pool; fails fast when the database cannot be reached.
pub fn pool(cfg: &Config) -> anyhow::Result<DbPool> {
    let url = connection_url(cfg)?;
    let pool = Pool::builder()
        .max_size(cfg.db_pool_size)
        .connection_timeout(Duration::from_secs(cfg.db_timeout_secs))
        .build(Manager::new(url))
        .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
    Ok(pool)
}

/// Applies pending migrations; returns the names applied.
pub fn migrate(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    let applied = match conn {
        DbConn::Pg(c) => c.run_pending_migrations(PG_MIGRATIONS),
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
    Ok(applied.iter().map(|v| v.to_string()).collect())
}

/// Reverts every migration (tests prove up → down → up works).
pub fn revert_all(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    let reverted = match conn {
        DbConn::Pg(c) => c.revert_all_migrations(PG_MIGRATIONS),
        DbConn::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(|e| anyhow::anyhow!("reverting migrations failed: {e}"))?;
    Ok(reverted.iter().map(|v| v.to_string()).collect())
}

/// How many times a PostgreSQL write transaction is run when it keeps failing with a
/// serialization failure (SQLSTATE 40001) before the caller gets the error (409
/// `concurrent_update`).
pub const WRITE_ATTEMPTS: u32 = 5;

/// An error that says the transaction lost a race the database would not serialise
/// (SQLSTATE 40001: a `SERIALIZABLE` conflict, CockroachDB's "restart transaction"): running
/// the same transaction again is the documented answer.
pub trait Contention {
    fn is_serialization_failure(&self) -> bool;
}

impl Contention for diesel::result::Error {
    fn is_serialization_failure(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
            Error::RollbackErrorOnCommit { commit_error, .. } => {
                commit_error.is_serialization_failure()
            }
            _ => false,
        }
    }
}

impl Contention for crate::error::ApiError {
    fn is_serialization_failure(&self) -> bool {
        matches!(self, crate::error::ApiError::Contention)
    }
}

/// The pause before attempt `attempt + 1` of a transaction that hit a serialization failure:
/// 2, 4, 8, 16 ms and a random part as large, so the transactions that collided do not
/// collide again in step.
fn contention_pause(attempt: u32) -> Duration {
    use rand::Rng;
    let base = 1u64 << attempt.min(6);
    Duration::from_millis(base + rand::thread_rng().gen_range(0..=base))
}

/// Runs `f` in a write transaction. On SQLite the transaction takes the write lock at BEGIN
/// (`BEGIN IMMEDIATE`), so concurrent writers wait on the busy timeout instead of failing
/// with SQLITE_BUSY when a read lock would have to be upgraded. On PostgreSQL a transaction
/// that fails with a serialization failure (SQLSTATE 40001, in its statements or at COMMIT) is
/// rolled back and run again, up to [`WRITE_ATTEMPTS`] times in all: `f` must do nothing
/// outside the transaction that a second run would repeat wrongly.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnMut(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error> + Contention,
{
    let result = write_tx_once(conn, f);
    // Whatever the outcome (a failed COMMIT may still have reached the database): this
    // node serves nothing from its caches until their feed has seen this transaction.
    crate::cache::committed();
    result
}

fn write_tx_once<T, E, F>(conn: &mut DbConn, mut f: F) -> Result<T, E>
where
    F: FnMut(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error> + Contention,
{
    match conn {
        DbConn::Pg(_) => {
            let mut attempt = 1;
            loop {
                match conn.transaction(&mut f) {
                    Err(e) if e.is_serialization_failure() && attempt < WRITE_ATTEMPTS => {
                        tracing::info!(
                            attempt,
                            "serialization failure (SQLSTATE 40001): the transaction runs again"
                        );
                        std::thread::sleep(contention_pause(attempt));
                        attempt += 1;
                    }
                    done => return done,
                }
            }
        }
        DbConn::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
            let result = f(conn);
            let DbConn::Sqlite(c) = conn else {
                // The closure cannot change the enum variant it was given.
                unreachable!("connection changed backend inside a transaction")
            };
            match result {
                Ok(v) => match AnsiTransactionManager::commit_transaction(c) {
                    Ok(()) => Ok(v),
                    Err(e) => {
                        let _ = AnsiTransactionManager::rollback_transaction(c);
                        Err(e.into())
                    }
                },
                Err(e) => {
                    AnsiTransactionManager::rollback_transaction(c)?;
                    Err(e)
                }
            }
        }
    }
}

/// Locks the audit chain's head row until the transaction ends (PostgreSQL); on SQLite the
/// immediate write transaction already serialises writers.
pub fn lock_audit_head(conn: &mut DbConn) -> Result<(), diesel::result::Error> {
    match conn {
        DbConn::Pg(c) => c.batch_execute("SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE"),
        DbConn::Sqlite(_) => Ok(()),
    }
}

/// Locks a workflow route's row until the transaction ends: `SELECT … FOR UPDATE` on
/// PostgreSQL, so two people acting on one route at once are served one after the other
/// and the second sees the first's result; on SQLite the immediate write transaction
/// already serialises writers. Call inside [`write_tx`].
pub fn lock_route(conn: &mut DbConn, route_id: &str) -> Result<(), diesel::result::Error> {
    use diesel::sql_types::Text;
    use diesel::RunQueryDsl;
    match conn {
        DbConn::Pg(c) => {
            diesel::sql_query("SELECT id FROM workflow_routes WHERE id = $1 FOR UPDATE")
                .bind::<Text, _>(route_id)
                .execute(c)?;
            Ok(())
        }
        DbConn::Sqlite(_) => Ok(()),
    }
}

/// Creates a login-throttle row with no failures unless it exists, and on PostgreSQL locks it
/// until the transaction ends (`ON CONFLICT DO NOTHING` then `SELECT … FOR UPDATE`), so that
/// simultaneous failures on one key neither collide on its primary key nor lose a count; on
/// SQLite the immediate write transaction serialises them already. Call inside [`write_tx`].
pub fn insert_throttle_row(
    conn: &mut DbConn,
    key: &str,
    now: chrono::NaiveDateTime,
) -> Result<(), diesel::result::Error> {
    use diesel::sql_types::{Text, Timestamp};
    use diesel::RunQueryDsl;
    match conn {
        DbConn::Pg(c) => {
            diesel::sql_query(
                "INSERT INTO login_throttle (key, failures, window_start) \
                 VALUES ($1, 0, $2) ON CONFLICT DO NOTHING",
            )
            .bind::<Text, _>(key)
            .bind::<Timestamp, _>(now)
            .execute(c)?;
            diesel::sql_query("SELECT key FROM login_throttle WHERE key = $1 FOR UPDATE")
                .bind::<Text, _>(key)
                .execute(c)?;
        }
        DbConn::Sqlite(c) => {
            diesel::sql_query(
                "INSERT INTO login_throttle (key, failures, window_start) \
                 VALUES (?, 0, ?) ON CONFLICT DO NOTHING",
            )
            .bind::<Text, _>(key)
            .bind::<Timestamp, _>(now)
            .execute(c)?;
        }
    }
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct LastNumber {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    last_number: i64,
}

/// Takes the next number of a register's series and year, holding the counter row locked
/// until the surrounding transaction ends: on PostgreSQL `SELECT … FOR UPDATE` (so server
/// processes sharing the database queue on the row), on SQLite the immediate write
/// transaction. Call inside [`write_tx`]; a rollback gives the number back, so none is lost.
pub fn next_register_number(
    conn: &mut DbConn,
    register_id: &str,
    series: &str,
    year: i32,
) -> Result<i64, diesel::result::Error> {
    use diesel::sql_types::{Integer, Text};
    use diesel::RunQueryDsl;
    let current = match conn {
        DbConn::Pg(c) => {
            diesel::sql_query(
                "INSERT INTO register_counters (register_id, series, year, last_number) \
                 VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING",
            )
            .bind::<Text, _>(register_id)
            .bind::<Text, _>(series)
            .bind::<Integer, _>(year)
            .execute(c)?;
            diesel::sql_query(
                "SELECT last_number FROM register_counters \
                 WHERE register_id = $1 AND series = $2 AND year = $3 FOR UPDATE",
            )
            .bind::<Text, _>(register_id)
            .bind::<Text, _>(series)
            .bind::<Integer, _>(year)
            .get_result::<LastNumber>(c)?
        }
        DbConn::Sqlite(c) => {
            diesel::sql_query(
                "INSERT INTO register_counters (register_id, series, year, last_number) \
                 VALUES (?, ?, ?, 0) ON CONFLICT DO NOTHING",
            )
            .bind::<Text, _>(register_id)
            .bind::<Text, _>(series)
            .bind::<Integer, _>(year)
            .execute(c)?;
            diesel::sql_query(
                "SELECT last_number FROM register_counters \
                 WHERE register_id = ? AND series = ? AND year = ?",
            )
            .bind::<Text, _>(register_id)
            .bind::<Text, _>(series)
            .bind::<Integer, _>(year)
            .get_result::<LastNumber>(c)?
        }
    };
    let next = current.last_number + 1;
    use crate::db::schema::register_counters as rc;
    use diesel::prelude::*;
    diesel::update(
        rc::table.filter(
            rc::register_id
                .eq(register_id)
                .and(rc::series.eq(series))
                .and(rc::year.eq(year)),
        ),
    )
    .set(rc::last_number.eq(next))
    .execute(conn)?;
    Ok(next)
}

/// Records a blob unless a row for the same content exists — also when another transaction
/// inserts it at the same moment (`ON CONFLICT DO NOTHING`; a check-then-insert would fail
/// one of two concurrent uploads of the same file on PostgreSQL).
pub fn insert_blob_if_missing(
    conn: &mut DbConn,
    sha256: &str,
    size: i64,
    at: chrono::NaiveDateTime,
) -> Result<(), diesel::result::Error> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    use diesel::RunQueryDsl;
    match conn {
        DbConn::Pg(c) => diesel::sql_query(
            "INSERT INTO blobs (sha256, size, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind::<Text, _>(sha256)
        .bind::<BigInt, _>(size)
        .bind::<Timestamp, _>(at)
        .execute(c)?,
        DbConn::Sqlite(c) => diesel::sql_query(
            "INSERT INTO blobs (sha256, size, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind::<Text, _>(sha256)
        .bind::<BigInt, _>(size)
        .bind::<Timestamp, _>(at)
        .execute(c)?,
    };
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct ClaimedId {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// The notifications that tell of something a person did, as an SQL condition: every kind but
/// those the clock writes (the deadline scan's reminders, overdue notices and escalations, and
/// the daily digests). They are claimed first. The same text is the predicate of the partial index
/// `notifications_people_due_idx` (migration `notification_priority`): change both together.
pub const PEOPLE_KINDS_SQL: &str =
    "kind NOT IN ('task_reminder', 'task_overdue', 'task_escalated', 'digest')";

/// Claims up to `limit` due notifications for one sender: each gets a lease until
/// `lease_until` (after which, if the sender died, it is due again), one more attempt, and its
/// Message-ID if it has none (`<id@domain>`, kept for every resend). What a person did goes
/// first: the due rows [`PEOPLE_KINDS_SQL`] takes, oldest first, then the rest (the clock's
/// reminders and digests), oldest first, so a backlog of reminders never holds back the notice
/// of a task assigned a moment ago. On PostgreSQL the rows are picked with
/// `FOR UPDATE SKIP LOCKED`, so senders in several processes never take the same row; on SQLite
/// the immediate write transaction serialises them. Call inside [`write_tx`].
pub fn claim_notifications(
    conn: &mut DbConn,
    now: chrono::NaiveDateTime,
    lease_until: chrono::NaiveDateTime,
    limit: i64,
    domain: &str,
) -> Result<Vec<String>, diesel::result::Error> {
    let mut ids = claim_due(conn, now, lease_until, limit, domain, true)?;
    let rest = limit - ids.len() as i64;
    if rest > 0 {
        // The rows just claimed have a lease past `now`: the second pass does not see them.
        ids.extend(claim_due(conn, now, lease_until, rest, domain, false)?);
    }
    Ok(ids)
}

/// One pass of [`claim_notifications`]: people's notices only (`people_only`), or every kind.
fn claim_due(
    conn: &mut DbConn,
    now: chrono::NaiveDateTime,
    lease_until: chrono::NaiveDateTime,
    limit: i64,
    domain: &str,
    people_only: bool,
) -> Result<Vec<String>, diesel::result::Error> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    use diesel::RunQueryDsl;
    let kinds = if people_only {
        format!("AND {PEOPLE_KINDS_SQL} ")
    } else {
        String::new()
    };
    // SQLite's planner prefers `notifications_due_idx` even after ANALYZE, walking the backlog;
    // `INDEXED BY` names the partial index (and fails the statement if its predicate stopped
    // matching, rather than silently walking).
    let sqlite_index = if people_only {
        "INDEXED BY notifications_people_due_idx "
    } else {
        ""
    };
    let rows = match conn {
        DbConn::Pg(c) => diesel::sql_query(format!(
            "UPDATE notifications SET claimed_until = $1, attempts = attempts + 1, \
               message_id = COALESCE(message_id, '<' || id || '@' || $2 || '>') \
             WHERE id IN (SELECT id FROM notifications \
               WHERE state = 'pending' {kinds}AND due_at <= $3 \
                 AND (claimed_until IS NULL OR claimed_until <= $3) \
               ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING id"
        ))
        .bind::<Timestamp, _>(lease_until)
        .bind::<Text, _>(domain)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load::<ClaimedId>(c)?,
        DbConn::Sqlite(c) => diesel::sql_query(format!(
            "UPDATE notifications SET claimed_until = ?, attempts = attempts + 1, \
               message_id = COALESCE(message_id, '<' || id || '@' || ? || '>') \
             WHERE id IN (SELECT id FROM notifications {sqlite_index}\
               WHERE state = 'pending' {kinds}AND due_at <= ? \
                 AND (claimed_until IS NULL OR claimed_until <= ?) \
               ORDER BY due_at LIMIT ?) \
             RETURNING id"
        ))
        .bind::<Timestamp, _>(lease_until)
        .bind::<Text, _>(domain)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load::<ClaimedId>(c)?,
    };
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Lets the surrounding transaction commit without waiting for its WAL flush (PostgreSQL
/// `synchronous_commit = off`, for this transaction only; nothing on SQLite). For writes whose
/// loss in a database crash is harmless: the row goes back to its previous state, never to a
/// wrong one. Call inside [`write_tx`].
pub fn relaxed_commit(conn: &mut DbConn) -> Result<(), diesel::result::Error> {
    match conn {
        DbConn::Pg(c) => c.batch_execute("SET LOCAL synchronous_commit = off"),
        DbConn::Sqlite(_) => Ok(()),
    }
}

/// When the database server started: PostgreSQL's `pg_postmaster_start_time()`, which changes
/// with a crash, a restart or a failover to a replica, when commits made with
/// [`relaxed_commit`] may have been lost. `None` on SQLite, whose commits are never relaxed.
pub fn server_started(conn: &mut DbConn) -> Result<Option<String>, diesel::result::Error> {
    #[derive(diesel::QueryableByName)]
    struct Started {
        #[diesel(sql_type = diesel::sql_types::Text)]
        at: String,
    }
    use diesel::RunQueryDsl;
    match conn {
        DbConn::Pg(c) => diesel::sql_query("SELECT pg_postmaster_start_time()::text AS at")
            .get_result::<Started>(c)
            .map(|s| Some(s.at)),
        DbConn::Sqlite(_) => Ok(None),
    }
}

/// Whether the database answers and holds docflow's schema: the audit chain's head row, which
/// migrations and the first start create (an empty database, or one whose tables are gone,
/// is not ready). On PostgreSQL the query gives up after `timeout` (`statement_timeout`), so a
/// database that hangs frees the pool's connection too.
pub fn ready(conn: &mut DbConn, timeout: std::time::Duration) -> bool {
    use crate::db::schema::audit_head;
    use diesel::prelude::*;
    let probe = |conn: &mut DbConn| {
        audit_head::table
            .filter(audit_head::id.eq(1))
            .select(audit_head::last_seq)
            .first::<i64>(conn)
    };
    match conn {
        DbConn::Pg(_) => conn
            .transaction(|conn| {
                conn.batch_execute(&format!(
                    "SET LOCAL statement_timeout = {}",
                    timeout.as_millis().max(1)
                ))?;
                probe(conn)
            })
            .is_ok(),
        DbConn::Sqlite(_) => probe(conn).is_ok(),
    }
}

/// Current UTC time at the precision both backends store (microseconds), so values
/// read back compare equal to what was written.
pub fn now() -> chrono::NaiveDateTime {
    let t = chrono::Utc::now().naive_utc();
    truncate_micros(t)
}

/// Drops sub-microsecond digits.
pub fn truncate_micros(t: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
    use chrono::Timelike;
    let nanos = t.nanosecond() / 1000 * 1000;
    t.with_nanosecond(nanos).unwrap_or(t)
}
