//! HTTP handlers of the audit log (admins only).

use super::model::AuditEvent;
use super::service::{self, ChainReport};
use crate::accounts::{CurrentUser, Role};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{get, web};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the routes under `/api/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_events).service(verify);
}

/// Paging and filters for the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct EventFilter {
    /// Only events after this sequence number.
    after: Option<i64>,
    /// At most this many events (1–500, default 100).
    limit: Option<i64>,
    /// Only events about this kind of object (e.g. `user`).
    object_type: Option<String>,
    /// Only events about this object.
    object_id: Option<String>,
}

/// Audit events in chain order.
#[utoipa::path(tag = "audit", security(("bearer" = [])), params(EventFilter), responses((status = 200, body = Vec<AuditEvent>)))]
#[get("/audit/events")]
async fn list_events(
    state: web::Data<AppState>,
    user: CurrentUser,
    filter: web::Query<EventFilter>,
) -> Result<web::Json<Vec<AuditEvent>>, ApiError> {
    user.require(Role::Admin)?;
    let f = filter.into_inner();
    let limit = f.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit", "must be between 1 and 500"));
    }
    let filter = service::EventQuery {
        after: f.after.unwrap_or(0),
        limit,
        object_type: f.object_type,
        object_id: f.object_id,
    };
    let events = state
        .db(move |conn| Ok(service::list_events(conn, &filter)?))
        .await?;
    Ok(web::Json(events))
}

/// Recomputes the hash chain and reports the first row altered, removed or reordered.
#[utoipa::path(tag = "audit", security(("bearer" = [])), responses((status = 200, body = ChainReport)))]
#[get("/audit/verify")]
async fn verify(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<web::Json<ChainReport>, ApiError> {
    user.require(Role::Admin)?;
    Ok(web::Json(
        state.db(|conn| Ok(service::verify_chain(conn)?)).await?,
    ))
}
