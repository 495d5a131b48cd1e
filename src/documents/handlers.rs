//! HTTP handlers of documents. Thin: extract, authorise, call the service, map to a DTO.
//! Uploads are streamed to the blob store before the database transaction that refers to them.

use super::access::Viewer;
use super::model::{
    Attachment, Confidentiality, Document, DocumentPage, DocumentType, Grant, GrantRequest, Kind,
    NewDocument, RegisterRequest, Registration, ReturnRequest, Status, Urgency, Version,
};
use super::queries::ListFilter;
use super::service::{self, StoredFile};
use super::upload;
use super::verification;
use crate::accounts::{CurrentUser, Role};
use crate::error::{ApiError, ErrorCode, Problem};
use crate::http::{json, ApiJson, AppState};
use crate::signing::verify::VerifyReport;
use actix_web::body::SizedStream;
use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the routes under `/api/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_types)
        .service(create_type)
        .service(create_document)
        .service(list_documents)
        .service(get_document)
        .service(latest_file)
        .service(version_file)
        .service(latest_signatures)
        .service(version_signatures)
        .service(add_version)
        .service(add_attachment)
        .service(attachment_file)
        .service(register)
        .service(acknowledge)
        .service(return_document)
        .service(list_grants)
        .service(add_grant)
        .service(remove_grant);
}

/// The multipart form of a new document.
#[derive(ToSchema)]
#[allow(dead_code)]
struct DocumentUpload {
    /// JSON (Content-Type: application/json) with the Decree 30 fields.
    metadata: NewDocument,
    /// The PDF.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// The multipart form of a file (new version, attachment).
#[derive(ToSchema)]
#[allow(dead_code)]
struct FileUpload {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// The managed list of document types.
#[utoipa::path(tag = "documents", security(("bearer" = [])), responses((status = 200, body = Vec<DocumentType>)))]
#[get("/document-types")]
async fn list_types(
    state: web::Data<AppState>,
    _user: CurrentUser,
) -> Result<web::Json<Vec<DocumentType>>, ApiError> {
    Ok(web::Json(state.db(service::list_types).await?))
}

/// Adds a document type (admin).
#[utoipa::path(tag = "documents", security(("bearer" = [])), request_body = DocumentType, responses(
    (status = 201, body = DocumentType),
    (status = 409, description = "Code taken", body = Problem, content_type = "application/problem+json"),
))]
#[post("/document-types")]
async fn create_type(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: ApiJson<DocumentType>,
) -> Result<HttpResponse, ApiError> {
    user.require(Role::Admin)?;
    let ctx = user.audit();
    let t = state
        .db(move |conn| service::create_type(conn, &ctx, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(t))
}

/// Creates a document from a `metadata` JSON part and a `file` PDF part. The PDF is checked:
/// not a PDF, password-protected or unreadable files get 422 (`pdf_not_pdf`, `pdf_encrypted`,
/// `pdf_unreadable`); readable ones that cannot take a signature are accepted with
/// `signable: false` and the reason on the version.
#[utoipa::path(tag = "documents", security(("bearer" = [])),
    request_body(content = inline(DocumentUpload), content_type = "multipart/form-data"),
    responses(
        (status = 201, body = Document),
        (status = 400, description = "Unreadable metadata (the field is named) or multipart body", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "File over max_upload_bytes", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not multipart/form-data", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid value, or a PDF that cannot be accepted", body = Problem, content_type = "application/problem+json"),
))]
#[post("/documents")]
async fn create_document(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::from(&user);
    let up = upload::read(&state, &req, payload, true).await?;
    let raw = up.metadata.ok_or_else(|| ApiError::BadRequest {
        code: ErrorCode::InvalidField,
        field: Some("metadata".into()),
        message: "the 'metadata' part (JSON) is missing".into(),
    })?;
    let meta: NewDocument = json::parse(&raw)?;
    service::check_new(&viewer, &meta)?;
    {
        let code = meta.type_code.clone();
        state
            .db(move |conn| service::check_type(conn, &code))
            .await?;
    }
    let part = up.file.ok_or_else(|| ApiError::BadRequest {
        code: ErrorCode::InvalidField,
        field: Some("file".into()),
        message: "the 'file' part (the PDF) is missing".into(),
    })?;
    let facts = upload::check_pdf(&state, &part.staged).await?;
    upload::store(&state, &part.staged).await?;
    let file = StoredFile {
        sha256: part.staged.sha256.clone(),
        size: part.staged.size,
        file_name: part.file_name.clone(),
        content_type: "application/pdf".into(),
        facts: Some(facts),
    };
    let ctx = user.audit();
    let doc = state
        .db(move |conn| service::create(conn, &ctx, &viewer, meta, file))
        .await?;
    drop(part);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/documents/{}", doc.id.0)))
        .json(doc))
}

/// Adds a new version of the main PDF (the drafter of a draft, the unit's clerks).
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path)),
    request_body(content = inline(FileUpload), content_type = "multipart/form-data"),
    responses(
        (status = 201, body = Version),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A PDF that cannot be accepted", body = Problem, content_type = "application/problem+json"),
))]
#[post("/documents/{id}/versions")]
async fn add_version(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::from(&user);
    let id = id.into_inner();
    {
        let (v, i) = (viewer.clone(), id.clone());
        state
            .db(move |conn| service::check_editable(conn, &v, &i))
            .await?;
    }
    let up = upload::read(&state, &req, payload, false).await?;
    let part = up.file.ok_or_else(|| ApiError::BadRequest {
        code: ErrorCode::InvalidField,
        field: Some("file".into()),
        message: "the 'file' part (the PDF) is missing".into(),
    })?;
    let facts = upload::check_pdf(&state, &part.staged).await?;
    upload::store(&state, &part.staged).await?;
    let file = StoredFile {
        sha256: part.staged.sha256.clone(),
        size: part.staged.size,
        file_name: part.file_name.clone(),
        content_type: "application/pdf".into(),
        facts: Some(facts),
    };
    let ctx = user.audit();
    let version = state
        .db(move |conn| service::add_version(conn, &ctx, &viewer, &id, file))
        .await?;
    Ok(HttpResponse::Created().json(version))
}

/// Adds an attachment (any file type).
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path)),
    request_body(content = inline(FileUpload), content_type = "multipart/form-data"),
    responses(
        (status = 201, body = Attachment),
        (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[post("/documents/{id}/attachments")]
async fn add_attachment(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::from(&user);
    let id = id.into_inner();
    {
        let (v, i) = (viewer.clone(), id.clone());
        state
            .db(move |conn| service::check_editable(conn, &v, &i))
            .await?;
    }
    let up = upload::read(&state, &req, payload, false).await?;
    let part = up.file.ok_or_else(|| ApiError::BadRequest {
        code: ErrorCode::InvalidField,
        field: Some("file".into()),
        message: "the 'file' part is missing".into(),
    })?;
    upload::store(&state, &part.staged).await?;
    let file = StoredFile {
        sha256: part.staged.sha256.clone(),
        size: part.staged.size,
        file_name: part.file_name.clone(),
        content_type: part.content_type.clone(),
        facts: None,
    };
    let ctx = user.audit();
    let att = state
        .db(move |conn| service::add_attachment(conn, &ctx, &viewer, &id, file))
        .await?;
    Ok(HttpResponse::Created().json(att))
}

/// One document with its versions and attachments.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = Document),
    (status = 404, description = "No such document, or not visible to the caller", body = Problem, content_type = "application/problem+json"),
))]
#[get("/documents/{id}")]
async fn get_document(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<web::Json<Document>, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| service::get(conn, &ctx, &viewer, &id))
            .await?,
    ))
}

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
async fn latest_file(
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
async fn version_file(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<(String, i32)>,
) -> Result<HttpResponse, ApiError> {
    let (id, number) = path.into_inner();
    version_download(state, user, req, id, Some(number)).await
}

/// Verifies the signatures of the latest version of the main PDF against the office's trust
/// roots (`trust_roots_path`): per signature its signer, integrity, trust, coverage and changes
/// after signing. A file without signatures gives an empty list and `all_valid: false`.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = VerifyReport),
    (status = 404, description = "No such document or version, or not visible to the caller", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "The stored file cannot be read as a PDF (`pdf_not_pdf`, `pdf_encrypted`, `pdf_damaged`, `pdf_unsupported`, `pdf_unreadable`)", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "Too many verifications running; see Retry-After", body = Problem, content_type = "application/problem+json"),
))]
#[get("/documents/{id}/signatures")]
async fn latest_signatures(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<web::Json<VerifyReport>, ApiError> {
    let viewer = Viewer::from(&user);
    let report =
        verification::signatures(&state, user.audit(), viewer, id.into_inner(), None).await?;
    Ok(web::Json(report))
}

/// Verifies the signatures of one version of the main PDF (numbered from 1), as for the latest.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path), ("number" = i32, Path)), responses(
    (status = 200, body = VerifyReport),
    (status = 404, description = "No such document or version, or not visible to the caller", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "The stored file cannot be read as a PDF", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "Too many verifications running; see Retry-After", body = Problem, content_type = "application/problem+json"),
))]
#[get("/documents/{id}/versions/{number}/signatures")]
async fn version_signatures(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<(String, i32)>,
) -> Result<web::Json<VerifyReport>, ApiError> {
    let (id, number) = path.into_inner();
    let viewer = Viewer::from(&user);
    let report = verification::signatures(&state, user.audit(), viewer, id, Some(number)).await?;
    Ok(web::Json(report))
}

/// An attachment's file.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path), ("attachment_id" = String, Path)), responses(
    (status = 200, description = "The file"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/documents/{id}/attachments/{attachment_id}/file")]
async fn attachment_file(
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

/// Registers an incoming (or internal) document: the next number of the register's series
/// for the year. 409 `probable_duplicate` when the same issuer, symbol and date arrived
/// already (send `confirm_duplicate: true`); 409 `numbered_at_issuance` for outgoing ones.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), request_body = RegisterRequest, responses(
    (status = 200, body = Registration),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[post("/documents/{id}/register")]
async fn register(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    body: ApiJson<RegisterRequest>,
) -> Result<web::Json<Registration>, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| service::register(conn, &ctx, &viewer, &id, body.into_inner()))
            .await?,
    ))
}

/// Acknowledges receipt of an incoming document.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = Document),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[post("/documents/{id}/acknowledge")]
async fn acknowledge(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<web::Json<Document>, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| service::acknowledge(conn, &ctx, &viewer, &id))
            .await?,
    ))
}

/// Sends a misaddressed incoming document back, with the reason (before registration).
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), request_body = ReturnRequest, responses(
    (status = 200, body = Document),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[post("/documents/{id}/return")]
async fn return_document(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    body: ApiJson<ReturnRequest>,
) -> Result<web::Json<Document>, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| service::return_document(conn, &ctx, &viewer, &id, body.into_inner()))
            .await?,
    ))
}

/// Users granted access to a document (admin, or a clerk of its unit who sees it).
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = Vec<Grant>),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/documents/{id}/grants")]
async fn list_grants(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<web::Json<Vec<Grant>>, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| service::list_grants(conn, &ctx, &viewer, &id))
            .await?,
    ))
}

/// Grants a user access to a document — the only way to see a classified one.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), request_body = GrantRequest, responses(
    (status = 201, body = Grant),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
#[post("/documents/{id}/grants")]
async fn add_grant(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    body: ApiJson<GrantRequest>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let id = id.into_inner();
    let g = state
        .db(move |conn| service::add_grant(conn, &ctx, &viewer, &id, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(g))
}

/// Withdraws a grant.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(("id" = String, Path), ("user_id" = String, Path)), responses(
    (status = 204),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/documents/{id}/grants/{user_id}")]
async fn remove_grant(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let (id, user_id) = path.into_inner();
    state
        .db(move |conn| service::remove_grant(conn, &ctx, &viewer, &id, &user_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Filters, sorting and paging of the document list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct DocumentQuery {
    /// Only documents registered in this register.
    register_id: Option<String>,
    /// Only documents numbered in this year.
    year: Option<i32>,
    kind: Option<Kind>,
    /// Document type code, e.g. `QĐ`.
    type_code: Option<String>,
    status: Option<Status>,
    urgency: Option<Urgency>,
    confidentiality: Option<Confidentiality>,
    /// Issue date from (inclusive), `YYYY-MM-DD`.
    issue_date_from: Option<NaiveDate>,
    /// Issue date to (inclusive).
    issue_date_to: Option<NaiveDate>,
    /// Registered on or after this day (Vietnam time).
    registered_from: Option<NaiveDate>,
    /// Registered on or before this day (Vietnam time).
    registered_to: Option<NaiveDate>,
    /// Text in the issuing organisation (accents and case ignored).
    issuer: Option<String>,
    /// Text in the subject (trích yếu); accents and case ignored: "quyet dinh" finds "Quyết định".
    q: Option<String>,
    /// `-created_at` (default, newest first), `created_at`, `-updated_at`, `updated_at`.
    sort: Option<String>,
    /// From `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1–200, default 50.
    limit: Option<i64>,
}

fn day_start_utc(d: NaiveDate) -> chrono::NaiveDateTime {
    crate::vntime::start_of_local_day(d)
}

/// Documents the caller may see, newest first, with filters and a cursor.
#[utoipa::path(tag = "documents", security(("bearer" = [])), params(DocumentQuery), responses(
    (status = 200, body = DocumentPage),
    (status = 400, body = Problem, content_type = "application/problem+json"),
))]
#[get("/documents")]
async fn list_documents(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: web::Query<DocumentQuery>,
) -> Result<web::Json<DocumentPage>, ApiError> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::validation("limit", "must be between 1 and 200"));
    }
    let (by_updated, ascending) = match q.sort.as_deref().unwrap_or("-created_at") {
        "-created_at" => (false, false),
        "created_at" => (false, true),
        "-updated_at" => (true, false),
        "updated_at" => (true, true),
        other => {
            return Err(ApiError::validation(
                "sort",
                format!(
                    "'{other}' is not one of: -created_at, created_at, -updated_at, updated_at"
                ),
            ))
        }
    };
    let after =
        match &q.cursor {
            Some(c) => Some(service::decode_cursor(c).ok_or_else(|| {
                ApiError::validation("cursor", "is not a cursor from this listing")
            })?),
            None => None,
        };
    let fold_opt = |s: Option<String>| {
        s.map(|t| super::model::fold(t.trim()))
            .filter(|t| !t.is_empty())
    };
    let filter = ListFilter {
        register_id: q.register_id,
        year: q.year,
        kind: q.kind,
        type_code: q.type_code,
        status: q.status,
        urgency: q.urgency,
        confidentiality: q.confidentiality,
        issue_date_from: q.issue_date_from,
        issue_date_to: q.issue_date_to,
        registered_from: q.registered_from.map(day_start_utc),
        registered_before: q
            .registered_to
            .and_then(|d| d.succ_opt())
            .map(day_start_utc),
        issuer: fold_opt(q.issuer),
        text: fold_opt(q.q),
        by_updated,
        ascending,
        after,
        limit,
    };
    let viewer = Viewer::from(&user);
    Ok(web::Json(
        state
            .db(move |conn| service::list(conn, &viewer, filter))
            .await?,
    ))
}
