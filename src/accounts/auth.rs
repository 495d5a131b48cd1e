//! The `CurrentUser` extractor: resolves `Authorization: Bearer <token>` to a user.

use super::model::Role;
use super::service;
use crate::audit::AuditContext;
use crate::error::{ApiError, ErrorCode};
use crate::http::{client_ip, AppState};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: String,
    pub username: String,
    pub unit_id: Option<String>,
    pub roles: Vec<Role>,
    pub session_id: String,
    pub client_ip: Option<String>,
}

impl CurrentUser {
    /// Whether the user holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Fails with 403 unless the user holds `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.has(role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// The audit context of this user's actions.
    pub fn audit(&self) -> AuditContext {
        AuditContext {
            actor_id: Some(self.id.clone()),
            on_behalf_of: None,
            client_ip: self.client_ip.clone(),
        }
    }
}

/// What a user whose password was set by someone else may still do: change it, see who they
/// are, sign out.
fn allowed_during_forced_change(method: &str, path: &str) -> bool {
    matches!(
        (method, path.trim_end_matches('/')),
        ("PUT", "/api/v1/me/password") | ("GET", "/api/v1/me") | ("POST", "/api/v1/auth/logout")
    )
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::Unauthorized {
        code: ErrorCode::Unauthorized,
        message: message.to_string(),
    }
}

/// The session behind `token`: from this node's cache when it may serve it (`crate::cache`;
/// dropped when the session, its user or the user's roles change), else read and kept.
async fn authenticated(state: &AppState, token: &str) -> Result<service::Authenticated, ApiError> {
    let hash = service::token_hash(token);
    let now = crate::db::now();
    if let Some(a) = state.cache.sessions.get(&hash, now) {
        return Ok(a);
    }
    let ticket = state.cache.sessions.ticket();
    let key = hash.clone();
    let found = state
        .db(move |conn| service::authenticate_hash(conn, &key))
        .await?;
    let a = found
        .ok_or_else(|| unauthorized("the token is unknown, expired or revoked; sign in again"))?;
    let mut deps = crate::cache::Deps::new(now);
    deps.person(&a.user_id);
    deps.until(a.expires_at);
    state.cache.sessions.put(ticket, &hash, a.clone(), deps);
    Ok(a)
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .map(|v| v.to_str().map(str::to_string));
        let ip = client_ip(req);
        let may_while_forced = allowed_during_forced_change(req.method().as_str(), req.path());
        // Dropped when the check below is over, whatever its outcome: see `AuthInProgress`.
        let (checked, in_progress) = tokio::sync::oneshot::channel::<()>();
        req.extensions_mut()
            .insert(crate::http::json::AuthInProgress(in_progress));
        Box::pin(async move {
            let _checked = checked;
            let state =
                state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("app state missing")))?;
            let token = match header {
                None => {
                    return Err(unauthorized(
                        "sign in first: send Authorization: Bearer <token>",
                    ))
                }
                Some(Err(_)) => {
                    return Err(unauthorized("the Authorization header is not readable"))
                }
                // RFC 9110 §11.1: the scheme is case-insensitive.
                Some(Ok(h)) => match h
                    .split_once(' ')
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    .map(|(_, t)| t.trim())
                {
                    Some(t) if !t.is_empty() && t.len() <= 256 => t.to_string(),
                    _ => {
                        return Err(unauthorized(
                            "the Authorization header must be 'Bearer <token>'",
                        ))
                    }
                },
            };
            let a = authenticated(&state, &token).await?;
            tracing::Span::current().record("user", a.user_id.as_str());
            if a.must_change_password && !may_while_forced {
                return Err(ApiError::Refused {
                    code: ErrorCode::PasswordChangeRequired,
                    message: "the password was set by someone else: change it first with \
                              PUT /api/v1/me/password"
                        .into(),
                });
            }
            Ok(CurrentUser {
                id: a.user_id,
                username: a.username,
                unit_id: a.unit_id,
                roles: a.roles,
                session_id: a.session_id,
                client_ip: ip,
            })
        })
    }
}
