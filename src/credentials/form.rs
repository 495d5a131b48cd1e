//! Reading the small bodies of this domain into memory with a bound per part and a deadline:
//! a multipart form (a PKCS#12 of at most 64 KiB, a PNG of at most 512 KiB, a metadata JSON)
//! or a raw body. Nothing here is large enough to be worth staging on disk.

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use actix_multipart::Multipart;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;

/// Room for part headers and boundaries beyond the parts themselves.
const OVERHEAD: usize = 16 * 1024;

fn multipart_invalid(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        code: ErrorCode::MultipartInvalid,
        field: None,
        message: message.into(),
    }
}

/// The essence of the request's media type, lower case ("" when absent).
pub fn media_type(req: &HttpRequest) -> String {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn declared_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// The parts of a form, by name.
#[derive(Default)]
pub struct Form {
    parts: HashMap<String, Vec<u8>>,
}

impl Form {
    /// A part's bytes, or 400 naming the missing part.
    pub fn take(&mut self, name: &str) -> Result<Vec<u8>, ApiError> {
        self.parts.remove(name).ok_or_else(|| ApiError::BadRequest {
            code: ErrorCode::InvalidField,
            field: Some(name.to_string()),
            message: format!("the '{name}' part is missing"),
        })
    }

    /// A part's bytes, when sent.
    pub fn take_optional(&mut self, name: &str) -> Option<Vec<u8>> {
        self.parts.remove(name)
    }
}

/// Reads a `multipart/form-data` body whose parts are among `allowed` (name, largest size in
/// bytes): another name, a part sent twice or a body that breaks off is 400
/// `multipart_invalid`, a part over its bound 413, a body slower than `body_timeout_secs` 408.
pub async fn read_multipart(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    allowed: &[(&str, usize)],
) -> Result<Form, ApiError> {
    if media_type(req) != "multipart/form-data" {
        return Err(ApiError::UnsupportedMediaType(
            "the body must be multipart/form-data".into(),
        ));
    }
    let overall: usize = allowed.iter().map(|(_, n)| n).sum::<usize>() + OVERHEAD;
    if declared_length(req).is_some_and(|n| n > overall as u64) {
        return Err(ApiError::PayloadTooLarge {
            limit: overall as u64,
        });
    }
    let secs = state.config.body_timeout_secs;
    let multipart = Multipart::new(req.headers(), payload);
    tokio::time::timeout(Duration::from_secs(secs), read_parts(multipart, allowed))
        .await
        .map_err(|_| ApiError::BodyTimeout { secs })?
}

async fn read_parts(mut multipart: Multipart, allowed: &[(&str, usize)]) -> Result<Form, ApiError> {
    let mut form = Form::default();
    while let Some(field) = multipart.next().await {
        let mut field = field
            .map_err(|e| multipart_invalid(format!("the multipart body is not valid: {e}")))?;
        let name = field.name().unwrap_or("").to_string();
        let Some((_, limit)) = allowed.iter().find(|(n, _)| *n == name) else {
            let names: Vec<String> = allowed.iter().map(|(n, _)| format!("'{n}'")).collect();
            return Err(multipart_invalid(format!(
                "unexpected part '{}': send {}",
                name.chars().take(64).collect::<String>(),
                names.join(", ")
            )));
        };
        if form.parts.contains_key(&name) {
            return Err(multipart_invalid(format!(
                "the '{name}' part is sent twice"
            )));
        }
        let mut buf = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk
                .map_err(|e| multipart_invalid(format!("the multipart body is not valid: {e}")))?;
            if buf.len() + chunk.len() > *limit {
                return Err(ApiError::PayloadTooLarge {
                    limit: *limit as u64,
                });
            }
            buf.extend_from_slice(&chunk);
        }
        form.parts.insert(name, buf);
    }
    Ok(form)
}

/// Reads a raw body of the media type `expected`, at most `limit` bytes, within the deadline.
pub async fn read_raw(
    state: &AppState,
    req: &HttpRequest,
    mut payload: web::Payload,
    expected: &str,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let got = media_type(req);
    if got != expected {
        return Err(ApiError::UnsupportedMediaType(format!(
            "the body must be {expected}, not {}",
            if got.is_empty() { "missing" } else { &got }
        )));
    }
    if declared_length(req).is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge {
            limit: limit as u64,
        });
    }
    let secs = state.config.body_timeout_secs;
    let read = async {
        let mut buf = Vec::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| ApiError::BadRequest {
                code: ErrorCode::BodyUnreadable,
                field: None,
                message: format!("the request body could not be read: {e}"),
            })?;
            if buf.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge {
                    limit: limit as u64,
                });
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf)
    };
    tokio::time::timeout(Duration::from_secs(secs), read)
        .await
        .map_err(|_| ApiError::BodyTimeout { secs })?
}
