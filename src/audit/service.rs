//! Appending to the chain and checking it.

use super::model::{Action, AuditContext, AuditEvent};
use crate::db::schema::{audit_events, audit_head};
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

/// Events in chain order, filtered.
pub fn list_events(
    conn: &mut DbConn,
    q: &EventQuery,
) -> Result<Vec<AuditEvent>, diesel::result::Error> {
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

/// Appends one event. Call it inside the transaction that makes the change it records.
pub fn record(
    conn: &mut DbConn,
    ctx: &AuditContext,
    action: Action,
    object_type: &str,
    object_id: Option<&str>,
    details: serde_json::Value,
) -> Result<i64, diesel::result::Error> {
    db::lock_audit_head(conn)?;
    let (last_seq, last_hash): (i64, String) = audit_head::table
        .filter(audit_head::id.eq(1))
        .select((audit_head::last_seq, audit_head::last_hash))
        .first(conn)?;
    let mut event = AuditEvent {
        seq: last_seq + 1,
        occurred_at: db::now(),
        actor_id: ctx.actor_id.clone(),
        on_behalf_of: ctx.on_behalf_of.clone(),
        action: action.as_str().to_string(),
        object_type: object_type.to_string(),
        object_id: object_id.map(str::to_string),
        client_ip: ctx.client_ip.clone(),
        details: details.to_string(),
        prev_hash: last_hash,
        hash: String::new(),
    };
    event.hash = chain_hash(&event);
    diesel::insert_into(audit_events::table)
        .values(&event)
        .execute(conn)?;
    diesel::update(audit_head::table.filter(audit_head::id.eq(1)))
        .set((
            audit_head::last_seq.eq(event.seq),
            audit_head::last_hash.eq(&event.hash),
        ))
        .execute(conn)?;
    Ok(event.seq)
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

/// Recomputes the chain from the first row, reading in pages.
pub fn verify_chain(conn: &mut DbConn) -> Result<ChainReport, diesel::result::Error> {
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
    let (head_seq, head_hash): (i64, String) = audit_head::table
        .filter(audit_head::id.eq(1))
        .select((audit_head::last_seq, audit_head::last_hash))
        .first(conn)?;
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
