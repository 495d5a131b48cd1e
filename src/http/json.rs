//! `ApiJson<T>`: the JSON body extractor every endpoint uses. Unlike actix's `Json`, its errors
//! are problem documents that name the offending field (`roles[0]: unknown variant …`).

use super::AppState;
use crate::error::{ApiError, ErrorCode};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

/// Put in a request's extensions by the `CurrentUser` extractor while it checks the token;
/// resolves when the check is over. actix polls a handler's extractors together and answers
/// the first error, so a body that fails at once would answer 400 before an unknown token's
/// 401 (which waits for the database): a failing `ApiJson` waits for this first, and the
/// caller who is not signed in learns nothing about the body.
pub struct AuthInProgress(pub tokio::sync::oneshot::Receiver<()>);

impl<T> ApiJson<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

const DEFAULT_LIMIT: usize = 1024 * 1024;
const DEFAULT_TIMEOUT_SECS: u64 = 30;

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.config.max_json_bytes)
            .unwrap_or(DEFAULT_LIMIT);
        let timeout_secs = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.config.body_timeout_secs)
            .unwrap_or(DEFAULT_TIMEOUT_SECS);
        let content_type = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        let declared_len = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut payload = payload.take();
        let auth = req.extensions_mut().remove::<AuthInProgress>();
        let read = async move {
            match content_type.as_deref() {
                Some("application/json") => {}
                Some(ct) if ct.starts_with("application/") && ct.ends_with("+json") => {}
                other => {
                    return Err(ApiError::UnsupportedMediaType(format!(
                        "the body must be JSON (Content-Type: application/json), not {}",
                        other.unwrap_or("missing")
                    )))
                }
            }
            if declared_len.is_some_and(|n| n > limit as u64) {
                return Err(ApiError::PayloadTooLarge {
                    limit: limit as u64,
                });
            }
            let mut body = web::BytesMut::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout_secs);
            loop {
                let next = tokio::time::timeout_at(deadline, payload.next())
                    .await
                    .map_err(|_| ApiError::BodyTimeout { secs: timeout_secs })?;
                let Some(chunk) = next else { break };
                let chunk = chunk.map_err(|e| ApiError::BadRequest {
                    code: ErrorCode::BodyUnreadable,
                    field: None,
                    message: format!("the request body could not be read: {e}"),
                })?;
                if body.len() + chunk.len() > limit {
                    return Err(ApiError::PayloadTooLarge {
                        limit: limit as u64,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            parse(&body).map(ApiJson)
        };
        Box::pin(async move {
            let read = read.await;
            if let (Err(_), Some(AuthInProgress(done))) = (&read, auth) {
                // An error either way; the token's verdict, if also an error, is answered
                // first (its extractor comes before the body in every handler).
                let _ = done.await;
            }
            read
        })
    }
}

/// Parses JSON, naming the field of the first error. Every string is checked first against
/// the character rules of `crate::text` (NUL nowhere, no control characters in names), so no
/// handler can forget them.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let tree: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::BadRequest {
            code: ErrorCode::MalformedJson,
            field: None,
            message: format!("the body is not valid JSON: {e}"),
        })?;
    crate::text::check_json(&tree)?;
    serde_path_to_error::deserialize(tree).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = (path != "." && !path.is_empty()).then_some(path);
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::BadRequest {
                code: ErrorCode::InvalidField,
                message: match &field {
                    Some(f) => format!("{f}: {inner}"),
                    None => inner.to_string(),
                },
                field,
            },
            _ => ApiError::BadRequest {
                code: ErrorCode::MalformedJson,
                field: None,
                message: format!("the body is not valid JSON: {inner}"),
            },
        }
    })
}
