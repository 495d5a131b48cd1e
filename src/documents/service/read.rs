//! Reading: one document, and the list the viewer may see (filters, search, a cursor).

use super::{view, visible};
use crate::audit::{self, Action, AuditContext};
use crate::cache::Deps;
use crate::db::{self, DbConn};
use crate::documents::access::Viewer;
use crate::documents::model::{
    Document, DocumentId, DocumentPage, DocumentRow, DocumentSummary, Registration,
};
use crate::documents::queries::{self, ListFilter};
use crate::error::ApiError;
use crate::http::AppState;
use crate::registry;
use actix_web::web::Bytes;
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

/// [`list`] as JSON, and whether this node answered it from memory (src/cache): the same
/// page the database gives, one's own changes included. A page is kept per viewer (with their
/// unit and roles) and query (filters, sort, cursor, size) until a change it may show
/// arrives: see [`list_and_deps`].
pub async fn list_json(
    state: &AppState,
    viewer: Viewer,
    filter: ListFilter,
) -> Result<(Bytes, bool), ApiError> {
    let cache = &state.cache.listings;
    // A digest: the key's size does not grow with the query's text.
    let digest = openssl::sha::sha256(format!("{viewer:?}\u{0}{filter:?}").as_bytes());
    let key: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(json) = cache.get(&key, db::now()) {
        return Ok((json, true));
    }
    let Some(ticket) = cache.ticket() else {
        // Nothing will be kept: no need to know what the page depends on.
        let page = state.db(move |conn| list(conn, &viewer, filter)).await?;
        return Ok((to_json(&page)?, false));
    };
    let (page, deps) = state
        .db(move |conn| list_and_deps(conn, &viewer, filter))
        .await?;
    let json = to_json(&page)?;
    cache.put(Some(ticket), &key, json.clone(), deps);
    Ok((json, false))
}

fn to_json(page: &DocumentPage) -> Result<Bytes, ApiError> {
    Ok(Bytes::from(
        serde_json::to_vec(page).map_err(ApiError::internal)?,
    ))
}

/// One page of the documents the viewer may see (not recorded in the audit chain: see
/// `audit::service::Read`).
pub fn list(
    conn: &mut DbConn,
    viewer: &Viewer,
    filter: ListFilter,
) -> Result<DocumentPage, ApiError> {
    conn.transaction(|conn| page_of(conn, viewer, filter))
}

/// [`list`], and what the page depends on (`documents::access`: who sees what). The viewer
/// themself (roles, unit, tasks, terms as a deputy: `u:`), the documents they drafted, were
/// granted, or hold or acted on a task of (`l:`), their unit's if they are its clerk (`n:`),
/// the archive if they are an archivist (`archived`), and for each person they stand in for
/// now, that person's (`u:`, `l:`: their open tasks are shown) until the term ends; a term
/// still to begin ends the page when it begins. The migration `listing_feed` names these
/// when a document, grant, registration or task changes.
fn list_and_deps(
    conn: &mut DbConn,
    viewer: &Viewer,
    filter: ListFilter,
) -> Result<(DocumentPage, Deps), ApiError> {
    conn.transaction(|conn| {
        let now = db::now();
        let mut deps = Deps::new(now);
        deps.person(&viewer.id);
        deps.listing_of(&viewer.id);
        if viewer.has(crate::accounts::Role::Clerk) {
            if let Some(unit) = &viewer.unit_id {
                deps.unit(unit);
            }
        }
        if viewer.has(crate::accounts::Role::Archivist) {
            deps.archive();
        }
        for s in crate::workflow::queries::unended_substitutions_for_deputy(conn, &viewer.id, now)?
        {
            if s.starts_at > now {
                deps.until(s.starts_at);
            } else {
                deps.person(&s.user_id);
                deps.listing_of(&s.user_id);
                deps.until(s.ends_at);
            }
        }
        let page = page_of(conn, viewer, filter)?;
        Ok((page, deps))
    })
}

/// The page itself (in the caller's transaction).
fn page_of(
    conn: &mut DbConn,
    viewer: &Viewer,
    filter: ListFilter,
) -> Result<DocumentPage, ApiError> {
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
