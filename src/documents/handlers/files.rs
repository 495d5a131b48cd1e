//! Downloading files: ETag, conditional requests, single ranges, and a Content-Type and
//! Content-Disposition a browser cannot be tricked by.

use crate::accounts::CurrentUser;
use crate::documents::access::Viewer;
use crate::documents::service;
use crate::error::{ApiError, Problem};
use crate::http::AppState;
use actix_web::body::SizedStream;
use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

/// A single `bytes=` range of a file of `size` bytes: `Ok(None)` to send it whole.
fn parse_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        // Several ranges: allowed to be ignored (RFC 9110 14.2); send the whole file.
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 {
            return Err(ApiError::RangeNotSatisfiable { size });
        }
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return Ok(None);
        };
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= start => e.min(size.saturating_sub(1)),
                _ => return Ok(None),
            }
        };
        (start, end)
    };
    if size == 0 || range.0 >= size {
        return Err(ApiError::RangeNotSatisfiable { size });
    }
    Ok(Some(range))
}

/// `filename*=` value (RFC 5987) of a name.
fn encode_filename(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn etag_matches(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

/// A stored file to send.
struct Served<'a> {
    sha256: &'a str,
    size: u64,
    content_type: &'a str,
    file_name: &'a str,
    /// A main PDF version (checked as a PDF on upload) opens in the browser; an attachment,
    /// whose type the uploader chose, is always downloaded.
    inline: bool,
}

/// Media types a browser would run or render as a page: an attachment claiming one is served
/// as opaque bytes, so an uploaded `text/html` can never script the API's origin.
fn active_content(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "text/html"
            | "application/xhtml+xml"
            | "image/svg+xml"
            | "text/xml"
            | "application/xml"
            | "text/javascript"
            | "application/javascript"
            | "application/ecmascript"
            | "text/ecmascript"
            | "multipart/x-mixed-replace"
    ) || essence.is_empty()
}

/// Sends a stored file with ETag (its SHA-256), Content-Length, and single ranges (206).
async fn send_blob(
    state: &AppState,
    req: &HttpRequest,
    file: Served<'_>,
    range: Option<(u64, u64)>,
) -> Result<HttpResponse, ApiError> {
    let Served {
        sha256,
        size,
        file_name,
        inline,
        ..
    } = file;
    let content_type = if !inline && active_content(file.content_type) {
        "application/octet-stream"
    } else {
        file.content_type
    };
    let etag = format!("\"{sha256}\"");
    if etag_matches(req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let read = state
        .blobs
        .get(sha256, range.map(|(a, b)| a..b + 1))
        .await?;
    let stream = read
        .stream
        .map(|r| r.map_err(|e| std::io::Error::other(e.to_string())));
    let disposition = if inline && content_type == "application/pdf" {
        "inline"
    } else {
        "attachment"
    };
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let (mut resp, length) = match range {
        Some((a, b)) => {
            let mut r = HttpResponse::PartialContent();
            r.insert_header((header::CONTENT_RANGE, format!("bytes {a}-{b}/{size}")));
            (r, b - a + 1)
        }
        None => (HttpResponse::Ok(), size),
    };
    Ok(resp
        .insert_header((header::ETAG, etag))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .insert_header((header::CONTENT_TYPE, content_type.to_string()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "{disposition}; filename=\"{ascii}\"; filename*=UTF-8''{}",
                encode_filename(file_name)
            ),
        ))
        .body(SizedStream::new(length, stream)))
}

fn range_header(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn version_download(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    id: String,
    number: Option<i32>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let range = range_header(&req);
    let audit_range = range.clone();
    let v = state
        .db(move |conn| service::open_version(conn, &ctx, &viewer, &id, number, audit_range))
        .await?;
    let size = v.size as u64;
    let r = parse_range(range.as_deref(), size)?;
    let file = Served {
        sha256: &v.blob_sha256,
        size,
        content_type: &v.content_type,
        file_name: &v.file_name,
        inline: true,
    };
    send_blob(&state, &req, file, r).await
}

/// The latest version of the main PDF. `ETag` is its SHA-256; `If-None-Match` gives 304,
/// `Range: bytes=a-b` gives 206.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, description = "The PDF", content_type = "application/pdf"),
    (status = 206, description = "The requested range"),
    (status = 304, description = "Not modified (If-None-Match)"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 416, description = "Range outside the file", body = Problem, content_type = "application/problem+json"),
))]
#[get("/documents/{id}/file")]
pub(super) async fn latest_file(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    version_download(state, user, req, id.into_inner(), None).await
}

/// One version of the main PDF (numbered from 1), with the same headers as the latest.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path), ("number" = i32, Path)), responses(
    (status = 200, description = "The PDF", content_type = "application/pdf"),
    (status = 206, description = "The requested range"),
    (status = 304, description = "Not modified (If-None-Match)"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/documents/{id}/versions/{number}/file")]
pub(super) async fn version_file(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<(String, i32)>,
) -> Result<HttpResponse, ApiError> {
    let (id, number) = path.into_inner();
    version_download(state, user, req, id, Some(number)).await
}

/// An attachment's file.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path), ("attachment_id" = String, Path)), responses(
    (status = 200, description = "The file"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/documents/{id}/attachments/{attachment_id}/file")]
pub(super) async fn attachment_file(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, attachment_id) = path.into_inner();
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let a = state
        .db(move |conn| service::open_attachment(conn, &ctx, &viewer, &id, &attachment_id))
        .await?;
    let size = a.size as u64;
    let r = parse_range(range_header(&req).as_deref(), size)?;
    let file = Served {
        sha256: &a.blob_sha256,
        size,
        content_type: &a.content_type,
        file_name: &a.file_name,
        inline: false,
    };
    send_blob(&state, &req, file, r).await
}
