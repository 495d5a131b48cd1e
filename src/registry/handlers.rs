//! HTTP handlers of registers. Thin: extract, authorise, call the service, map to a DTO.

use super::model::{NewRegister, Register, RegisterChanges};
use super::service::{self, ReportFormat};
use crate::accounts::CurrentUser;
use crate::documents::access::Viewer;
use crate::error::{ApiError, Problem};
use crate::http::{ApiJson, AppState};
use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the routes under `/api/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_registers)
        .service(create_register)
        .service(get_register)
        .service(update_register)
        .service(report);
}

/// Filter of the register list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct RegisterFilter {
    /// Only this unit's registers (admins; a clerk always sees their own unit's).
    unit_id: Option<String>,
}

/// Registers the caller manages: a clerk's unit's, or all for an admin.
#[utoipa::path(tag = "registers", security(("bearer" = [])), params(RegisterFilter), responses(
    (status = 200, body = Vec<Register>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
#[get("/registers")]
async fn list_registers(
    state: web::Data<AppState>,
    user: CurrentUser,
    filter: web::Query<RegisterFilter>,
) -> Result<web::Json<Vec<Register>>, ApiError> {
    let viewer = Viewer::from(&user);
    let unit = filter.into_inner().unit_id;
    Ok(web::Json(
        state
            .db(move |conn| service::list(conn, &viewer, unit.as_deref()))
            .await?,
    ))
}

/// Creates a register (a clerk for their unit, an admin for any unit).
#[utoipa::path(tag = "registers", security(("bearer" = [])), request_body = NewRegister, responses(
    (status = 201, body = Register),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/registers")]
async fn create_register(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: ApiJson<NewRegister>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let r = state
        .db(move |conn| service::create(conn, &ctx, &viewer, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(r))
}

/// One register the caller manages.
#[utoipa::path(tag = "registers", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = Register),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/registers/{id}")]
async fn get_register(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<web::Json<Register>, ApiError> {
    let viewer = Viewer::from(&user);
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| service::get(conn, &viewer, &id))
            .await?,
    ))
}

/// Renames a register, changes its template, or closes it (`active: false`).
#[utoipa::path(tag = "registers", security(("bearer" = [])), params(("id" = String, Path)), request_body = RegisterChanges, responses(
    (status = 200, body = Register),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/registers/{id}")]
async fn update_register(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    body: ApiJson<RegisterChanges>,
) -> Result<web::Json<Register>, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| service::update(conn, &ctx, &viewer, &id, body.into_inner()))
            .await?,
    ))
}

/// Period of a register report.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    /// First day (Vietnam time), `YYYY-MM-DD`.
    from: NaiveDate,
    /// Last day, inclusive.
    to: NaiveDate,
    /// `csv` (default) or `pdf` (printable, A4 landscape).
    format: Option<ReportFormat>,
}

/// The register's entries for a period as CSV (UTF-8 with BOM) or as a printable PDF, in
/// number order, the normal series first.
#[utoipa::path(tag = "registers", security(("bearer" = [])), params(("id" = String, Path), ReportQuery), responses(
    (status = 200, description = "CSV (text/csv) or PDF (application/pdf)"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/registers/{id}/report")]
async fn report(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let id = id.into_inner();
    let q = query.into_inner();
    let format = q.format.unwrap_or(ReportFormat::Csv);
    let (content_type, ext) = match format {
        ReportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ReportFormat::Pdf => ("application/pdf", "pdf"),
    };
    let file_name = format!("register-{}-{}.{ext}", q.from, q.to);
    let body = state
        .db(move |conn| service::report(conn, &ctx, &viewer, &id, q.from, q.to, format))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file_name}\""),
        ))
        .body(body))
}
