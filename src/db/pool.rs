//! The connection pool: r2d2 over [`DbConn`], with a check on checkout that costs a round trip
//! only when it may find something.
//!
//! r2d2's own check (`test_on_check_out`) sends `SELECT 1` before every use: on PostgreSQL a
//! loopback round trip per request (two for an authenticated one: the token, then the
//! handler), about a fifth of the statements of a typical read. A connection that was in use a
//! moment ago is almost never dead, so the check here pings only
//! - a connection that rested at least [`REST_BEFORE_PING`] (the database may have restarted,
//!   a firewall may have dropped it), and
//! - every connection for [`SUSPECT_FOR`] after any use of one failed in a way that may mean the
//!   server went away ([`Pooled::discard`]): its siblings were most likely cut at the same time.
//!
//! A connection whose use failed that way is not put back ([`Pooled::discard`]). What is given
//! up: when the database goes away between two uses less than a second apart, the request that
//! meets the dead connection first answers 503 `service_unavailable` (retry) instead of being
//! served on a new one; the next requests find fresh connections.

use super::{setup_connection, DbConn};
use diesel::r2d2::{ConnectionManager, ManageConnection, R2D2Connection};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connection idle this long is pinged before it is handed out.
pub const REST_BEFORE_PING: Duration = Duration::from_secs(1);
/// After a lost connection, every checkout pings for this long.
pub const SUSPECT_FOR: Duration = Duration::from_secs(10);

/// What the pool's connections share: until when every checkout pings.
#[derive(Debug)]
struct Health {
    epoch: Instant,
    /// Milliseconds after `epoch`; 0 when nothing was lost yet.
    suspect_until_ms: AtomicU64,
}

impl Health {
    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn suspect(&self) {
        let until = self.millis(Instant::now() + SUSPECT_FOR);
        self.suspect_until_ms.fetch_max(until, Ordering::Relaxed);
    }

    fn is_suspect(&self, now: Instant) -> bool {
        self.millis(now) < self.suspect_until_ms.load(Ordering::Relaxed)
    }
}

/// A pooled connection: the [`DbConn`] (through `Deref`), when it was last given back, and
/// whether it must not be given out again.
pub struct Pooled {
    conn: DbConn,
    returned_at: Instant,
    lost: bool,
    health: Arc<Health>,
}

impl Pooled {
    /// Keeps this connection out of the pool when it is given back, and has the pool ping every
    /// connection for a while: a use failed in a way that may mean the server went away.
    pub fn discard(&mut self) {
        self.lost = true;
        self.health.suspect();
    }
}

impl std::ops::Deref for Pooled {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.conn
    }
}

/// diesel's connection manager, with the backend's settings applied to each new connection
/// and the cheaper checkout check above.
#[derive(Debug)]
pub struct Manager {
    inner: ConnectionManager<DbConn>,
    health: Arc<Health>,
}

impl Manager {
    /// A manager of connections to `url`.
    pub fn new(url: String) -> Manager {
        Manager {
            inner: ConnectionManager::new(url),
            health: Arc::new(Health {
                epoch: Instant::now(),
                suspect_until_ms: AtomicU64::new(0),
            }),
        }
    }
}

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Pooled, Self::Error> {
        let mut conn = self.inner.connect()?;
        setup_connection(&mut conn).map_err(diesel::r2d2::Error::QueryError)?;
        Ok(Pooled {
            conn,
            returned_at: Instant::now(),
            lost: false,
            health: self.health.clone(),
        })
    }

    fn is_valid(&self, c: &mut Pooled) -> Result<(), Self::Error> {
        let now = Instant::now();
        if now.saturating_duration_since(c.returned_at) >= REST_BEFORE_PING
            || self.health.is_suspect(now)
        {
            c.conn.ping().map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }

    fn has_broken(&self, c: &mut Pooled) -> bool {
        // Called by r2d2 when the connection is given back: the start of its rest.
        c.returned_at = Instant::now();
        c.lost || self.inner.has_broken(&mut c.conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspicion_lasts_its_time_and_only_grows() {
        let h = Health {
            epoch: Instant::now(),
            suspect_until_ms: AtomicU64::new(0),
        };
        let now = Instant::now();
        assert!(!h.is_suspect(now), "nothing lost yet");
        h.suspect();
        assert!(h.is_suspect(now));
        assert!(h.is_suspect(now + SUSPECT_FOR - Duration::from_millis(50)));
        assert!(!h.is_suspect(now + SUSPECT_FOR + Duration::from_millis(50)));
        // A later loss extends it; an earlier deadline never shortens it.
        h.suspect_until_ms
            .store(h.millis(now + SUSPECT_FOR * 3), Ordering::Relaxed);
        h.suspect();
        assert!(h.is_suspect(now + SUSPECT_FOR * 2));
    }

    #[test]
    fn a_connection_is_pinged_after_a_rest_or_a_loss_only() {
        use diesel::connection::{Connection, InstrumentationEvent};
        use std::sync::atomic::AtomicUsize;
        let dir = tempfile::tempdir().expect("tempdir");
        let url = dir.path().join("p.db").to_string_lossy().into_owned();
        let m = Manager::new(url);
        let mut c = m.connect().expect("connect");
        let pings = Arc::new(AtomicUsize::new(0));
        let seen = pings.clone();
        c.conn
            .set_instrumentation(move |event: InstrumentationEvent<'_>| {
                if let InstrumentationEvent::StartQuery { query, .. } = event {
                    if query.to_string().starts_with("SELECT 1") {
                        seen.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        let pinged = || pings.load(Ordering::Relaxed);

        // Given back a moment ago: handed out without a round trip.
        assert!(!m.has_broken(&mut c));
        m.is_valid(&mut c).expect("valid");
        assert_eq!(pinged(), 0);
        // Rested: pinged.
        c.returned_at = Instant::now() - REST_BEFORE_PING - Duration::from_millis(10);
        m.is_valid(&mut c).expect("valid");
        assert_eq!(pinged(), 1);
        // Another connection's use failed: this one is pinged too, though it just came back,
        // and the failed one is not put back.
        let mut other = m.connect().expect("connect");
        other.discard();
        assert!(
            m.has_broken(&mut other),
            "a discarded connection is not put back"
        );
        assert!(!m.has_broken(&mut c));
        m.is_valid(&mut c).expect("valid");
        assert_eq!(pinged(), 2);
    }
}
