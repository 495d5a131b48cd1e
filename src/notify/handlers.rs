//! HTTP handlers of notifications. Thin: extract, authorise, call the service, map to a DTO.

use super::model::{ClockSetting, ListQuery, Notification, Preferences};
use super::schedule::Clock;
use super::service;
use crate::accounts::{CurrentUser, Role};
use crate::error::{ApiError, ErrorCode, Problem};
use crate::http::{ApiJson, AppState};
use actix_web::{get, post, put, web};
use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the routes under `/api/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_notifications)
        .service(retry_notification)
        .service(set_clock)
        .service(get_preferences)
        .service(put_preferences);
}

/// The outbox, newest first (admin): `?state=dead` lists the dead letters.
#[utoipa::path(tag = "notifications", security(("bearer" = [])), params(ListQuery), responses(
    (status = 200, body = Vec<Notification>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "Unknown state or limit out of range", body = Problem, content_type = "application/problem+json"),
))]
#[get("/notifications")]
async fn list_notifications(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: web::Query<ListQuery>,
) -> Result<web::Json<Vec<Notification>>, ApiError> {
    user.require(Role::Admin)?;
    let q = query.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| service::list(conn, q.state.as_deref(), q.limit))
            .await?,
    ))
}

/// Puts a dead notification back in the queue, due at once, with its Message-ID (admin).
#[utoipa::path(tag = "notifications", security(("bearer" = [])), responses(
    (status = 200, body = Notification),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`notification_not_dead`: only dead notifications are retried", body = Problem, content_type = "application/problem+json"),
))]
#[post("/notifications/{id}/retry")]
async fn retry_notification(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<web::Json<Notification>, ApiError> {
    user.require(Role::Admin)?;
    let ctx = user.audit();
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| service::retry(conn, &ctx, &id))
            .await?,
    ))
}

/// Sets the notification clock that reminders, escalations and digests read (admin; only when
/// the server runs with `notify_clock = "manual"`, for tests and drills).
#[utoipa::path(tag = "notifications", security(("bearer" = [])), request_body = ClockSetting, responses(
    (status = 200, body = ClockSetting),
    (status = 409, description = "`clock_not_manual`: the server runs on the system clock", body = Problem, content_type = "application/problem+json"),
))]
#[put("/notifications/clock")]
async fn set_clock(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: ApiJson<ClockSetting>,
) -> Result<web::Json<ClockSetting>, ApiError> {
    user.require(Role::Admin)?;
    let now = body.into_inner().now;
    if !matches!(*state.clock, super::schedule::AppClock::Manual(_)) {
        return Err(ApiError::conflict(
            ErrorCode::ClockNotManual,
            "the server runs on the system clock (notify_clock = \"system\")",
        ));
    }
    let ctx = user.audit();
    state
        .db(move |conn| service::record_clock_set(conn, &ctx, now))
        .await?;
    state.clock.set(now);
    Ok(web::Json(ClockSetting {
        now: state.clock.now(),
    }))
}

/// The caller's notification preferences.
#[utoipa::path(tag = "notifications", security(("bearer" = [])), responses((status = 200, body = Preferences)))]
#[get("/me/notification-preferences")]
async fn get_preferences(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<web::Json<Preferences>, ApiError> {
    Ok(web::Json(
        state
            .db(move |conn| service::preferences(conn, &user.id))
            .await?,
    ))
}

/// Replaces the caller's notification preferences. Kinds left out are sent immediately;
/// urgent documents are always sent immediately.
#[utoipa::path(tag = "notifications", security(("bearer" = [])), request_body = Preferences, responses(
    (status = 200, body = Preferences),
    (status = 400, description = "Unreadable body; the field is named", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "Value out of range", body = Problem, content_type = "application/problem+json"),
))]
#[put("/me/notification-preferences")]
async fn put_preferences(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: ApiJson<Preferences>,
) -> Result<web::Json<Preferences>, ApiError> {
    let ctx = user.audit();
    let prefs = body.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| service::save_preferences(conn, &ctx, &user.id, prefs))
            .await?,
    ))
}
