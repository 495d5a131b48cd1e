//! Appending to the chain and checking it.
//!
//! On SQLite, which has one writer at a time, a change appends its event to the chain inside
//! its own transaction. On PostgreSQL that append (the `audit_head` row locked until the
//! commit, and the commit waiting for its WAL flush) made every change in the office, on every
//! node, wait for the one before it: at most one change per WAL flush (3.4 ms on this machine's
//! disk, ≈ 300/s; measured here, the two cores ran out first). So there a change writes its
//! event to `audit_pending`, taking no lock, and the chainer
//! ([`chain_pending`], run by each node's background loop and before every read of the chain)
//! moves the waiting events into the chain in batches: one lock and one flush per batch.

use super::model::{Action, AuditContext, AuditEvent, NewPendingEvent, PendingEvent};
use crate::db::schema::{audit_events, audit_head, audit_pending};
use crate::db::{self, DbConn};
use diesel::prelude::*;
use serde::Serialize;

/// Which events to list: after a sequence number, at most `limit`, optionally about one kind of
/// object or one object.
#[derive(Debug, Clone)]
pub struct EventQuery {
    pub after: i64,
    pub limit: i64,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
}

/// Events in chain order, filtered (those still waiting to be chained are chained first).
pub fn list_events(
    conn: &mut DbConn,
    q: &EventQuery,
) -> Result<Vec<AuditEvent>, diesel::result::Error> {
    chain_all(conn)?;
    let mut sel = audit_events::table
        .filter(audit_events::seq.gt(q.after))
        .into_boxed();
    if let Some(t) = &q.object_type {
        sel = sel.filter(audit_events::object_type.eq(t.clone()));
    }
    if let Some(id) = &q.object_id {
        sel = sel.filter(audit_events::object_id.eq(id.clone()));
    }
    sel.order(audit_events::seq.asc())
        .limit(q.limit)
        .select(AuditEvent::as_select())
        .load(conn)
}

/// Records one event. Call it inside the transaction that makes the change it records: the
/// event is committed (or rolled back) with the change. On SQLite it is appended to the chain
/// at once; on PostgreSQL it waits in `audit_pending` for the chainer (module docs).
pub fn record(
    conn: &mut DbConn,
    ctx: &AuditContext,
    action: Action,
    object_type: &str,
    object_id: Option<&str>,
    details: serde_json::Value,
) -> Result<(), diesel::result::Error> {
    let event = NewPendingEvent {
        occurred_at: db::now(),
        actor_id: ctx.actor_id.clone(),
        on_behalf_of: ctx.on_behalf_of.clone(),
        action: action.as_str().to_string(),
        object_type: object_type.to_string(),
        object_id: object_id.map(str::to_string),
        client_ip: ctx.client_ip.clone(),
        details: details.to_string(),
    };
    match conn {
        DbConn::Pg(_) => {
            diesel::insert_into(audit_pending::table)
                .values(&event)
                .execute(conn)?;
        }
        DbConn::Sqlite(_) => {
            db::lock_audit_head(conn)?;
            let (seq, hash) = head(conn)?;
            let event = chained(event_of(event), seq + 1, hash);
            diesel::insert_into(audit_events::table)
                .values(&event)
                .execute(conn)?;
            set_head(conn, &event)?;
        }
    }
    Ok(())
}

/// The chain's head: the last event's seq and hash.
fn head(conn: &mut DbConn) -> Result<(i64, String), diesel::result::Error> {
    audit_head::table
        .filter(audit_head::id.eq(1))
        .select((audit_head::last_seq, audit_head::last_hash))
        .first(conn)
}

fn set_head(conn: &mut DbConn, last: &AuditEvent) -> Result<(), diesel::result::Error> {
    diesel::update(audit_head::table.filter(audit_head::id.eq(1)))
        .set((
            audit_head::last_seq.eq(last.seq),
            audit_head::last_hash.eq(&last.hash),
        ))
        .execute(conn)?;
    Ok(())
}

/// An unchained event's fields, before its place in the chain is known.
fn event_of(e: NewPendingEvent) -> AuditEvent {
    AuditEvent {
        seq: 0,
        occurred_at: e.occurred_at,
        actor_id: e.actor_id,
        on_behalf_of: e.on_behalf_of,
        action: e.action,
        object_type: e.object_type,
        object_id: e.object_id,
        client_ip: e.client_ip,
        details: e.details,
        prev_hash: String::new(),
        hash: String::new(),
    }
}

/// `event` placed at `seq` after the event whose hash is `prev_hash`.
fn chained(mut event: AuditEvent, seq: i64, prev_hash: String) -> AuditEvent {
    event.seq = seq;
    event.prev_hash = prev_hash;
    event.hash = chain_hash(&event);
    event
}

/// How many waiting events one chaining transaction takes (each row has 11 bound values; a
/// statement may bind 65,535 on PostgreSQL).
const CHAIN_BATCH: i64 = 500;

/// Moves up to [`CHAIN_BATCH`] events waiting in `audit_pending` into the chain, oldest id
/// first, in one transaction under the head's lock; returns how many. Several nodes may run it
/// at once: the lock serialises them, and each reads the waiting rows after taking it.
pub fn chain_pending(conn: &mut DbConn) -> Result<usize, diesel::result::Error> {
    // Nothing waits on SQLite (events are chained as they are recorded), and an idle node
    // should not take the head's row lock (a transaction and a WAL flush) ten times a second
    // for nothing: a plain look first.
    if matches!(conn, DbConn::Sqlite(_))
        || !diesel::select(diesel::dsl::exists(
            audit_pending::table.select(audit_pending::id),
        ))
        .get_result::<bool>(conn)?
    {
        return Ok(0);
    }
    db::write_tx(conn, |conn| {
        db::lock_audit_head(conn)?;
        let waiting: Vec<PendingEvent> = audit_pending::table
            .order(audit_pending::id.asc())
            .limit(CHAIN_BATCH)
            .select(PendingEvent::as_select())
            .load(conn)?;
        let Some(last_id) = waiting.last().map(|p| p.id) else {
            return Ok(0);
        };
        let ids: Vec<i64> = waiting.iter().map(|p| p.id).collect();
        let (mut seq, mut hash) = head(conn)?;
        let mut events = Vec::with_capacity(waiting.len());
        for p in waiting {
            seq += 1;
            let event = chained(event_of(p.event), seq, hash);
            hash = event.hash.clone();
            events.push(event);
        }
        match conn {
            // One statement for the batch (a multi-row insert is PostgreSQL's alone here).
            DbConn::Pg(pg) => {
                diesel::insert_into(audit_events::table)
                    .values(&events)
                    .execute(pg)?;
            }
            DbConn::Sqlite(_) => {
                for e in &events {
                    diesel::insert_into(audit_events::table)
                        .values(e)
                        .execute(conn)?;
                }
            }
        }
        let removed = diesel::delete(audit_pending::table.filter(audit_pending::id.eq_any(&ids)))
            .execute(conn)?;
        if removed != ids.len() {
            // Another chainer cannot have taken them (the lock); refuse to chain twice.
            return Err(diesel::result::Error::RollbackTransaction);
        }
        if let Some(last) = events.last() {
            set_head(conn, last)?;
        }
        tracing::debug!(events = events.len(), last_id, "audit events chained");
        Ok(events.len())
    })
}

/// Chains every waiting event (see [`chain_pending`]).
pub fn chain_all(conn: &mut DbConn) -> Result<usize, diesel::result::Error> {
    let mut total = 0;
    loop {
        let n = chain_pending(conn)?;
        total += n;
        if n < CHAIN_BATCH as usize {
            return Ok(total);
        }
    }
}

/// How long the chainer rests when nothing was waiting.
const CHAINER_REST: std::time::Duration = std::time::Duration::from_millis(100);

/// Starts this node's chainer on the current actix runtime (PostgreSQL only; on SQLite events
/// are chained as they are recorded): it chains what waits, and rests [`CHAINER_REST`] when
/// nothing does. Each batch is its own transaction, so stopping between two loses nothing;
/// what a stopped node leaves waiting, any node (or the next read of the chain) chains.
pub fn start_chainer(pool: crate::db::DbPool, postgres: bool) {
    if !postgres {
        return;
    }
    actix_web::rt::spawn(async move {
        let mut failing = false;
        loop {
            let pool = pool.clone();
            let done = actix_web::web::block(move || -> Result<usize, String> {
                let mut conn = pool.get().map_err(|e| e.to_string())?;
                chain_pending(&mut conn).map_err(|e| {
                    conn.discard();
                    e.to_string()
                })
            })
            .await;
            match done {
                Ok(Ok(n)) => {
                    if failing {
                        tracing::info!("audit chainer: chaining again");
                        failing = false;
                    }
                    if n == CHAIN_BATCH as usize {
                        continue;
                    }
                }
                Ok(Err(e)) => {
                    if !failing {
                        tracing::warn!(error = %e, "audit chainer: events cannot be chained now; they wait, nothing is lost");
                        failing = true;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "audit chainer: the step did not run"),
            }
            tokio::time::sleep(CHAINER_REST).await;
        }
    });
}

/// A read worth an audit event: a download (a file leaves the system) or any read of a
/// classified document. Other reads (metadata, lists, registers, reports) are not recorded in
/// the chain: see "Reads and the audit chain" in docs/ARCHITECTURE.md.
pub struct Read<'a> {
    /// What was read.
    pub action: Action,
    /// The object's type and id, as in [`record`].
    pub object_type: &'a str,
    /// The object's id.
    pub object_id: Option<&'a str>,
    /// Details of the read.
    pub details: serde_json::Value,
    /// A classified document: the read fails when it cannot be recorded (fail closed).
    pub classified: bool,
}

/// Records `read` in the chain in a transaction of its own, after the read's own queries
/// (which take no write lock). When the database's disk is full, the read of an ordinary
/// document is still served and the event goes to the log (`docflow::access`) instead;
/// a classified document's is refused with 507.
pub fn record_read(
    conn: &mut DbConn,
    ctx: &AuditContext,
    read: Read<'_>,
) -> Result<(), crate::error::ApiError> {
    use crate::error::ApiError;
    let written = db::write_tx(conn, |conn| {
        record(
            conn,
            ctx,
            read.action,
            read.object_type,
            read.object_id,
            read.details.clone(),
        )
    });
    match written.map_err(ApiError::from) {
        Ok(_) => Ok(()),
        Err(ApiError::InsufficientStorage(_)) if !read.classified => {
            tracing::warn!(
                target: "docflow::access",
                action = read.action.as_str(),
                actor = ctx.actor_id.as_deref(),
                object_type = read.object_type,
                object_id = read.object_id,
                client_ip = ctx.client_ip.as_deref(),
                details = %read.details,
                "read served but not recorded in the audit chain: the database is full"
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The canonical content a row's hash covers; field order is fixed by this struct.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: i64,
    occurred_at: String,
    actor_id: Option<&'a str>,
    on_behalf_of: Option<&'a str>,
    action: &'a str,
    object_type: &'a str,
    object_id: Option<&'a str>,
    client_ip: Option<&'a str>,
    details: &'a str,
}

/// SHA-256 (hex) over the previous hash and the row's canonical content.
pub fn chain_hash(e: &AuditEvent) -> String {
    let canonical = Canonical {
        seq: e.seq,
        occurred_at: e.occurred_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        actor_id: e.actor_id.as_deref(),
        on_behalf_of: e.on_behalf_of.as_deref(),
        action: &e.action,
        object_type: &e.object_type,
        object_id: e.object_id.as_deref(),
        client_ip: e.client_ip.as_deref(),
        details: &e.details,
    };
    // Serialising a struct of strings and integers cannot fail.
    let json = serde_json::to_string(&canonical).unwrap_or_default();
    let mut input = Vec::with_capacity(e.prev_hash.len() + 1 + json.len());
    input.extend_from_slice(e.prev_hash.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(json.as_bytes());
    hex(&openssl::sha::sha256(&input))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Outcome of checking the whole chain.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AuditChainReport)]
pub struct ChainReport {
    /// Rows checked.
    pub events: i64,
    /// True when every row is where and as it was written.
    pub intact: bool,
    /// The first row found wrong (its expected position), when not intact.
    pub first_bad_seq: Option<i64>,
    /// What is wrong with it.
    pub problem: Option<String>,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Recomputes the chain from the first row, reading in pages, after chaining the events that
/// wait (should that fail — a row forged at the head's next place blocks it — the chain is
/// checked as it is, and the forged row is what the report names).
pub fn verify_chain(conn: &mut DbConn) -> Result<ChainReport, diesel::result::Error> {
    if let Err(e) = chain_all(conn) {
        tracing::warn!(error = %e, "audit verify: the waiting events could not be chained first");
    }
    let mut expected_seq = 1i64;
    let mut prev_hash = GENESIS.to_string();
    let bad = |seq: i64, events: i64, problem: String| ChainReport {
        events,
        intact: false,
        first_bad_seq: Some(seq),
        problem: Some(problem),
    };
    loop {
        let page: Vec<AuditEvent> = audit_events::table
            .filter(audit_events::seq.ge(expected_seq))
            .order(audit_events::seq.asc())
            .limit(1000)
            .select(AuditEvent::as_select())
            .load(conn)?;
        if page.is_empty() {
            break;
        }
        for row in page {
            let checked = expected_seq - 1;
            if row.seq != expected_seq {
                return Ok(bad(
                    expected_seq,
                    checked,
                    format!(
                        "event #{expected_seq} is missing (the next row is #{})",
                        row.seq
                    ),
                ));
            }
            if row.prev_hash != prev_hash {
                return Ok(bad(
                    row.seq,
                    checked,
                    format!(
                        "event #{} does not follow event #{} (rows removed or reordered)",
                        row.seq,
                        row.seq - 1
                    ),
                ));
            }
            if chain_hash(&row) != row.hash {
                return Ok(bad(
                    row.seq,
                    checked,
                    format!("event #{} was altered after it was written", row.seq),
                ));
            }
            prev_hash = row.hash;
            expected_seq += 1;
        }
    }
    let events = expected_seq - 1;
    let (head_seq, head_hash) = head(conn)?;
    if head_seq > events {
        return Ok(bad(
            events + 1,
            events,
            format!(
                "the chain ends at event #{events} but {head_seq} were written (rows removed from the end)"
            ),
        ));
    }
    if head_seq < events || head_hash != prev_hash {
        // The rows chain up but disagree with the head: rows were appended outside docflow.
        return Ok(bad(
            head_seq + 1,
            events,
            format!(
                "event #{} was added outside docflow's audit writer",
                head_seq + 1
            ),
        ));
    }
    Ok(ChainReport {
        events,
        intact: true,
        first_bad_seq: None,
        problem: None,
    })
}
