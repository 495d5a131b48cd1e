//! Reading a multipart upload: a small `metadata` JSON part kept in memory, and a `file` part
//! streamed to the blob store's staging folder while it is hashed — never held whole in memory.

use super::inspect::{self, PdfFacts, PdfRejection};
use crate::error::ApiError;
use crate::http::AppState;
use crate::storage::StagedFile;
use actix_multipart::Multipart;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use std::time::Duration;

/// The parts of an upload.
#[derive(Debug, Default)]
pub struct Upload {
    /// The `metadata` part's bytes, when sent.
    pub metadata: Option<Vec<u8>>,
    /// The `file` part, staged.
    pub file: Option<UploadedPart>,
}

/// The staged `file` part with what the client said about it.
#[derive(Debug)]
pub struct UploadedPart {
    pub staged: StagedFile,
    /// Sanitised file name (no folders, no control characters).
    pub file_name: String,
    /// The part's declared media type (attachments keep it).
    pub content_type: String,
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        code,
        field: None,
        message: message.into(),
    }
}

/// Keeps the last path segment, drops control characters, caps the length.
pub fn clean_file_name(raw: Option<&str>, fallback: &str) -> String {
    let last = raw
        .unwrap_or("")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(200)
        .collect::<String>();
    let trimmed = last.trim().trim_start_matches('.').to_string();
    if trimmed.is_empty() {
        fallback.to_string()
    } else {
        trimmed
    }
}

fn clean_media_type(raw: Option<String>) -> String {
    match raw {
        Some(t) if t.len() <= 100 && t.contains('/') && t.bytes().all(|b| b.is_ascii_graphic()) => {
            t.to_ascii_lowercase()
        }
        _ => "application/octet-stream".into(),
    }
}

/// Reads a `multipart/form-data` body. `allow_metadata` says whether a `metadata` part is
/// expected; any other part name is refused.
pub async fn read(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    allow_metadata: bool,
) -> Result<Upload, ApiError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !content_type.starts_with("multipart/form-data") {
        return Err(ApiError::UnsupportedMediaType(
            "the body must be multipart/form-data with a 'file' part".into(),
        ));
    }
    let file_limit = state.config.max_upload_bytes;
    let json_limit = state.config.max_json_bytes;
    // Room for part headers and boundaries on top of the two parts.
    let overall = file_limit + json_limit as u64 + 64 * 1024;
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > overall) {
        return Err(ApiError::PayloadTooLarge { limit: file_limit });
    }
    let mut multipart = Multipart::new(req.headers(), payload);
    let mut upload = Upload::default();
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|e| {
            bad(
                "multipart_invalid",
                format!("the multipart body is not valid: {e}"),
            )
        })?;
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "metadata" if allow_metadata => {
                if upload.metadata.is_some() {
                    return Err(bad(
                        "multipart_invalid",
                        "the 'metadata' part is sent twice",
                    ));
                }
                let mut buf = Vec::new();
                while let Some(chunk) = field.next().await {
                    let chunk = chunk.map_err(|e| {
                        bad(
                            "upload_unreadable",
                            format!("the upload could not be read: {e}"),
                        )
                    })?;
                    if buf.len() + chunk.len() > json_limit {
                        return Err(ApiError::PayloadTooLarge {
                            limit: json_limit as u64,
                        });
                    }
                    buf.extend_from_slice(&chunk);
                }
                upload.metadata = Some(buf);
            }
            "file" => {
                if upload.file.is_some() {
                    return Err(bad("multipart_invalid", "the 'file' part is sent twice"));
                }
                let file_name = clean_file_name(
                    field.content_disposition().and_then(|cd| cd.get_filename()),
                    "file",
                );
                let content_type =
                    clean_media_type(field.content_type().map(|m| m.essence_str().to_string()));
                let staged = state
                    .blobs
                    .stage(&mut field, file_limit)
                    .await
                    .map_err(ApiError::from)?;
                upload.file = Some(UploadedPart {
                    staged,
                    file_name,
                    content_type,
                });
            }
            other => {
                let expected = if allow_metadata {
                    "'metadata' and 'file'"
                } else {
                    "'file'"
                };
                return Err(bad(
                    "multipart_invalid",
                    format!("unexpected part '{other}': send {expected}"),
                ));
            }
        }
    }
    Ok(upload)
}

/// Checks a staged PDF off the async executor, within the configured time.
pub async fn check_pdf(state: &AppState, staged: &StagedFile) -> Result<PdfFacts, ApiError> {
    let path = staged.path.clone();
    let limit = state.config.max_upload_bytes;
    let timeout = Duration::from_secs(state.config.pdf_check_timeout_secs);
    let outcome = web::block(
        move || -> Result<Result<PdfFacts, PdfRejection>, std::io::Error> {
            let meta = std::fs::metadata(&path)?;
            if meta.len() > limit {
                return Ok(Err(PdfRejection::Unreadable(
                    "the file is too large to check".into(),
                )));
            }
            Ok(inspect::inspect_file_guarded(path, timeout))
        },
    )
    .await?
    .map_err(ApiError::internal)?;
    outcome.map_err(|r| match r {
        PdfRejection::Busy(why) => ApiError::Unavailable(why),
        r => ApiError::Unprocessable {
            code: r.code(),
            message: r.to_string(),
        },
    })
}

/// Puts a staged file into the blob store.
pub async fn store(state: &AppState, staged: &StagedFile) -> Result<(), ApiError> {
    state.blobs.put(staged).await.map_err(ApiError::from)
}
