//! Creating a document and adding versions and attachments: uploads are streamed to the blob
//! store before the database transaction that refers to them.

use crate::accounts::CurrentUser;
use crate::documents::access::Viewer;
use crate::documents::model::{Attachment, Document, NewDocument, Version};
use crate::documents::service::{self, StoredFile};
use crate::documents::upload;
use crate::error::{ApiError, ErrorCode, Problem};
use crate::http::{json, AppState};
use actix_web::http::header;
use actix_web::{post, web, HttpRequest, HttpResponse};
use utoipa::ToSchema;

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
pub(super) async fn create_document(
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
pub(super) async fn add_version(
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
pub(super) async fn add_attachment(
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
