//! Verifying the signatures of a version of the main PDF.

use crate::accounts::CurrentUser;
use crate::documents::access::Viewer;
use crate::documents::verification;
use crate::error::{ApiError, Problem};
use crate::http::AppState;
use crate::signing::verify::VerifyReport;
use actix_web::{get, web};

/// Verifies the signatures of the latest version of the main PDF against the office's trust
/// roots (`trust_roots_path`): per signature its signer, integrity, trust, coverage and changes
/// after signing. A file without signatures gives an empty list and `all_valid: false`.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = VerifyReport),
    (status = 404, description = "No such document or version, or not visible to the caller", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "The stored file cannot be read as a PDF (`pdf_not_pdf`, `pdf_encrypted`, `pdf_damaged`, `pdf_unsupported`, `pdf_unreadable`)", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "Too many verifications running; see Retry-After", body = Problem, content_type = "application/problem+json"),
))]
#[get("/documents/{id}/signatures")]
pub(super) async fn latest_signatures(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<web::Json<VerifyReport>, ApiError> {
    let viewer = Viewer::from(&user);
    let report =
        verification::signatures(&state, user.audit(), viewer, id.into_inner(), None).await?;
    Ok(web::Json(report))
}

/// Verifies the signatures of one version of the main PDF (numbered from 1), as for the latest.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path), ("number" = i32, Path)), responses(
    (status = 200, body = VerifyReport),
    (status = 404, description = "No such document or version, or not visible to the caller", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "The stored file cannot be read as a PDF", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "Too many verifications running; see Retry-After", body = Problem, content_type = "application/problem+json"),
))]
#[get("/documents/{id}/versions/{number}/signatures")]
pub(super) async fn version_signatures(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<(String, i32)>,
) -> Result<web::Json<VerifyReport>, ApiError> {
    let (id, number) = path.into_inner();
    let viewer = Viewer::from(&user);
    let report = verification::signatures(&state, user.audit(), viewer, id, Some(number)).await?;
    Ok(web::Json(report))
}
