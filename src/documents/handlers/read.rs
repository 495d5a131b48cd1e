//! Reading one document and listing (filters, sorting, search, a cursor).

use crate::accounts::CurrentUser;
use crate::documents::access::Viewer;
use crate::documents::model::{
    fold, Confidentiality, Document, DocumentPage, Kind, Status, Urgency,
};
use crate::documents::queries::ListFilter;
use crate::documents::service;
use crate::error::{ApiError, Problem};
use crate::http::AppState;
use actix_web::{get, web, HttpResponse};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

/// One document with its versions and attachments.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = Document),
    (status = 404, description = "No such document, or not visible to the caller", body = Problem, content_type = "application/problem+json"),
))]
#[get("/documents/{id}")]
pub(super) async fn get_document(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<web::Json<Document>, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| service::get(conn, &ctx, &viewer, &id))
            .await?,
    ))
}

/// Filters, sorting and paging of the document list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct DocumentQuery {
    /// Only documents registered in this register.
    register_id: Option<String>,
    /// Only documents numbered in this year.
    year: Option<i32>,
    kind: Option<Kind>,
    /// Document type code, e.g. `QĐ`.
    type_code: Option<String>,
    status: Option<Status>,
    urgency: Option<Urgency>,
    confidentiality: Option<Confidentiality>,
    /// Issue date from (inclusive), `YYYY-MM-DD`.
    issue_date_from: Option<NaiveDate>,
    /// Issue date to (inclusive).
    issue_date_to: Option<NaiveDate>,
    /// Registered on or after this day (Vietnam time).
    registered_from: Option<NaiveDate>,
    /// Registered on or before this day (Vietnam time).
    registered_to: Option<NaiveDate>,
    /// Text in the issuing organisation (accents and case ignored).
    issuer: Option<String>,
    /// Text in the subject (trích yếu); accents and case ignored: "quyet dinh" finds "Quyết định".
    q: Option<String>,
    /// `-created_at` (default, newest first), `created_at`, `-updated_at`, `updated_at`.
    sort: Option<String>,
    /// From `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1–200, default 50.
    limit: Option<i64>,
}

fn day_start_utc(d: NaiveDate) -> chrono::NaiveDateTime {
    crate::vntime::start_of_local_day(d)
}

/// Documents the caller may see, newest first, with filters and a cursor. `Cache-Status`
/// (RFC 9211) tells whether the node answered from memory (`docflow; hit`): the same page
/// the database gives, one's own changes included.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(DocumentQuery), responses(
    (status = 200, body = DocumentPage, headers(("Cache-Status" = String, description = "`docflow; hit` or `docflow; fwd=miss`"))),
    (status = 400, body = Problem, content_type = "application/problem+json"),
))]
#[get("/documents")]
pub(super) async fn list_documents(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: web::Query<DocumentQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::validation("limit", "must be between 1 and 200"));
    }
    let (by_updated, ascending) = match q.sort.as_deref().unwrap_or("-created_at") {
        "-created_at" => (false, false),
        "created_at" => (false, true),
        "-updated_at" => (true, false),
        "updated_at" => (true, true),
        other => {
            return Err(ApiError::validation(
                "sort",
                format!(
                    "'{other}' is not one of: -created_at, created_at, -updated_at, updated_at"
                ),
            ))
        }
    };
    let after =
        match &q.cursor {
            Some(c) => Some(service::decode_cursor(c).ok_or_else(|| {
                ApiError::validation("cursor", "is not a cursor from this listing")
            })?),
            None => None,
        };
    let fold_opt = |s: Option<String>| s.map(|t| fold(t.trim())).filter(|t| !t.is_empty());
    let filter = ListFilter {
        register_id: q.register_id,
        year: q.year,
        kind: q.kind,
        type_code: q.type_code,
        status: q.status,
        urgency: q.urgency,
        confidentiality: q.confidentiality,
        issue_date_from: q.issue_date_from,
        issue_date_to: q.issue_date_to,
        registered_from: q.registered_from.map(day_start_utc),
        registered_before: q
            .registered_to
            .and_then(|d| d.succ_opt())
            .map(day_start_utc),
        issuer: fold_opt(q.issuer),
        text: fold_opt(q.q),
        by_updated,
        ascending,
        after,
        limit,
        walk_rows: state.config.search_walk_rows,
    };
    let (json, hit) = service::list_json(&state, Viewer::from(&user), filter).await?;
    Ok(crate::http::cached_json(json, hit))
}
