//! Reading a multipart upload: a small `metadata` JSON part kept in memory, and a `file` part
//! streamed to the blob store's staging folder while it is hashed — never held whole in memory.

use super::inspect::{self, PdfFacts, PdfRejection};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::storage::StagedFile;
use actix_multipart::Multipart;
use actix_web::error::PayloadError;
use actix_web::{web, HttpRequest};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
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

fn bad(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        code,
        field: None,
        message: message.into(),
    }
}

/// Keeps the last path segment, drops quotes, caps the length. A name holding a control or
/// bidirectional character is refused (`\u{202E}fdp.exe` would show as `exe.pdf`), not
/// silently changed into another name.
pub fn clean_file_name(raw: Option<&str>, fallback: &str) -> Result<String, ApiError> {
    let raw = raw.unwrap_or("");
    crate::text::check_name("file.filename", raw)?;
    let last = raw
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| *c != '"')
        .take(200)
        .collect::<String>();
    let trimmed = last.trim().trim_start_matches('.').to_string();
    Ok(if trimmed.is_empty() {
        fallback.to_string()
    } else {
        trimmed
    })
}

/// The request body with a deadline: `body_timeout_secs`, plus a second per 64 KiB received,
/// so a client sending a byte every few seconds is cut off. `timed_out` tells the caller why
/// the stream failed.
struct Deadline {
    payload: Pin<Box<web::Payload>>,
    start: tokio::time::Instant,
    base: Duration,
    received: u64,
    sleep: Pin<Box<tokio::time::Sleep>>,
    done: bool,
    timed_out: Rc<Cell<bool>>,
}

impl Deadline {
    fn new(payload: web::Payload, base: Duration, timed_out: Rc<Cell<bool>>) -> Deadline {
        let start = tokio::time::Instant::now();
        Deadline {
            payload: Box::pin(payload),
            start,
            base,
            received: 0,
            sleep: Box::pin(tokio::time::sleep_until(start + base)),
            done: false,
            timed_out,
        }
    }
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        // The multipart parser may poll again after the end: stay ended.
        if this.done {
            return Poll::Ready(None);
        }
        match this.payload.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => {
                this.received += bytes.len() as u64;
                let allowed = this.base + Duration::from_secs(this.received / (64 * 1024));
                this.sleep.as_mut().reset(this.start + allowed);
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.done = true;
                    this.timed_out.set(true);
                    let e = std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the request body did not arrive in time",
                    );
                    Poll::Ready(Some(Err(PayloadError::Io(e))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
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
    let timed_out = Rc::new(Cell::new(false));
    let secs = state.config.body_timeout_secs;
    let body = Deadline::new(payload, Duration::from_secs(secs), timed_out.clone());
    let multipart = Multipart::new(req.headers(), body);
    // On every error the parts read so far are dropped, and a staged file with them.
    match read_parts(state, multipart, allow_metadata).await {
        Err(_) if timed_out.get() => Err(ApiError::BodyTimeout { secs }),
        other => other,
    }
}

async fn read_parts(
    state: &AppState,
    mut multipart: Multipart,
    allow_metadata: bool,
) -> Result<Upload, ApiError> {
    let file_limit = state.config.max_upload_bytes;
    let json_limit = state.config.max_json_bytes;
    let mut upload = Upload::default();
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|e| {
            bad(
                ErrorCode::MultipartInvalid,
                format!("the multipart body is not valid: {e}"),
            )
        })?;
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "metadata" if allow_metadata => {
                if upload.metadata.is_some() {
                    return Err(bad(
                        ErrorCode::MultipartInvalid,
                        "the 'metadata' part is sent twice",
                    ));
                }
                let mut buf = Vec::new();
                while let Some(chunk) = field.next().await {
                    let chunk = chunk.map_err(|e| {
                        bad(
                            ErrorCode::MultipartInvalid,
                            format!("the multipart body is not valid: {e}"),
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
                    return Err(bad(
                        ErrorCode::MultipartInvalid,
                        "the 'file' part is sent twice",
                    ));
                }
                let file_name = clean_file_name(
                    field.content_disposition().and_then(|cd| cd.get_filename()),
                    "file",
                )?;
                let content_type =
                    clean_media_type(field.content_type().map(|m| m.essence_str().to_string()));
                let staged =
                    state
                        .blobs
                        .stage(&mut field, file_limit)
                        .await
                        .map_err(|e| match e {
                            // The part's stream fails when the body is not valid multipart
                            // (e.g. cut before the closing boundary).
                            crate::storage::StorageError::Upload(m) => bad(
                                ErrorCode::MultipartInvalid,
                                format!("the multipart body is not valid: {m}"),
                            ),
                            other => ApiError::from(other),
                        })?;
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
                    ErrorCode::MultipartInvalid,
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
