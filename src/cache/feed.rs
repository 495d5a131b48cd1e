//! Following the database's change feed (see [`super`]): one thread per node, on a connection
//! of its own, that applies every name it reads to the caches and confirms local writes.
//!
//! - **PostgreSQL:** `LISTEN docflow_cache`; every [`POLL`] (every [`IDLE_POLL`] when
//!   nothing arrived for [`BUSY_FOR`]) the thread takes what arrived.
//!   To confirm local writes, when a reader asks (it met one unconfirmed), it sends a
//!   barrier, `b:<this follower>:<n>`, on the same channel: PostgreSQL delivers
//!   notifications in commit order, so when the barrier comes back every name of every
//!   transaction committed before it was sent has been applied.
//!   A barrier goes out at least every [`HEARTBEAT`] too: one not back within
//!   [`BARRIER_TIMEOUT`] means the connection is gone in a way the socket did not show.
//! - **SQLite:** one writer at a time, so `cache_feed.seq` grows in commit order: the thread
//!   reads the rows after the last it applied; a read begun after a local commit sees that
//!   commit's rows, so it confirms every local write counted before it began. It deletes
//!   the rows it applied [`PRUNE_AFTER`] later (a second server on the same file, which is
//!   not how SQLite is meant to be served, would have that long to read them).
//!
//! On any error the caches are dropped and closed ([`super::Caches::lose`]), and the thread
//! connects again after [`RETRY`].

use super::{local_writes, take_wanted, wait_for_reader, Caches, ReadCache};
use crate::config::{Config, DatabaseKind};
use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// The pause between two reads of the feed while names arrive (or arrived in the last
/// [`BUSY_FOR`]) or a barrier is out. A reader waiting for a confirmation ends any pause at
/// once.
pub const POLL: Duration = Duration::from_millis(1);
/// The pause between two reads of a quiet feed: a node reading every millisecond for
/// nothing took 2% of a core (docs/OPERATIONS.md, "Sessions and inboxes from memory").
pub const IDLE_POLL: Duration = Duration::from_millis(5);
/// How long after the last name or barrier the feed counts as busy.
pub const BUSY_FOR: Duration = Duration::from_millis(200);

/// The pause before the next read, `last` being when the feed was last busy.
fn pause(last: Instant) -> Duration {
    if last.elapsed() < BUSY_FOR {
        POLL
    } else {
        IDLE_POLL
    }
}
/// PostgreSQL: a barrier goes out at least this often.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// PostgreSQL: a barrier not back within this long means the feed is lost.
pub const BARRIER_TIMEOUT: Duration = Duration::from_secs(2);
/// The pause before connecting again after the feed was lost.
pub const RETRY: Duration = Duration::from_millis(500);
/// SQLite: rows of the feed are deleted this long after they were applied.
pub const PRUNE_AFTER: Duration = Duration::from_secs(30);
/// PostgreSQL: the share of the notification queue in use (`pg_notification_queue_usage()`)
/// from which every node warns, every [`QUEUE_CHECK`]. Only a listener that stopped reading
/// fills it (a node stopped or frozen with its connection open); full, every writing
/// transaction of the database fails.
pub const QUEUE_WARN: f64 = 0.05;
/// PostgreSQL: how often a node looks at the notification queue.
pub const QUEUE_CHECK: Duration = Duration::from_secs(10);
/// The channel of PostgreSQL's notifications (migration `cache_feed`).
const CHANNEL: &str = "docflow_cache";
/// PostgreSQL: the listening connection's `application_name` (`pg_stat_activity`).
pub const APPLICATION_NAME: &str = "docflow-cache-feed";

/// Starts following the feed of the configured database, unless `read_cache` is off (the
/// caches then stay closed). The thread ends when the caches are dropped.
pub fn start(caches: &ReadCache, cfg: &Config) -> anyhow::Result<()> {
    if !cfg.read_cache {
        tracing::info!("read_cache is off: sessions and inboxes are read from the database");
        return Ok(());
    }
    let url = crate::db::connection_url(cfg)?;
    let postgres = matches!(cfg.database()?, DatabaseKind::Postgres(_));
    let weak = Arc::downgrade(caches);
    std::thread::Builder::new()
        .name("cache-feed".into())
        .spawn(move || run(weak, &url, postgres))?;
    Ok(())
}

/// Why following stopped.
enum Stop {
    /// The caches were dropped: the thread ends.
    Dropped,
    /// The feed was lost: connect again.
    Lost(String),
}

impl From<diesel::result::Error> for Stop {
    fn from(e: diesel::result::Error) -> Self {
        Stop::Lost(e.to_string())
    }
}

impl From<diesel::ConnectionError> for Stop {
    fn from(e: diesel::ConnectionError) -> Self {
        Stop::Lost(e.to_string())
    }
}

fn run(weak: Weak<Caches>, url: &str, postgres: bool) {
    // Whether the loss was already told: one warning per outage, not one per retry.
    let mut told = false;
    loop {
        let outcome = match if postgres {
            follow_postgres(&weak, url, &mut told)
        } else {
            follow_sqlite(&weak, url, &mut told)
        } {
            Ok(never) => match never {},
            Err(stop) => stop,
        };
        let Some(caches) = weak.upgrade() else {
            return;
        };
        caches.lose();
        drop(caches);
        match outcome {
            Stop::Dropped => return,
            Stop::Lost(why) if !told => {
                told = true;
                tracing::warn!(%why, "the cache feed is lost: sessions and inboxes are read from the database until it is followed again");
            }
            Stop::Lost(why) => tracing::debug!(%why, "the cache feed is still lost"),
        }
        std::thread::sleep(RETRY);
    }
}

/// Logs that the feed is followed (again), and resets the one warning per outage.
fn following(what: &str, told: &mut bool) {
    if std::mem::take(told) {
        tracing::info!("following the cache feed again ({what})");
    } else {
        tracing::info!("following the cache feed ({what})");
    }
}

fn caches(weak: &Weak<Caches>) -> Result<ReadCache, Stop> {
    weak.upgrade().ok_or(Stop::Dropped)
}

/// Follows PostgreSQL's notifications until the feed is lost or the caches dropped.
fn follow_postgres(
    weak: &Weak<Caches>,
    url: &str,
    told: &mut bool,
) -> Result<std::convert::Infallible, Stop> {
    let mut conn = PgConnection::establish(url)?;
    conn.batch_execute(&format!(
        "SET application_name = '{APPLICATION_NAME}'; LISTEN {CHANNEL}"
    ))?;
    let me: u64 = rand::random();
    let mine = format!("b:{me}:");
    caches(weak)?.follow();
    following("PostgreSQL notifications", told);
    // The barrier out: its number, the local writes it confirms, when it went.
    let mut in_flight: Option<(u64, u64, Instant)> = None;
    let mut sent = 0u64;
    let mut last_sent = Instant::now();
    let mut busy = Instant::now();
    let mut queue_checked = Instant::now();
    loop {
        if queue_checked.elapsed() >= QUEUE_CHECK {
            queue_checked = Instant::now();
            warn_of_a_full_queue(&mut conn)?;
        }
        let caches = caches(weak)?;
        let mut names = Vec::new();
        let mut back = None;
        for n in conn.notifications_iter() {
            let n = n?;
            match n.payload.strip_prefix("b:") {
                None => names.push(n.payload),
                Some(_) => {
                    if let Some(Ok(number)) = n.payload.strip_prefix(&mine).map(str::parse::<u64>) {
                        back = Some(number);
                    }
                }
            }
        }
        if !names.is_empty() {
            caches.apply(&names);
            busy = Instant::now();
        }
        if let (Some(number), Some((out, local, _))) = (back, in_flight) {
            if number == out {
                caches.confirm(local);
                in_flight = None;
            }
        }
        match in_flight {
            Some((_, _, at)) if at.elapsed() > BARRIER_TIMEOUT => {
                return Err(Stop::Lost(format!(
                    "a barrier did not come back within {BARRIER_TIMEOUT:?}"
                )));
            }
            Some(_) => {}
            None => {
                let local = local_writes();
                let behind = local
                    > caches
                        .coherence
                        .confirmed
                        .load(std::sync::atomic::Ordering::SeqCst);
                // A reader waits for this node's writes to be confirmed, or it is time to
                // show the connection still carries notifications.
                let wanted = take_wanted();
                if (behind && wanted) || last_sent.elapsed() >= HEARTBEAT {
                    sent += 1;
                    diesel::sql_query("SELECT pg_notify($1, $2)")
                        .bind::<Text, _>(CHANNEL)
                        .bind::<Text, _>(format!("{mine}{sent}"))
                        .execute(&mut conn)?;
                    in_flight = Some((sent, local, Instant::now()));
                    last_sent = Instant::now();
                }
            }
        }
        drop(caches);
        if in_flight.is_some() {
            std::thread::sleep(POLL);
        } else {
            wait_for_reader(pause(busy));
        }
    }
}

#[derive(QueryableByName)]
struct QueueUsage {
    #[diesel(sql_type = diesel::sql_types::Double)]
    usage: f64,
}

/// Warns when PostgreSQL's notification queue is [`QUEUE_WARN`] full or more, and says how
/// to find the listener that holds it.
fn warn_of_a_full_queue(conn: &mut PgConnection) -> Result<(), diesel::result::Error> {
    let usage = diesel::sql_query("SELECT pg_notification_queue_usage() AS usage")
        .get_result::<QueueUsage>(conn)?
        .usage;
    if usage >= QUEUE_WARN {
        tracing::warn!(
            percent = format!("{:.1}", usage * 100.0),
            "PostgreSQL's notification queue is filling: a connection listening on \
             '{CHANNEL}' stopped reading (a docflow node stopped or frozen with its connection \
             open?). Find it in pg_stat_activity (application_name = '{APPLICATION_NAME}', \
             state idle for long) and end it (stop the node, or pg_terminate_backend). When \
             the queue is full every writing transaction fails."
        );
    }
    Ok(())
}

#[derive(QueryableByName)]
struct FeedRow {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    key: String,
}

#[derive(QueryableByName)]
struct Max {
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

/// Rows read from SQLite's feed at once.
const BATCH: i64 = 10_000;

/// Follows SQLite's `cache_feed` table until the feed is lost or the caches dropped.
fn follow_sqlite(
    weak: &Weak<Caches>,
    url: &str,
    told: &mut bool,
) -> Result<std::convert::Infallible, Stop> {
    let mut conn = SqliteConnection::establish(url)?;
    // Reads never wait in WAL mode; a prune that finds the writer busy tries again later.
    conn.batch_execute("PRAGMA busy_timeout = 100")?;
    let mut last = diesel::sql_query("SELECT coalesce(max(seq), 0) AS seq FROM cache_feed")
        .get_result::<Max>(&mut conn)?
        .seq;
    caches(weak)?.follow();
    following("SQLite's cache_feed table", told);
    // (when applied, the last row applied then): what may be deleted once PRUNE_AFTER passed.
    let mut applied: std::collections::VecDeque<(Instant, i64)> = Default::default();
    let mut busy = Instant::now();
    loop {
        let caches = caches(weak)?;
        // This read confirms every local write counted before it begins.
        take_wanted();
        let local = local_writes();
        let rows: Vec<FeedRow> =
            diesel::sql_query("SELECT seq, key FROM cache_feed WHERE seq > ? ORDER BY seq LIMIT ?")
                .bind::<BigInt, _>(last)
                .bind::<BigInt, _>(BATCH)
                .load(&mut conn)?;
        let full = rows.len() as i64 == BATCH;
        if let Some(end) = rows.last() {
            last = end.seq;
            let names: Vec<String> = rows.into_iter().map(|r| r.key).collect();
            caches.apply(&names);
            applied.push_back((Instant::now(), last));
            busy = Instant::now();
        }
        if full {
            // More to read before this read can confirm anything.
            continue;
        }
        caches.confirm(local);
        drop(caches);
        let mut upto = None;
        while let Some(&(at, seq)) = applied.front() {
            if at.elapsed() < PRUNE_AFTER {
                break;
            }
            upto = Some((at, seq));
            applied.pop_front();
        }
        if let Some((at, seq)) = upto {
            if let Err(e) = diesel::sql_query("DELETE FROM cache_feed WHERE seq <= ?")
                .bind::<BigInt, _>(seq)
                .execute(&mut conn)
            {
                // Busy: the next prune deletes these too.
                tracing::debug!(error = %e, "pruning the cache feed: later");
                applied.push_front((at, seq));
            }
        }
        wait_for_reader(pause(busy));
    }
}
