//! HTTP handlers of accounts: login, logout, me, units, users. Thin: extract, authorise,
//! call the service, return the DTO.

use super::model::{
    LoginRequest, LoginResponse, NewUnit, NewUser, PasswordChange, Role, Unit, UnitChanges, User,
    UserChanges,
};
use super::service::{self, LoginOutcome, PasswordOutcome};
use super::CurrentUser;
use crate::audit::AuditContext;
use crate::error::{ApiError, ErrorCode, Problem};
use crate::http::{client_ip, ApiJson, AppState};
use actix_web::{get, patch, post, put, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the routes under `/api/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(login)
        .service(logout)
        .service(me)
        .service(change_password)
        .service(list_units)
        .service(create_unit)
        .service(get_unit)
        .service(update_unit)
        .service(list_users)
        .service(create_user)
        .service(get_user)
        .service(update_user);
}

/// Exchanges a username and password for a bearer token.
#[utoipa::path(tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = LoginResponse),
    (status = 401, description = "Wrong username or password", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "Too many failed attempts; see Retry-After", body = Problem, content_type = "application/problem+json"),
))]
#[post("/auth/login")]
async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { username, password } = body.into_inner();
    if username.len() > 256 || password.len() > 1024 {
        return Err(ApiError::validation("username", "too long"));
    }
    let ctx = AuditContext {
        client_ip: client_ip(&req),
        ..AuditContext::system()
    };
    let cfg = state.config.clone();
    let outcome = state
        .db(move |conn| service::login(conn, &cfg, &ctx, &username, &password))
        .await?;
    match outcome {
        LoginOutcome::Ok(token) => Ok(HttpResponse::Ok().json(token)),
        LoginOutcome::Failed { delay_ms } => {
            // Slows guessing down without holding a database connection or a thread.
            tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
            Err(ApiError::Unauthorized {
                code: ErrorCode::InvalidCredentials,
                message: "wrong username or password".into(),
            })
        }
        LoginOutcome::Locked { retry_after } => Err(ApiError::TooManyRequests { retry_after }),
    }
}

/// Revokes the token used for this request.
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses((status = 204)))]
#[post("/auth/logout")]
async fn logout(state: web::Data<AppState>, user: CurrentUser) -> Result<HttpResponse, ApiError> {
    let ctx = user.audit();
    state
        .db(move |conn| service::logout(conn, &ctx, &user.session_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in user, with unit and roles.
#[utoipa::path(tag = "auth", security(("bearer" = [])), responses((status = 200, body = User)))]
#[get("/me")]
async fn me(state: web::Data<AppState>, user: CurrentUser) -> Result<web::Json<User>, ApiError> {
    let view = state
        .db(move |conn| service::get_user(conn, &user.id))
        .await?;
    Ok(web::Json(view))
}

/// Changes the signed-in user's own password. The session used for the request stays; every
/// other session of the user ends.
#[utoipa::path(tag = "auth", security(("bearer" = [])), request_body = PasswordChange, responses(
    (status = 204, description = "Changed; the user's other sessions have ended"),
    (status = 422, description = "`current_password` is wrong, or `new_password` does not meet the policy or equals the current one (the field is named)", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "Too many wrong passwords (counted with failed logins); see Retry-After", body = Problem, content_type = "application/problem+json"),
))]
#[put("/me/password")]
async fn change_password(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: ApiJson<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    let change = body.into_inner();
    if change.current_password.len() > 1024 || change.new_password.len() > 1024 {
        return Err(ApiError::validation("new_password", "too long"));
    }
    let ctx = user.audit();
    let cfg = state.config.clone();
    let outcome = state
        .db(move |conn| {
            service::change_own_password(conn, &cfg, &ctx, (&user.id, &user.session_id), &change)
        })
        .await?;
    match outcome {
        PasswordOutcome::Changed => Ok(HttpResponse::NoContent().finish()),
        PasswordOutcome::Wrong { delay_ms } => {
            tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
            Err(ApiError::validation(
                "current_password",
                "is not the password in use",
            ))
        }
        PasswordOutcome::Locked { retry_after } => Err(ApiError::TooManyRequests { retry_after }),
    }
}

/// All units (the organisation tree, flat; follow `parent_id`).
#[utoipa::path(tag = "accounts", security(("bearer" = [])), responses((status = 200, body = Vec<Unit>)))]
#[get("/units")]
async fn list_units(
    state: web::Data<AppState>,
    _user: CurrentUser,
) -> Result<web::Json<Vec<Unit>>, ApiError> {
    Ok(web::Json(state.db(service::list_units).await?))
}

/// Creates a unit (admin).
#[utoipa::path(tag = "accounts", security(("bearer" = [])), request_body = NewUnit, responses(
    (status = 201, body = Unit),
    (status = 409, description = "Code taken", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "Invalid value", body = Problem, content_type = "application/problem+json"),
))]
#[post("/units")]
async fn create_unit(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: ApiJson<NewUnit>,
) -> Result<HttpResponse, ApiError> {
    user.require(Role::Admin)?;
    let ctx = user.audit();
    let unit = state
        .db(move |conn| service::create_unit(conn, &ctx, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(unit))
}

/// One unit.
#[utoipa::path(tag = "accounts", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = Unit),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/units/{id}")]
async fn get_unit(
    state: web::Data<AppState>,
    _user: CurrentUser,
    id: web::Path<String>,
) -> Result<web::Json<Unit>, ApiError> {
    let id = id.into_inner();
    Ok(web::Json(
        state.db(move |conn| service::get_unit(conn, &id)).await?,
    ))
}

/// Changes or deactivates a unit (admin).
#[utoipa::path(tag = "accounts", security(("bearer" = [])), params(("id" = String, Path)), request_body = UnitChanges, responses(
    (status = 200, body = Unit),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "Code taken or unit still in use", body = Problem, content_type = "application/problem+json"),
))]
#[patch("/units/{id}")]
async fn update_unit(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    body: ApiJson<UnitChanges>,
) -> Result<web::Json<Unit>, ApiError> {
    user.require(Role::Admin)?;
    let ctx = user.audit();
    let id = id.into_inner();
    let unit = state
        .db(move |conn| service::update_unit(conn, &ctx, &id, body.into_inner()))
        .await?;
    Ok(web::Json(unit))
}

/// Filters for listing users.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct UserFilter {
    /// Only users of this unit.
    unit_id: Option<String>,
}

/// Users (admin).
#[utoipa::path(tag = "accounts", security(("bearer" = [])), params(UserFilter), responses((status = 200, body = Vec<User>)))]
#[get("/users")]
async fn list_users(
    state: web::Data<AppState>,
    user: CurrentUser,
    filter: web::Query<UserFilter>,
) -> Result<web::Json<Vec<User>>, ApiError> {
    user.require(Role::Admin)?;
    let unit = filter.into_inner().unit_id;
    Ok(web::Json(
        state
            .db(move |conn| service::list_users(conn, unit.as_deref()))
            .await?,
    ))
}

/// Creates a user (admin).
#[utoipa::path(tag = "accounts", security(("bearer" = [])), request_body = NewUser, responses(
    (status = 201, body = User),
    (status = 409, description = "Username taken", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "Invalid value", body = Problem, content_type = "application/problem+json"),
))]
#[post("/users")]
async fn create_user(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: ApiJson<NewUser>,
) -> Result<HttpResponse, ApiError> {
    user.require(Role::Admin)?;
    let ctx = user.audit();
    let created = state
        .db(move |conn| service::create_user(conn, &ctx, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// One user (admin, or the user themself).
#[utoipa::path(tag = "accounts", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = User),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/users/{id}")]
async fn get_user(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<web::Json<User>, ApiError> {
    let id = id.into_inner();
    if !user.has(Role::Admin) && user.id != id {
        // Other people's accounts are not the caller's business: same answer as a missing one.
        return Err(ApiError::NotFound("user"));
    }
    Ok(web::Json(
        state.db(move |conn| service::get_user(conn, &id)).await?,
    ))
}

/// Changes, deactivates or resets the password of a user (admin).
#[utoipa::path(tag = "accounts", security(("bearer" = [])), params(("id" = String, Path)), request_body = UserChanges, responses(
    (status = 200, body = User),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "Would leave no administrator", body = Problem, content_type = "application/problem+json"),
))]
#[patch("/users/{id}")]
async fn update_user(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    body: ApiJson<UserChanges>,
) -> Result<web::Json<User>, ApiError> {
    user.require(Role::Admin)?;
    let ctx = user.audit();
    let id = id.into_inner();
    let updated = state
        .db(move |conn| service::update_user(conn, &ctx, &id, body.into_inner()))
        .await?;
    Ok(web::Json(updated))
}
