//! The one error type of the HTTP API, rendered as RFC 7807 `application/problem+json`
//! with a stable `code` that clients can rely on.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The thing does not exist or the caller may not know it exists.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// No endpoint at this method and path.
    #[error("{0}")]
    NoRoute(String),
    /// The request conflicts with the current state.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The request lost a race or came too late: 409 carrying the current state, so the
    /// client can show what happened instead of retrying blindly.
    #[error("{message}")]
    Stale {
        code: &'static str,
        message: String,
        current: serde_json::Value,
    },
    /// The request could not be read (syntax, types, unknown values).
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        field: Option<String>,
        message: String,
    },
    /// The request was read but a value is not acceptable.
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    /// No valid credentials.
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    /// Authenticated, but not allowed.
    #[error("you are not allowed to do this")]
    Forbidden,
    /// The request was read but its content cannot be processed (e.g. an unreadable PDF);
    /// the code says why.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// The requested byte range lies outside the file.
    #[error("the requested range is outside the file ({size} bytes)")]
    RangeNotSatisfiable { size: u64 },
    /// The body is larger than the configured limit.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    /// The body did not arrive within the allowed time (`body_timeout_secs`).
    #[error("the request body did not arrive in time (allowed: {secs} seconds)")]
    BodyTimeout { secs: u64 },
    /// The body's media type is not accepted.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Too many attempts; retry after this many seconds.
    #[error("too many attempts; try again in {retry_after} seconds")]
    TooManyRequests { retry_after: u64 },
    /// A dependency (the database) is not reachable now.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure; details go to the log, not to the client.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The problem document sent to clients.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// URI reference naming the problem type (`urn:docflow:problem:<code>`).
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Human-readable explanation of this occurrence.
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
    /// The request field the problem is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The current state of the thing, when a conflict carries it (e.g. a route).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub current: Option<serde_json::Value>,
}

impl ApiError {
    /// Validation error about one field.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Conflict with a stable code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            message: message.into(),
        }
    }

    /// Wraps an unexpected failure.
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(e.into())
    }

    /// The stable code clients see.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "not_found",
            ApiError::NoRoute(_) => "route_not_found",
            ApiError::Conflict { code, .. } => code,
            ApiError::Stale { code, .. } => code,
            ApiError::BadRequest { code, .. } => code,
            ApiError::Validation { .. } => "validation_failed",
            ApiError::Unprocessable { code, .. } => code,
            ApiError::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            ApiError::Unauthorized { code, .. } => code,
            ApiError::Forbidden => "forbidden",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::BodyTimeout { .. } => "body_timeout",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Unavailable(_) => "service_unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            ApiError::BadRequest { field, .. } => field.clone(),
            ApiError::Validation { field, .. } => Some(field.clone()),
            _ => None,
        }
    }

    /// Renders the problem document (used directly by extractors' error handlers too).
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        Problem {
            type_: format!("urn:docflow:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: self.code().to_string(),
            field: self.field(),
            current: match self {
                ApiError::Stale { current, .. } => Some(current.clone()),
                _ => None,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) | ApiError::NoRoute(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } | ApiError::Stale { .. } => StatusCode::CONFLICT,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Validation { .. } | ApiError::Unprocessable { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = ?cause, "internal error");
        }
        let mut resp = HttpResponse::build(self.status_code());
        resp.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        match self {
            ApiError::TooManyRequests { retry_after } => {
                resp.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            ApiError::Unauthorized { .. } => {
                resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::RangeNotSatisfiable { size } => {
                resp.insert_header((header::CONTENT_RANGE, format!("bytes */{size}")));
            }
            // The rest of a trickling body is not worth waiting for.
            ApiError::BodyTimeout { .. } => {
                resp.insert_header((header::CONNECTION, "close"));
            }
            // Every 503 is a passing state (database unreachable, checks saturated).
            ApiError::Unavailable(_) => {
                resp.insert_header((header::RETRY_AFTER, "30"));
            }
            _ => {}
        }
        resp.body(serde_json::to_string(&self.problem()).unwrap_or_else(|_| "{}".into()))
    }
}

impl ApiError {
    /// A character that no field may hold (NUL), or a control character in a query value.
    pub fn invalid_character(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        ApiError::BadRequest {
            code: "invalid_character",
            message: format!("{field}: {}", message.into()),
            field: Some(field),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => ApiError::NotFound("record"),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => ApiError::conflict(
                "already_exists",
                format!(
                    "a record with the same unique value exists ({})",
                    info.message()
                ),
            ),
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                ApiError::validation("reference", "refers to a record that does not exist")
            }
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => ApiError::conflict(
                "concurrent_update",
                "another change happened at the same time; retry",
            ),
            other => ApiError::internal(other),
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        tracing::warn!(error = %e, "database pool");
        ApiError::Unavailable("the database is not reachable right now".into())
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::internal(anyhow::anyhow!("blocking task failed: {e}"))
    }
}

/// The one mapping of file-store failures: the upload's own faults are the client's (413, 400),
/// a store that cannot be reached or is full is passing (503, worth a retry), and a blob the
/// database names but the store lacks is the server's fault.
impl From<crate::storage::StorageError> for ApiError {
    fn from(e: crate::storage::StorageError) -> Self {
        use crate::storage::StorageError;
        match e {
            StorageError::TooLarge { limit } => ApiError::PayloadTooLarge { limit },
            StorageError::Upload(m) => ApiError::BadRequest {
                code: "upload_unreadable",
                field: None,
                message: format!("the upload could not be read: {m}"),
            },
            StorageError::Io(cause) => {
                tracing::error!(%cause, "file store failure");
                ApiError::Unavailable(
                    "the file store cannot be reached right now; try again".into(),
                )
            }
            other => ApiError::internal(other),
        }
    }
}
