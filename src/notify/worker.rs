//! The senders: `notify_workers` threads that claim due outbox rows, send them and record the
//! outcome, and one scheduler thread that assembles digests and writes deadline reminders.
//!
//! A row is marked `sent` only after the SMTP server accepted it. When the database goes away
//! between the acceptance and the mark, the sender keeps the mark in memory and writes it as
//! soon as the database is back, before it claims anything else, so the message is not sent
//! again when its lease ends. Only a sender that dies in that window leaves the row leased; when
//! the lease ends another sender sends it again with the same Message-ID, so the duplicate is
//! recognisable.

use super::model::NotificationRow;
use super::queries;
use super::schedule::{self, AppClock, Clock, SendRate};
use super::service;
use super::templates::{self, RenderContext};
use super::transport::{self, Session, Transport};
use crate::config::Config;
use crate::db::{self, DbConn, DbPool};
use lettre::message::Mailbox;
use rand::Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Tells the threads to stop and wakes them from their wait.
#[derive(Default)]
struct Stop {
    flag: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Stop {
    fn stopping(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Waits up to `d`; true when asked to stop.
    fn wait(&self, d: Duration) -> bool {
        let guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.stopping() {
            return true;
        }
        let _ = self
            .cv
            .wait_timeout(guard, d)
            .unwrap_or_else(|p| p.into_inner());
        self.stopping()
    }

    fn stop(&self) {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.flag.store(true, Ordering::SeqCst);
        self.cv.notify_all();
    }
}

/// The running senders; [`Notifier::stop`] ends them.
pub struct Notifier {
    stop: Arc<Stop>,
    threads: Vec<JoinHandle<()>>,
    sender: Option<Arc<Sender>>,
}

impl Notifier {
    /// Asks every thread to stop after the message it is sending, gives claimed but unsent rows
    /// back, and waits for the threads (blocking).
    pub fn stop(self) {
        self.stop.stop();
        for t in self.threads {
            let _ = t.join();
        }
        // A last try at the marks the database was away for; left unwritten, their rows are
        // sent again (same Message-ID) when their leases end.
        if let Some(s) = self.sender {
            let result = s
                .pool
                .get()
                .map_err(anyhow::Error::from)
                .and_then(|mut conn| s.record_unrecorded(&mut conn));
            if let Err(e) = result {
                tracing::error!(error = %e, "notifications sent but not recorded: they will be sent again");
            }
        }
        tracing::info!("notification senders stopped");
    }
}

/// What a sender needs.
struct Sender {
    pool: DbPool,
    config: Arc<Config>,
    transport: Transport,
    from: Mailbox,
    domain: String,
    stop: Arc<Stop>,
    /// The file store, for attachments (a local folder or S3, as the server's).
    blobs: crate::storage::BlobStore,
    /// Rows the SMTP server accepted whose `sent` mark could not be written (the database went
    /// away in between), with the time of acceptance: written before anything is claimed again.
    unrecorded: Mutex<Vec<(String, chrono::NaiveDateTime)>>,
    /// `notify_rate`, shared by this process's senders; `None`: no limit.
    rate: Option<Mutex<SendRate>>,
}

/// Starts the senders and the scheduler (nothing when `notify_workers` is 0).
pub fn start(
    pool: DbPool,
    config: Arc<Config>,
    clock: Arc<AppClock>,
    blobs: crate::storage::BlobStore,
) -> anyhow::Result<Notifier> {
    let stop = Arc::new(Stop::default());
    let mut threads = Vec::new();
    let workers = config.notify_workers;
    if workers == 0 {
        tracing::info!("notify_workers is 0: this process sends no notifications");
        return Ok(Notifier {
            stop,
            threads,
            sender: None,
        });
    }
    let mail = config.mail().map_err(anyhow::Error::msg)?;
    let transport = Transport::new(&mail)?;
    let from: Mailbox = config
        .smtp_from
        .parse()
        .map_err(|e| anyhow::anyhow!("DOCFLOW_SMTP_FROM: {e}"))?;
    let domain = transport::domain_of(from.email.as_ref());
    let sender = Arc::new(Sender {
        pool: pool.clone(),
        config: config.clone(),
        transport,
        from,
        domain,
        stop: stop.clone(),
        blobs,
        unrecorded: Mutex::new(Vec::new()),
        rate: (config.notify_rate > 0)
            .then(|| Mutex::new(SendRate::new(config.notify_rate, std::time::Instant::now()))),
    });
    for n in 0..workers {
        let s = sender.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("notify-{n}"))
                .spawn(move || supervised(&s.stop, || s.run()))?,
        );
    }
    let s = sender.clone();
    threads.push(
        std::thread::Builder::new()
            .name("notify-scheduler".into())
            .spawn(move || supervised(&s.stop, || scheduler(&s, clock.as_ref())))?,
    );
    tracing::info!(workers, smtp = %describe(&config), "notification senders started");
    Ok(Notifier {
        stop,
        threads,
        sender: Some(sender),
    })
}

/// Runs `body` until it returns; a panic is logged and `body` starts again (after a second,
/// so a panic on every start does not spin), so one bad row or bug never stops the mail.
fn supervised(stop: &Stop, body: impl Fn()) {
    loop {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(&body)) {
            Ok(()) => return,
            Err(panic) => {
                let thread = std::thread::current();
                tracing::error!(
                    thread = thread.name().unwrap_or("notify"),
                    panic = %panic_text(panic.as_ref()),
                    "notification thread panicked; restarting it"
                );
                if stop.wait(Duration::from_secs(1)) {
                    return;
                }
            }
        }
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

fn describe(cfg: &Config) -> String {
    if cfg.smtp_url.is_empty() {
        format!("files in {}", cfg.data_dir.join("outbox").display())
    } else {
        crate::config::mail::SmtpTarget::parse(&cfg.smtp_url)
            .map(|t| format!("{}:{} ({:?})", t.host, t.port, t.security))
            .unwrap_or_default()
    }
}

/// Every `notify_poll_ms`: hourly digests due, and every `deadline_scan_secs` (at every poll
/// with a manual clock) the reminders, overdue notices and escalations of the open tasks. The
/// scan reads every open task with a deadline; the notices it has already written are
/// remembered ([`service::KnownNotices`]), so a scan writes only what newly fell due.
fn scheduler(s: &Sender, clock: &dyn Clock) {
    let every = Duration::from_millis(s.config.notify_poll_ms);
    let scan_every = Duration::from_secs(s.config.deadline_scan_secs);
    let mut last_scan: Option<std::time::Instant> = None;
    let mut known = service::KnownNotices::default();
    loop {
        if s.stop.wait(every) {
            break;
        }
        let scan = clock.is_manual() || last_scan.is_none_or(|t| t.elapsed() >= scan_every);
        let result = s
            .pool
            .get()
            .map_err(|e| e.to_string())
            .and_then(|mut conn| {
                let result = scheduler_step(s, &mut conn, clock, scan, &mut known);
                if result.is_err() {
                    // The database may have gone away: not put back in the pool.
                    conn.discard();
                }
                result
            });
        if result.is_ok() && scan {
            last_scan = Some(std::time::Instant::now());
        }
        if let Err(e) = result {
            tracing::warn!(error = %e, "notification scheduler");
        }
    }
}

/// One round of the scheduler: the digests due, and the deadline scan when `scan`.
fn scheduler_step(
    s: &Sender,
    conn: &mut DbConn,
    clock: &dyn Clock,
    scan: bool,
    known: &mut service::KnownNotices,
) -> Result<(), String> {
    let now = clock.now();
    service::assemble_digests(conn, now).map_err(|e| e.to_string())?;
    if !scan {
        return Ok(());
    }
    known.on_server(db::server_started(conn).map_err(|e| e.to_string())?);
    let tasks = service::open_tasks(conn, now).map_err(|e| e.to_string())?;
    service::scan_deadlines_with(
        conn,
        now,
        s.config.reminder_lead_hours,
        &s.config.calendar(),
        &tasks,
        known,
    )
    .map(drop)
    .map_err(|e| e.to_string())
}

impl Sender {
    fn run(&self) {
        let idle = Duration::from_millis(self.config.notify_poll_ms);
        let mut session = self.transport.session();
        // The file store is async (object_store): a small runtime of this thread's own reads
        // the attachments.
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "notification sender: no runtime for the file store");
                return;
            }
        };
        while !self.stop.stopping() {
            match self.batch(&mut session, &rt) {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "notification sender"),
            }
            if self.stop.wait(idle) {
                break;
            }
        }
    }

    /// Claims and sends one batch; returns how many rows were claimed. A connection whose use
    /// failed is not put back in the pool (the database may have gone away).
    fn batch(&self, session: &mut Session, rt: &tokio::runtime::Runtime) -> anyhow::Result<usize> {
        // The rate is waited for before a connection is taken from the pool.
        let Some(limit) = self.reserve() else {
            return Ok(0);
        };
        let mut conn = self.pool.get().inspect_err(|_| self.give_back(limit, 0))?;
        let result = self.batch_on(&mut conn, session, rt, limit);
        if result.is_err() {
            conn.discard();
        }
        result
    }

    /// How many rows the next claim may take: `notify_batch_size`, or under `notify_rate` what
    /// the rate allows, waiting until it allows a whole batch (at most one second's worth).
    /// `None` when asked to stop while waiting.
    fn reserve(&self) -> Option<i64> {
        let batch = self.config.notify_batch_size.max(1);
        let Some(rate) = &self.rate else {
            return Some(batch);
        };
        loop {
            let taken = {
                let mut r = rate.lock().unwrap_or_else(|p| p.into_inner());
                let want = u32::try_from(batch).unwrap_or(u32::MAX).min(r.capacity());
                r.take(want, std::time::Instant::now()).map(|()| want)
            };
            match taken {
                Ok(want) => return Some(i64::from(want)),
                Err(wait) => {
                    if self.stop.wait(wait) {
                        return None;
                    }
                }
            }
        }
    }

    /// Gives back to the rate what was reserved but not claimed.
    fn give_back(&self, reserved: i64, claimed: usize) {
        if let Some(rate) = &self.rate {
            let unused = u32::try_from(reserved.saturating_sub(claimed as i64)).unwrap_or(0);
            rate.lock()
                .unwrap_or_else(|p| p.into_inner())
                .give_back(unused);
        }
    }

    fn batch_on(
        &self,
        conn: &mut DbConn,
        session: &mut Session,
        rt: &tokio::runtime::Runtime,
        limit: i64,
    ) -> anyhow::Result<usize> {
        let claimed = self.record_unrecorded(conn).and_then(|()| {
            let now = db::now();
            let lease_until = now + chrono::Duration::seconds(self.config.notify_lease_secs as i64);
            db::write_tx(conn, |c| {
                db::claim_notifications(c, now, lease_until, limit, &self.domain)
            })
            .map_err(anyhow::Error::from)
        });
        self.give_back(limit, claimed.as_ref().map_or(0, Vec::len));
        let ids = claimed?;
        if ids.is_empty() {
            return Ok(0);
        }
        let rows = queries::load(conn, &ids)?;
        let limit = self.config.max_upload_bytes.saturating_mul(2);
        let read_blob = |key: &str| {
            rt.block_on(self.blobs.read_all(key, limit))
                .map_err(|e| e.to_string())
        };
        let ctx = RenderContext {
            from: &self.from,
            public_url: &self.config.public_url,
            read_blob: &read_blob,
        };
        for (i, row) in rows.iter().enumerate() {
            if self.stop.stopping() {
                let rest: Vec<String> = rows[i..].iter().map(|r| r.id.clone()).collect();
                queries::release(conn, &rest)?;
                break;
            }
            self.send_one(conn, session, row, &ctx)?;
        }
        Ok(rows.len())
    }

    /// Writes the `sent` marks that could not be written when their messages were accepted.
    fn record_unrecorded(&self, conn: &mut DbConn) -> anyhow::Result<()> {
        let mut unrecorded = self.unrecorded.lock().unwrap_or_else(|p| p.into_inner());
        if unrecorded.is_empty() {
            return Ok(());
        }
        db::write_tx(conn, |c| {
            unrecorded
                .iter()
                .try_for_each(|(id, at)| queries::mark_sent(c, id, *at).map(drop))
        })?;
        tracing::info!(
            count = unrecorded.len(),
            "notifications accepted while the database was away are recorded as sent"
        );
        unrecorded.clear();
        Ok(())
    }

    fn send_one(
        &self,
        conn: &mut DbConn,
        session: &mut Session,
        row: &NotificationRow,
        ctx: &RenderContext,
    ) -> anyhow::Result<()> {
        // A message that makes lettre (or our own code) panic is a dead letter, not a dead
        // sender: the panic is caught here, the row marked, and the next row sent.
        let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            templates::build(row, ctx)
                .map_err(transport::SendError::permanent)
                .and_then(|m| session.send(&m, &row.id))
        }));
        let outcome = attempt.unwrap_or_else(|panic| {
            // The session may be half-way through a transaction: start a fresh one.
            *session = self.transport.session();
            Err(transport::SendError::permanent(format!(
                "the message could not be built or sent: {}",
                panic_text(panic.as_ref())
            )))
        });
        match outcome {
            Ok(()) => {
                // Not waiting for the WAL flush: if PostgreSQL itself crashed right now, the row
                // would be pending again and resent with the same Message-ID, never lost.
                let at = db::now();
                let marked = db::write_tx(conn, |c| {
                    db::relaxed_commit(c)?;
                    queries::mark_sent(c, &row.id, at)
                });
                if let Err(e) = marked {
                    tracing::warn!(id = %row.id, error = %e, "notification sent but not recorded; recorded when the database is back");
                    self.unrecorded
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((row.id.clone(), at));
                    return Err(e.into());
                }
                tracing::debug!(id = %row.id, kind = %row.kind, to = %row.recipient_email, "notification sent");
            }
            Err(e) => {
                let give_up = e.permanent || row.attempts >= self.config.notify_max_attempts;
                let retry_at = if give_up {
                    None
                } else {
                    let jitter: f64 = rand::thread_rng().gen();
                    Some(
                        db::now()
                            + schedule::backoff(
                                row.attempts,
                                self.config.notify_retry_base_secs,
                                self.config.notify_retry_max_secs,
                                jitter,
                            ),
                    )
                };
                queries::mark_failed(conn, &row.id, &e.message, retry_at)?;
                if give_up {
                    tracing::error!(id = %row.id, kind = %row.kind, to = %row.recipient_email, attempts = row.attempts, error = %e.message, "notification given up (dead letter)");
                } else {
                    tracing::warn!(id = %row.id, kind = %row.kind, attempts = row.attempts, error = %e.message, "notification not sent; will retry");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn a_panicking_thread_body_is_restarted() {
        let stop = Stop::default();
        let runs = AtomicUsize::new(0);
        supervised(&stop, || {
            if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("a row lettre cannot encode");
            }
        });
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "restarted once, then returned"
        );
    }

    #[test]
    fn a_stop_ends_the_restarts() {
        let stop = Stop::default();
        stop.stop();
        let runs = AtomicUsize::new(0);
        supervised(&stop, || {
            runs.fetch_add(1, Ordering::SeqCst);
            panic!("always");
        });
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
