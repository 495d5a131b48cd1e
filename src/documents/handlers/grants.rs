//! Access grants of a document.

use crate::accounts::CurrentUser;
use crate::documents::access::Viewer;
use crate::documents::model::{Grant, GrantRequest};
use crate::documents::service;
use crate::error::{ApiError, Problem};
use crate::http::{ApiJson, AppState};
use actix_web::{delete, get, post, web, HttpResponse};

/// Users granted access to a document (admin, or a clerk of its unit who sees it).
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = Vec<Grant>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/documents/{id}/grants")]
pub(super) async fn list_grants(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<web::Json<Vec<Grant>>, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| service::list_grants(conn, &ctx, &viewer, &id))
            .await?,
    ))
}

/// Grants a user access to a document — the only way to see a classified one.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), request_body = GrantRequest, responses(
    (status = 201, body = Grant),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[post("/documents/{id}/grants")]
pub(super) async fn add_grant(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    body: ApiJson<GrantRequest>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let id = id.into_inner();
    let g = state
        .db(move |conn| service::add_grant(conn, &ctx, &viewer, &id, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(g))
}

/// Withdraws a grant.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path), ("user_id" = String, Path)), responses(
    (status = 204),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/documents/{id}/grants/{user_id}")]
pub(super) async fn remove_grant(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let (id, user_id) = path.into_inner();
    state
        .db(move |conn| service::remove_grant(conn, &ctx, &viewer, &id, &user_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
