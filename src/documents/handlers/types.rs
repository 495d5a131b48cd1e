//! The managed list of document types.

use crate::accounts::{CurrentUser, Role};
use crate::documents::model::DocumentType;
use crate::documents::service;
use crate::error::{ApiError, Problem};
use crate::http::{ApiJson, AppState};
use actix_web::{get, post, web, HttpResponse};

/// The managed list of document types.
#[utoipa::path(tag = "documents", security(("bearer" = [])), responses((status = 200, body = Vec<DocumentType>)))]
#[get("/document-types")]
pub(super) async fn list_types(
    state: web::Data<AppState>,
    _user: CurrentUser,
) -> Result<web::Json<Vec<DocumentType>>, ApiError> {
    Ok(web::Json(state.db(service::list_types).await?))
}

/// Adds a document type (admin).
#[utoipa::path(tag = "documents", security(("bearer" = [])), request_body = DocumentType, responses(
    (status = 201, body = DocumentType),
    (status = 409, description = "Code taken", body = Problem, content_type = "application/problem+json"),
))]
#[post("/document-types")]
pub(super) async fn create_type(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: ApiJson<DocumentType>,
) -> Result<HttpResponse, ApiError> {
    user.require(Role::Admin)?;
    let ctx = user.audit();
    let t = state
        .db(move |conn| service::create_type(conn, &ctx, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(t))
}
