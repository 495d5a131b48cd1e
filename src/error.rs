//! The one error type of the HTTP API, rendered as RFC 7807 `application/problem+json`
//! with a stable `code` that clients can rely on.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Every stable code a client can meet in a problem document (`code`, and the end of `type`):
/// one enum, so a code cannot be misspelt at a call site, and each is documented in
/// docs/API.md (a test checks it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    ActionNotAllowed,
    AlreadyAcknowledged,
    AlreadyGranted,
    AlreadyRegistered,
    BodyTimeout,
    BodyUnreadable,
    CertificateExpired,
    CertificateNotForSigning,
    CertificateNotYetValid,
    CertificateRevoked,
    CertificateUnreadable,
    CertificateUntrusted,
    ClockNotManual,
    ConcurrentUpdate,
    CredentialHasNoPin,
    CredentialNotUsable,
    DocumentReturned,
    Forbidden,
    IdempotencyKeyReused,
    InsufficientStorage,
    InternalError,
    InvalidCharacter,
    InvalidCredentials,
    InvalidField,
    InvalidIdempotencyKey,
    InvalidPath,
    InvalidQuery,
    KeyCertificateMismatch,
    LastAdmin,
    LeadAlreadyAssigned,
    MalformedJson,
    MultipartInvalid,
    NotADraft,
    NotFound,
    NotIncoming,
    NotRegistrable,
    NotReturnable,
    NotificationNotDead,
    NumberedAtIssuance,
    OfficeCaNotConfigured,
    PayloadTooLarge,
    PdfAlreadySigned,
    PdfCertifiedFieldRequired,
    PdfCertifiedNoChanges,
    PdfCertifyNotFirst,
    PdfCheckBusy,
    PdfDamaged,
    PdfEncrypted,
    PdfNotPdf,
    PdfTooComplex,
    PdfUnreadable,
    PdfUnsupported,
    PasswordChangeRequired,
    PinTooWeak,
    Pkcs12Unreadable,
    ProbableDuplicate,
    RangeNotSatisfiable,
    RecallRefused,
    Returned,
    RevocationUnavailable,
    RouteActive,
    RouteCompleted,
    RouteFinished,
    RouteNotFound,
    MethodNotAllowed,
    ServiceUnavailable,
    SignatureRequired,
    SignatureAppearanceInvalid,
    SignatureFieldInvalid,
    SignatureImageInvalid,
    SignatureInvalid,
    SigningKeyInvalid,
    SigningHandleExpired,
    SigningHandleUsed,
    SigningOptionsInvalid,
    SigningPinLocked,
    SigningPinWrong,
    SigningServiceRefused,
    SigningServiceUnavailable,
    TaskClosed,
    TooManyRequests,
    TsaFailed,
    TsaUnavailable,
    TypeCodeTaken,
    Unauthorized,
    UnitCodeTaken,
    UnitInUse,
    UnsupportedMediaType,
    UploadUnreadable,
    UsernameTaken,
    ValidationFailed,
    VersionChanged,
}

text_enum!(ErrorCode {
    ActionNotAllowed => "action_not_allowed",
    AlreadyAcknowledged => "already_acknowledged",
    AlreadyGranted => "already_granted",
    AlreadyRegistered => "already_registered",
    BodyTimeout => "body_timeout",
    BodyUnreadable => "body_unreadable",
    CertificateExpired => "certificate_expired",
    CertificateNotForSigning => "certificate_not_for_signing",
    CertificateNotYetValid => "certificate_not_yet_valid",
    CertificateRevoked => "certificate_revoked",
    CertificateUnreadable => "certificate_unreadable",
    CertificateUntrusted => "certificate_untrusted",
    ClockNotManual => "clock_not_manual",
    ConcurrentUpdate => "concurrent_update",
    CredentialHasNoPin => "credential_has_no_pin",
    CredentialNotUsable => "credential_not_usable",
    DocumentReturned => "document_returned",
    Forbidden => "forbidden",
    IdempotencyKeyReused => "idempotency_key_reused",
    InsufficientStorage => "insufficient_storage",
    InternalError => "internal_error",
    InvalidCharacter => "invalid_character",
    InvalidCredentials => "invalid_credentials",
    InvalidField => "invalid_field",
    InvalidIdempotencyKey => "invalid_idempotency_key",
    InvalidPath => "invalid_path",
    InvalidQuery => "invalid_query",
    KeyCertificateMismatch => "key_certificate_mismatch",
    LastAdmin => "last_admin",
    LeadAlreadyAssigned => "lead_already_assigned",
    MalformedJson => "malformed_json",
    MultipartInvalid => "multipart_invalid",
    NotADraft => "not_a_draft",
    NotFound => "not_found",
    NotIncoming => "not_incoming",
    NotRegistrable => "not_registrable",
    NotReturnable => "not_returnable",
    NotificationNotDead => "notification_not_dead",
    NumberedAtIssuance => "numbered_at_issuance",
    OfficeCaNotConfigured => "office_ca_not_configured",
    PayloadTooLarge => "payload_too_large",
    PdfAlreadySigned => "pdf_already_signed",
    PdfCertifiedFieldRequired => "pdf_certified_field_required",
    PdfCertifiedNoChanges => "pdf_certified_no_changes",
    PdfCertifyNotFirst => "pdf_certify_not_first",
    PdfCheckBusy => "pdf_check_busy",
    PdfDamaged => "pdf_damaged",
    PdfEncrypted => "pdf_encrypted",
    PdfNotPdf => "pdf_not_pdf",
    PdfTooComplex => "pdf_too_complex",
    PdfUnreadable => "pdf_unreadable",
    PdfUnsupported => "pdf_unsupported",
    PinTooWeak => "pin_too_weak",
    PasswordChangeRequired => "password_change_required",
    Pkcs12Unreadable => "pkcs12_unreadable",
    ProbableDuplicate => "probable_duplicate",
    RangeNotSatisfiable => "range_not_satisfiable",
    RecallRefused => "recall_refused",
    Returned => "returned",
    RevocationUnavailable => "revocation_unavailable",
    RouteActive => "route_active",
    RouteCompleted => "route_completed",
    RouteFinished => "route_finished",
    RouteNotFound => "route_not_found",
    MethodNotAllowed => "method_not_allowed",
    ServiceUnavailable => "service_unavailable",
    SignatureRequired => "signature_required",
    SignatureAppearanceInvalid => "signature_appearance_invalid",
    SignatureFieldInvalid => "signature_field_invalid",
    SignatureImageInvalid => "signature_image_invalid",
    SignatureInvalid => "signature_invalid",
    SigningKeyInvalid => "signing_key_invalid",
    SigningHandleExpired => "signing_handle_expired",
    SigningHandleUsed => "signing_handle_used",
    SigningOptionsInvalid => "signing_options_invalid",
    SigningPinLocked => "signing_pin_locked",
    SigningPinWrong => "signing_pin_wrong",
    SigningServiceRefused => "signing_service_refused",
    SigningServiceUnavailable => "signing_service_unavailable",
    TaskClosed => "task_closed",
    TooManyRequests => "too_many_requests",
    TsaFailed => "tsa_failed",
    TsaUnavailable => "tsa_unavailable",
    TypeCodeTaken => "type_code_taken",
    Unauthorized => "unauthorized",
    UnitCodeTaken => "unit_code_taken",
    UnitInUse => "unit_in_use",
    UnsupportedMediaType => "unsupported_media_type",
    UploadUnreadable => "upload_unreadable",
    UsernameTaken => "username_taken",
    ValidationFailed => "validation_failed",
    VersionChanged => "version_changed",
});

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl ErrorCode {
    /// The code of a signing-engine error (the engine is free of HTTP and keeps its own codes
    /// for the CLI; an I/O failure is an internal error here).
    pub fn of_signing(e: &crate::signing::SigningError) -> ErrorCode {
        use crate::signing::SigningError as S;
        match e {
            S::NotPdf(_) => ErrorCode::PdfNotPdf,
            S::Encrypted(_) => ErrorCode::PdfEncrypted,
            S::Damaged(_) => ErrorCode::PdfDamaged,
            S::CertifiedNoChanges => ErrorCode::PdfCertifiedNoChanges,
            S::CertifiedFieldRequired(_) => ErrorCode::PdfCertifiedFieldRequired,
            S::Unsupported(_) => ErrorCode::PdfUnsupported,
            S::TooComplex(_) => ErrorCode::PdfTooComplex,
            S::Key(_) => ErrorCode::SigningKeyInvalid,
            S::Tsa(_) => ErrorCode::TsaFailed,
            S::Field(_) => ErrorCode::SignatureFieldInvalid,
            S::Appearance(_) => ErrorCode::SignatureAppearanceInvalid,
            S::CertifyNotFirst => ErrorCode::PdfCertifyNotFirst,
            S::AlreadySigned => ErrorCode::PdfAlreadySigned,
            S::Options(_) => ErrorCode::SigningOptionsInvalid,
            S::BadSignature(_) => ErrorCode::SignatureInvalid,
            S::Remote(_) => ErrorCode::SigningServiceUnavailable,
            S::RemoteRefused(_) => ErrorCode::SigningServiceRefused,
            S::RevocationUnavailable(_) => ErrorCode::RevocationUnavailable,
            S::CertificateRevoked { .. } => ErrorCode::CertificateRevoked,
            S::Internal(_) | S::Io(_) => ErrorCode::InternalError,
        }
    }
}

impl ApiError {
    /// A signing-engine failure as a request answers it: a timestamp authority or remote
    /// signing service out of reach is a passing 503 (nothing was signed or stored); the
    /// document's, key's or signature's own problems are 422s with the engine's code; I/O and
    /// internal failures are 500s.
    pub fn of_signing(e: crate::signing::SigningError) -> ApiError {
        use crate::signing::SigningError as S;
        match e {
            S::Tsa(m) => ApiError::UpstreamUnavailable {
                code: ErrorCode::TsaUnavailable,
                message: format!("the timestamp authority did not answer: {m}; nothing was signed"),
            },
            S::Remote(m) => ApiError::UpstreamUnavailable {
                code: ErrorCode::SigningServiceUnavailable,
                message: format!(
                    "the remote signing service did not answer: {m}; nothing was signed"
                ),
            },
            S::RevocationUnavailable(m) => ApiError::UpstreamUnavailable {
                code: ErrorCode::RevocationUnavailable,
                message: format!(
                    "revocation information could not be had: {m}; nothing was written"
                ),
            },
            S::Internal(_) | S::Io(_) => ApiError::internal(e),
            other => ApiError::Unprocessable {
                code: ErrorCode::of_signing(&other),
                message: other.to_string(),
            },
        }
    }
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The thing does not exist or the caller may not know it exists.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// No endpoint at this method and path.
    #[error("{0}")]
    NoRoute(String),
    /// The path exists, not with this method; `allow` lists the methods it has.
    #[error("{message}")]
    MethodNotAllowed { allow: String, message: String },
    /// The request conflicts with the current state.
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    /// The request lost a race or came too late: 409 carrying the current state, so the
    /// client can show what happened instead of retrying blindly.
    #[error("{message}")]
    Stale {
        code: ErrorCode,
        message: String,
        current: serde_json::Value,
    },
    /// The request could not be read (syntax, types, unknown values).
    #[error("{message}")]
    BadRequest {
        code: ErrorCode,
        field: Option<String>,
        message: String,
    },
    /// The request was read but a value is not acceptable.
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    /// No valid credentials.
    #[error("{message}")]
    Unauthorized { code: ErrorCode, message: String },
    /// Authenticated, but not allowed.
    #[error("you are not allowed to do this")]
    Forbidden,
    /// Authenticated, but a further secret (a signing PIN) was wrong; the code says which.
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
    /// The request was read but its content cannot be processed (e.g. an unreadable PDF);
    /// the code says why.
    #[error("{message}")]
    Unprocessable { code: ErrorCode, message: String },
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
    /// Something is locked after too many failures (a signing credential after wrong PINs);
    /// the code says what, `Retry-After` when.
    #[error("{message}")]
    Locked {
        code: ErrorCode,
        message: String,
        retry_after: u64,
    },
    /// A dependency (the database, the file store) is not reachable now.
    #[error("{0}")]
    Unavailable(String),
    /// The database connection a request was using broke (the server restarted, an
    /// administrator ended it, a failover): 503 like [`ApiError::Unavailable`], and the pool
    /// drops that connection rather than hand it out again.
    #[error("the connection to the database was lost; try again")]
    ConnectionLost,
    /// The database could not serialise this change with another one (SQLSTATE 40001) even
    /// after [`crate::db::write_tx`] ran it again: 409 `concurrent_update`, retry.
    #[error("another change happened at the same time; retry")]
    Contention,
    /// Another service a request needs (the timestamp authority) is not reachable now; the
    /// code says which. Nothing was changed.
    #[error("{message}")]
    UpstreamUnavailable { code: ErrorCode, message: String },
    /// The file store or the database's disk is full: nothing was written.
    #[error("{0}")]
    InsufficientStorage(String),
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
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            message: message.into(),
        }
    }

    /// Wraps an unexpected failure.
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(e.into())
    }

    /// Whether the database connection this error came from may be unusable now: lost, or an
    /// unexpected failure (which may be the connection's). The pool then drops it rather than
    /// hand it out again. A file store out of reach (`Unavailable`) says nothing about it.
    pub fn may_mean_connection_lost(&self) -> bool {
        matches!(self, ApiError::Internal(_) | ApiError::ConnectionLost)
    }

    /// The stable code clients see.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::NoRoute(_) => ErrorCode::RouteNotFound,
            ApiError::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            ApiError::Conflict { code, .. } => *code,
            ApiError::Contention => ErrorCode::ConcurrentUpdate,
            ApiError::Stale { code, .. } => *code,
            ApiError::BadRequest { code, .. } => *code,
            ApiError::Validation { .. } => ErrorCode::ValidationFailed,
            ApiError::Unprocessable { code, .. } => *code,
            ApiError::RangeNotSatisfiable { .. } => ErrorCode::RangeNotSatisfiable,
            ApiError::Unauthorized { code, .. } => *code,
            ApiError::Forbidden => ErrorCode::Forbidden,
            ApiError::Refused { code, .. } => *code,
            ApiError::Locked { code, .. } => *code,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::BodyTimeout { .. } => ErrorCode::BodyTimeout,
            ApiError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ApiError::TooManyRequests { .. } => ErrorCode::TooManyRequests,
            ApiError::Unavailable(_) | ApiError::ConnectionLost => ErrorCode::ServiceUnavailable,
            ApiError::UpstreamUnavailable { code, .. } => *code,
            ApiError::InsufficientStorage(_) => ErrorCode::InsufficientStorage,
            ApiError::Internal(_) => ErrorCode::InternalError,
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
            type_: format!("urn:docflow:problem:{}", self.code().as_str()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: self.code().as_str().to_string(),
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
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } | ApiError::Contention | ApiError::Stale { .. } => {
                StatusCode::CONFLICT
            }
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Validation { .. } | ApiError::Unprocessable { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::Refused { .. } => StatusCode::FORBIDDEN,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } | ApiError::Locked { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(_)
            | ApiError::ConnectionLost
            | ApiError::UpstreamUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
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
            ApiError::TooManyRequests { retry_after } | ApiError::Locked { retry_after, .. } => {
                resp.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            ApiError::Unauthorized { .. } => {
                resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::MethodNotAllowed { allow, .. } => {
                resp.insert_header((header::ALLOW, allow.clone()));
            }
            ApiError::RangeNotSatisfiable { size } => {
                resp.insert_header((header::CONTENT_RANGE, format!("bytes */{size}")));
            }
            // The rest of a trickling body is not worth waiting for.
            ApiError::BodyTimeout { .. } => {
                resp.insert_header((header::CONNECTION, "close"));
            }
            // Every 503 is a passing state (database unreachable, checks saturated).
            ApiError::Unavailable(_)
            | ApiError::ConnectionLost
            | ApiError::UpstreamUnavailable { .. } => {
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
            code: ErrorCode::InvalidCharacter,
            message: format!("{field}: {}", message.into()),
            field: Some(field),
        }
    }
}

/// What a race on a unique index means to the client: the index (its PostgreSQL constraint
/// name, and the columns SQLite names in "UNIQUE constraint failed: …"), the domain code and
/// the words. Sequential requests meet the service's own check first and get the same code;
/// these rows answer the loser of a race the same way, never with the index's name.
const UNIQUE_INDEXES: &[(&str, &str, ErrorCode, &str)] = &[
    (
        "units_code_key",
        "units.code",
        ErrorCode::UnitCodeTaken,
        "a unit with this code exists",
    ),
    (
        "users_username_key",
        "users.username",
        ErrorCode::UsernameTaken,
        "this username is taken",
    ),
    (
        "document_types_pkey",
        "document_types.code",
        ErrorCode::TypeCodeTaken,
        "a document type with this code exists",
    ),
    (
        "document_registrations_pkey",
        "document_registrations.document_id",
        ErrorCode::AlreadyRegistered,
        "the document is registered already",
    ),
    (
        "document_grants_pkey",
        "document_grants.document_id, document_grants.user_id",
        ErrorCode::AlreadyGranted,
        "the user has access to the document already",
    ),
    (
        "workflow_routes_one_active_uq",
        "workflow_routes.document_id",
        ErrorCode::RouteActive,
        "the document has an active route already",
    ),
    (
        "workflow_tasks_one_lead_uq",
        "workflow_tasks.document_id",
        ErrorCode::LeadAlreadyAssigned,
        "the document has a lead already",
    ),
];

/// A unique violation as the client sees it: the domain code of the index when it is one a
/// race can reach (see [`UNIQUE_INDEXES`]); otherwise a change that raced another one
/// (versions, roles, idempotency keys, counters), worth a retry. The index name goes to the
/// log only.
fn unique_violation(constraint: Option<&str>, message: &str) -> ApiError {
    let sqlite_columns = message.strip_prefix("UNIQUE constraint failed: ");
    let known = UNIQUE_INDEXES.iter().find(|(pg, cols, _, _)| {
        constraint == Some(*pg) || sqlite_columns.is_some_and(|c| c == *cols)
    });
    match known {
        Some((_, _, code, words)) => ApiError::conflict(*code, *words),
        None => {
            tracing::warn!(constraint, message, "unique violation");
            ApiError::conflict(
                ErrorCode::ConcurrentUpdate,
                "another change happened at the same time; retry",
            )
        }
    }
}

/// Whether a database error says its disk is full: SQLite's `SQLITE_FULL` ("database or disk
/// is full"), PostgreSQL's `53100 disk_full` ("could not extend file …: No space left on
/// device", hint "Check free disk space.") and a quota (`EDQUOT`). diesel does not expose the
/// SQLSTATE, so the words are what is left to read.
fn disk_full(info: &dyn diesel::result::DatabaseErrorInformation) -> bool {
    let words = [info.message(), info.hint().unwrap_or("")];
    words.iter().any(|w| {
        w.contains("database or disk is full")
            || w.contains("No space left on device")
            || w.contains("Disk quota exceeded")
            || w.contains("Check free disk space")
    })
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => ApiError::NotFound("record"),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                unique_violation(info.constraint_name(), info.message())
            }
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                ApiError::validation("reference", "refers to a record that does not exist")
            }
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                ApiError::Contention
            }
            Error::DatabaseError(_, info) if disk_full(info.as_ref()) => {
                tracing::error!(cause = info.message(), "database disk full");
                database_full()
            }
            Error::RollbackErrorOnCommit { commit_error, .. } => ApiError::from(*commit_error),
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => {
                tracing::warn!(cause = info.message(), "database connection lost");
                ApiError::ConnectionLost
            }
            other => ApiError::internal(other),
        }
    }
}

fn database_full() -> ApiError {
    ApiError::InsufficientStorage(
        "the database has no space left to record this change; nothing was changed".into(),
    )
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
/// a full store is 507 (an operator must make room; a retry alone will not help), a store that
/// cannot be reached is passing (503, worth a retry), and a blob the database names but the
/// store lacks is the server's fault.
impl From<crate::storage::StorageError> for ApiError {
    fn from(e: crate::storage::StorageError) -> Self {
        use crate::storage::StorageError;
        match e {
            StorageError::TooLarge { limit } => ApiError::PayloadTooLarge { limit },
            StorageError::Upload(m) => ApiError::BadRequest {
                code: ErrorCode::UploadUnreadable,
                field: None,
                message: format!("the upload could not be read: {m}"),
            },
            StorageError::Full(cause) => {
                tracing::error!(%cause, "file store full");
                ApiError::InsufficientStorage(
                    "the file store has no space left; nothing was stored".into(),
                )
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error};

    /// A database error as a driver reports it.
    struct Info {
        message: &'static str,
        hint: Option<&'static str>,
        constraint: Option<&'static str>,
    }

    impl DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.message
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            self.hint
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            self.constraint
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn db_error(kind: DatabaseErrorKind, info: Info) -> ApiError {
        ApiError::from(Error::DatabaseError(kind, Box::new(info)))
    }

    #[test]
    fn a_full_database_is_507_on_both_backends() {
        let sqlite = db_error(
            DatabaseErrorKind::Unknown,
            Info {
                message: "database or disk is full",
                hint: None,
                constraint: None,
            },
        );
        // PostgreSQL's 53100 disk_full, as the server words it.
        let pg = db_error(
            DatabaseErrorKind::Unknown,
            Info {
                message: "could not extend file \"base/16384/16402\": No space left on device",
                hint: Some("Check free disk space."),
                constraint: None,
            },
        );
        for e in [sqlite, pg] {
            assert_eq!(e.status_code(), StatusCode::INSUFFICIENT_STORAGE);
            assert_eq!(e.code(), "insufficient_storage");
        }
        let other = db_error(
            DatabaseErrorKind::Unknown,
            Info {
                message: "syntax error",
                hint: None,
                constraint: None,
            },
        );
        assert_eq!(other.code(), "internal_error");
    }

    #[test]
    fn only_a_database_fault_drops_the_connection() {
        for kind in [
            DatabaseErrorKind::ClosedConnection,
            DatabaseErrorKind::UnableToSendCommand,
        ] {
            let lost = db_error(
                kind,
                Info {
                    message: "server closed the connection unexpectedly",
                    hint: None,
                    constraint: None,
                },
            );
            assert_eq!(lost.status_code(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(lost.code(), "service_unavailable");
            assert!(lost.may_mean_connection_lost());
        }
        let unexpected = db_error(
            DatabaseErrorKind::Unknown,
            Info {
                message: "syntax error",
                hint: None,
                constraint: None,
            },
        );
        assert!(unexpected.may_mean_connection_lost());
        // A file store out of reach is a 503 too, but the database connection is fine.
        let store = ApiError::from(crate::storage::StorageError::from(
            std::io::Error::from_raw_os_error(2),
        ));
        assert_eq!(store.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!store.may_mean_connection_lost());
        assert!(!ApiError::Forbidden.may_mean_connection_lost());
    }

    #[test]
    fn a_full_file_store_is_507() {
        let full = std::io::Error::from_raw_os_error(28);
        let e = ApiError::from(crate::storage::StorageError::from(full));
        assert_eq!(e.status_code(), StatusCode::INSUFFICIENT_STORAGE);
        let quota = std::io::Error::from_raw_os_error(122);
        let e = ApiError::from(crate::storage::StorageError::from(quota));
        assert_eq!(e.code(), "insufficient_storage");
        let gone = std::io::Error::from_raw_os_error(2);
        let e = ApiError::from(crate::storage::StorageError::from(gone));
        assert_eq!(e.code(), "service_unavailable");
    }

    #[test]
    fn unique_violations_answer_domain_codes_without_index_names() {
        let cases = [
            (
                Some("document_registrations_pkey"),
                "duplicate key value violates unique constraint \"document_registrations_pkey\"",
                "already_registered",
            ),
            (
                None,
                "UNIQUE constraint failed: document_registrations.document_id",
                "already_registered",
            ),
            (
                Some("users_username_key"),
                "duplicate key value violates unique constraint \"users_username_key\"",
                "username_taken",
            ),
            (
                None,
                "UNIQUE constraint failed: units.code",
                "unit_code_taken",
            ),
            (
                Some("workflow_routes_one_active_uq"),
                "duplicate key value",
                "route_active",
            ),
            (
                None,
                "UNIQUE constraint failed: document_grants.document_id, document_grants.user_id",
                "already_granted",
            ),
            (
                Some("document_versions_pkey"),
                "duplicate key value violates unique constraint \"document_versions_pkey\"",
                "concurrent_update",
            ),
        ];
        for (constraint, message, code) in cases {
            let e = db_error(
                DatabaseErrorKind::UniqueViolation,
                Info {
                    message,
                    hint: None,
                    constraint,
                },
            );
            assert_eq!(e.code(), code, "{message}");
            assert_eq!(e.status_code(), StatusCode::CONFLICT);
            let detail = e.problem().detail;
            assert!(
                !detail.contains("constraint") && !detail.contains('_'),
                "{detail}"
            );
        }
    }

    #[test]
    fn every_code_is_documented_in_api_md() {
        let doc = include_str!("../docs/API.md");
        let missing: Vec<&str> = ErrorCode::ALL
            .iter()
            .map(|c| c.as_str())
            .filter(|c| !doc.contains(&format!("`{c}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "codes missing from docs/API.md: {missing:?}"
        );
    }
}
