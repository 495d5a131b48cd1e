//! Registering incoming (and internal) documents, acknowledging and returning incoming papers.

use crate::accounts::CurrentUser;
use crate::documents::access::Viewer;
use crate::documents::model::{Document, RegisterRequest, Registration, ReturnRequest};
use crate::documents::service;
use crate::documents::verification;
use crate::error::{ApiError, Problem};
use crate::http::{ApiJson, AppState};
use actix_web::{post, web};

/// Registers an incoming (or internal) document: the next number of the register's series
/// for the year. 409 `probable_duplicate` when the same issuer, symbol and date arrived
/// already (send `confirm_duplicate: true`); 409 `numbered_at_issuance` for outgoing ones.
/// An incoming electronic document's signatures are checked first and the outcome kept
/// (`valid`, `invalid`, `unsigned`), as the digital report counts it.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), request_body = RegisterRequest, responses(
    (status = 200, body = Registration),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[post("/documents/{id}/register")]
pub(super) async fn register(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    body: ApiJson<RegisterRequest>,
) -> Result<web::Json<Registration>, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let id = id.into_inner();
    // An electronic paper's signatures are checked before it is numbered (outside the
    // transaction: a whole file is read and verified); the outcome is kept with it.
    let check = verification::check_at_registration(&state, viewer.clone(), id.clone()).await?;
    Ok(web::Json(
        state
            .db(move |conn| service::register(conn, &ctx, &viewer, &id, body.into_inner(), check))
            .await?,
    ))
}

/// Acknowledges receipt of an incoming document.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = Document),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[post("/documents/{id}/acknowledge")]
pub(super) async fn acknowledge(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<web::Json<Document>, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| service::acknowledge(conn, &ctx, &viewer, &id))
            .await?,
    ))
}

/// Sends a misaddressed incoming document back, with the reason (before registration).
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), request_body = ReturnRequest, responses(
    (status = 200, body = Document),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[post("/documents/{id}/return")]
pub(super) async fn return_document(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    body: ApiJson<ReturnRequest>,
) -> Result<web::Json<Document>, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| service::return_document(conn, &ctx, &viewer, &id, body.into_inner()))
            .await?,
    ))
}
