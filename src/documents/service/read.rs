//! Reading: one document, and the list the viewer may see (filters, search, a cursor).

use super::{view, visible};
use crate::audit::{self, Action, AuditContext};
use crate::db::DbConn;
use crate::documents::access::Viewer;
use crate::documents::model::{
    Document, DocumentId, DocumentPage, DocumentRow, DocumentSummary, Registration,
};
use crate::documents::queries::{self, ListFilter};
use crate::error::ApiError;
use crate::registry;
use diesel::prelude::*;
use serde_json::json;

/// One document. Only a classified document's read is recorded (see `audit::service::Read`);
/// the read itself takes no write lock.
pub fn get(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    id: &str,
) -> Result<Document, ApiError> {
    let (doc, _) = visible(conn, viewer, id)?;
    if doc.confidentiality.is_classified() {
        audit::service::record_read(
            conn,
            ctx,
            audit::service::Read {
                action: Action::DocumentViewed,
                object_type: "document",
                object_id: Some(&doc.id),
                details: json!({}),
                classified: true,
            },
        )?;
    }
    view(conn, doc)
}

/// One page of the documents the viewer may see (not recorded in the audit chain: see
/// `audit::service::Read`).
pub fn list(
    conn: &mut DbConn,
    viewer: &Viewer,
    filter: ListFilter,
) -> Result<DocumentPage, ApiError> {
    conn.transaction(|conn| {
        let mut f = filter.clone();
        f.limit = filter.limit + 1;
        let mut rows = queries::list(conn, viewer, &f)?;
        let more = rows.len() as i64 > filter.limit;
        rows.truncate(filter.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| {
                let t = if filter.by_updated {
                    r.updated_at
                } else {
                    r.created_at
                };
                encode_cursor(t, &r.id)
            })
        } else {
            None
        };
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut regs: std::collections::HashMap<String, Registration> =
            registry::queries::registrations_of(conn, &ids)?
                .into_iter()
                .map(|r| (r.document_id.clone(), Registration::from(r)))
                .collect();
        let items = rows
            .into_iter()
            .map(|d| {
                let reg = regs.remove(&d.id);
                summary(d, reg)
            })
            .collect();
        Ok(DocumentPage { items, next_cursor })
    })
}

/// Opaque cursor: microseconds since the epoch and the id of the last row.
pub fn encode_cursor(t: chrono::NaiveDateTime, id: &str) -> String {
    format!("{}_{}", t.and_utc().timestamp_micros(), id)
}

/// Reads a cursor made by [`encode_cursor`].
pub fn decode_cursor(c: &str) -> Option<(chrono::NaiveDateTime, String)> {
    let (micros, id) = c.split_once('_')?;
    let micros: i64 = micros.parse().ok()?;
    uuid::Uuid::parse_str(id).ok()?;
    let t = chrono::DateTime::from_timestamp_micros(micros)?.naive_utc();
    Some((t, id.to_string()))
}

fn summary(d: DocumentRow, registration: Option<Registration>) -> DocumentSummary {
    DocumentSummary {
        registration,
        kind: d.kind,
        status: d.status,
        urgency: d.urgency,
        confidentiality: d.confidentiality,
        id: DocumentId(d.id),
        unit_id: d.unit_id,
        type_code: d.type_code,
        number_symbol: d.number_symbol,
        issue_date: d.issue_date,
        issuer: d.issuer,
        subject: d.subject,
        handling_deadline: d.handling_deadline,
        created_at: d.created_at,
    }
}
