//! Document operations. Each public function owns its transaction and writes its audit event
//! inside it — reads too: who looked at which document and file is part of the record.

use super::access::Viewer;
use super::inspect::PdfFacts;
use super::model::{
    fold, Attachment, AttachmentRow, Document, DocumentId, DocumentPage, DocumentRow,
    DocumentSummary, DocumentType, Grant, GrantRequest, Kind, NewDocument, RegisterRequest,
    Registration, ReturnRequest, Status, Version, VersionRow,
};
use super::queries::{self, ListFilter};
use crate::accounts::{queries as accounts_q, Role};
use crate::audit::{self, Action, AuditContext};
use crate::db::schema::{
    document_attachments, document_grants, document_types, document_versions, documents,
};
use crate::db::{self, DbConn};
use crate::error::{ApiError, ErrorCode};
use crate::registry;
use diesel::prelude::*;
use serde_json::json;

/// A file already in the blob store, ready to be referenced.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub sha256: String,
    pub size: u64,
    pub file_name: String,
    pub content_type: String,
    /// The PDF check's findings (main versions only).
    pub facts: Option<PdfFacts>,
}

fn optional_text(field: &str, v: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    match v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
        Some(s) if s.chars().count() > max => Err(ApiError::validation(
            field,
            format!("must be at most {max} characters"),
        )),
        other => Ok(other),
    }
}

/// A document the viewer may see, or 404 (also for ids that are not ids). `granted` is true
/// for a grant and for the people the document is routed or assigned to.
fn visible(conn: &mut DbConn, viewer: &Viewer, id: &str) -> Result<(DocumentRow, bool), ApiError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(ApiError::NotFound("document"));
    }
    let doc = queries::find(conn, id)?.ok_or(ApiError::NotFound("document"))?;
    let granted = queries::is_granted(conn, id, &viewer.id)?
        || queries::is_routed_to(conn, id, &viewer.id, db::now())?;
    if viewer.can_see(&doc, granted) {
        Ok((doc, granted))
    } else {
        Err(ApiError::NotFound("document"))
    }
}

/// A document the viewer may see, or 404: the rule other domains (workflow) use.
pub fn visible_document(
    conn: &mut DbConn,
    viewer: &Viewer,
    id: &str,
) -> Result<DocumentRow, ApiError> {
    visible(conn, viewer, id).map(|(d, _)| d)
}

fn recipients_of(d: &DocumentRow) -> Vec<String> {
    serde_json::from_str(&d.recipients).unwrap_or_default()
}

fn summary(d: DocumentRow, registration: Option<Registration>) -> DocumentSummary {
    DocumentSummary {
        registration,
        kind: d.kind,
        status: d.status,
        urgency: d.urgency,
        confidentiality: d.confidentiality,
        id: DocumentId(d.id),
        unit_id: d.unit_id,
        type_code: d.type_code,
        number_symbol: d.number_symbol,
        issue_date: d.issue_date,
        issuer: d.issuer,
        subject: d.subject,
        handling_deadline: d.handling_deadline,
        created_at: d.created_at,
    }
}

/// The full view of a document: row, versions, attachments.
fn view(conn: &mut DbConn, d: DocumentRow) -> Result<Document, ApiError> {
    let versions = queries::versions(conn, &d.id)?
        .into_iter()
        .map(Version::from)
        .collect();
    let attachments = queries::attachments(conn, &d.id)?
        .into_iter()
        .map(Attachment::from)
        .collect();
    let registration = registry::queries::registration_of(conn, &d.id)?.map(Registration::from);
    Ok(Document {
        registration,
        recipients: recipients_of(&d),
        kind: d.kind,
        status: d.status,
        urgency: d.urgency,
        confidentiality: d.confidentiality,
        id: DocumentId(d.id),
        unit_id: d.unit_id,
        created_by: d.created_by,
        type_code: d.type_code,
        number_symbol: d.number_symbol,
        issue_date: d.issue_date,
        issue_place: d.issue_place,
        issuer: d.issuer,
        subject: d.subject,
        signer_name: d.signer_name,
        signer_position: d.signer_position,
        handling_deadline: d.handling_deadline,
        received_at: d.received_at,
        received_channel: d.received_channel,
        page_count: d.page_count,
        notes: d.notes,
        acknowledged_at: d.acknowledged_at,
        returned_at: d.returned_at,
        return_reason: d.return_reason,
        versions,
        attachments,
        created_at: d.created_at,
        updated_at: d.updated_at,
    })
}

fn version_row(
    document_id: &str,
    number: i32,
    file: &StoredFile,
    by: &str,
    now: chrono::NaiveDateTime,
) -> VersionRow {
    VersionRow {
        document_id: document_id.to_string(),
        number,
        blob_sha256: file.sha256.clone(),
        size: file.size as i64,
        file_name: file.file_name.clone(),
        content_type: file.content_type.clone(),
        pdf_version: file.facts.as_ref().map(|f| f.pdf_version.clone()),
        page_count: file.facts.as_ref().map(|f| f.page_count as i32),
        signable: file.facts.as_ref().is_some_and(|f| f.signable),
        signable_reason: file.facts.as_ref().and_then(|f| f.signable_reason.clone()),
        created_at: now,
        created_by: by.to_string(),
    }
}

/// Checks the metadata and who may create what, before any file is stored.
pub fn check_new(viewer: &Viewer, meta: &NewDocument) -> Result<(), ApiError> {
    if meta.kind == Kind::Incoming && !viewer.has(Role::Clerk) {
        return Err(ApiError::Forbidden);
    }
    if viewer.unit_id.is_none() {
        return Err(ApiError::validation(
            "kind",
            "you belong to no unit; documents belong to a unit",
        ));
    }
    if meta.subject.trim().is_empty() || meta.subject.chars().count() > 2000 {
        return Err(ApiError::validation("subject", "must be 1–2000 characters"));
    }
    if meta.recipients.len() > 500 {
        return Err(ApiError::validation("recipients", "at most 500 recipients"));
    }
    if meta.page_count.is_some_and(|n| !(1..=100_000).contains(&n)) {
        return Err(ApiError::validation(
            "page_count",
            "must be between 1 and 100000",
        ));
    }
    Ok(())
}

/// Checks that the type code is in the managed list (before any file is stored).
pub fn check_type(conn: &mut DbConn, code: &str) -> Result<(), ApiError> {
    if queries::type_active(conn, code)? {
        Ok(())
    } else {
        Err(ApiError::validation(
            "type_code",
            format!("'{code}' is not in the list of document types (GET /api/v1/document-types)"),
        ))
    }
}

/// Creates a document with its first version.
pub fn create(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    meta: NewDocument,
    file: StoredFile,
) -> Result<Document, ApiError> {
    check_new(viewer, &meta)?;
    let unit_id = viewer.unit_id.clone().unwrap_or_default();
    let number_symbol = optional_text("number_symbol", meta.number_symbol, 100)?;
    let issue_place = optional_text("issue_place", meta.issue_place, 200)?;
    let issuer = optional_text("issuer", meta.issuer, 300)?;
    let signer_name = optional_text("signer_name", meta.signer_name, 200)?;
    let signer_position = optional_text("signer_position", meta.signer_position, 200)?;
    let received_channel = optional_text("received_channel", meta.received_channel, 100)?;
    let mut recipients = Vec::with_capacity(meta.recipients.len());
    for (i, r) in meta.recipients.into_iter().enumerate() {
        match optional_text(&format!("recipients[{i}]"), Some(r), 300)? {
            Some(r) => recipients.push(r),
            None => {
                return Err(ApiError::validation(
                    format!("recipients[{i}]"),
                    "must not be empty",
                ))
            }
        }
    }
    if meta.notes.chars().count() > 5000 {
        return Err(ApiError::validation(
            "notes",
            "must be at most 5000 characters",
        ));
    }
    let subject = meta.subject.trim().to_string();
    db::write_tx(conn, |conn| {
        check_type(conn, &meta.type_code)?;
        let now = db::now();
        let incoming = meta.kind == Kind::Incoming;
        let row = DocumentRow {
            id: uuid::Uuid::new_v4().to_string(),
            kind: meta.kind,
            status: (if incoming {
                Status::Received
            } else {
                Status::Draft
            }),
            unit_id: unit_id.clone(),
            created_by: viewer.id.clone(),
            type_code: meta.type_code.clone(),
            number_symbol,
            issue_date: meta.issue_date,
            issue_place,
            issuer_search: issuer.as_deref().map(fold),
            issuer,
            subject_search: fold(&subject),
            subject,
            signer_name,
            signer_position,
            recipients: serde_json::to_string(&recipients).map_err(ApiError::internal)?,
            urgency: meta.urgency,
            confidentiality: meta.confidentiality,
            handling_deadline: meta.handling_deadline,
            received_at: if incoming {
                Some(meta.received_at.map(db::truncate_micros).unwrap_or(now))
            } else {
                meta.received_at.map(db::truncate_micros)
            },
            received_channel,
            page_count: meta.page_count,
            notes: meta.notes.trim().to_string(),
            acknowledged_at: None,
            acknowledged_by: None,
            returned_at: None,
            return_reason: None,
            created_at: now,
            updated_at: now,
        };
        diesel::insert_into(documents::table)
            .values(&row)
            .execute(conn)?;
        queries::ensure_blob(conn, &file.sha256, file.size as i64, now)?;
        let version = version_row(&row.id, 1, &file, &viewer.id, now);
        diesel::insert_into(document_versions::table)
            .values(&version)
            .execute(conn)?;
        if meta.confidentiality.is_classified() {
            // The uploader of a classified document is its first granted reader.
            diesel::insert_into(document_grants::table)
                .values((
                    document_grants::document_id.eq(&row.id),
                    document_grants::user_id.eq(&viewer.id),
                    document_grants::granted_by.eq(None::<String>),
                    document_grants::granted_at.eq(now),
                ))
                .execute(conn)?;
        }
        audit::record(
            conn,
            ctx,
            Action::DocumentCreated,
            "document",
            Some(&row.id),
            json!({
                "kind": row.kind, "type_code": row.type_code, "unit_id": row.unit_id,
                "confidentiality": row.confidentiality, "urgency": row.urgency,
                "sha256": file.sha256, "size": file.size, "signable": version.signable,
            }),
        )?;
        view(conn, row)
    })
}

/// Adds a new version of the main PDF.
pub fn add_version(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    id: &str,
    file: StoredFile,
) -> Result<Version, ApiError> {
    db::write_tx(conn, |conn| {
        let (doc, granted) = visible(conn, viewer, id)?;
        if !viewer.can_edit(&doc, granted) {
            return Err(ApiError::Forbidden);
        }
        let last: Option<i32> = document_versions::table
            .filter(document_versions::document_id.eq(&doc.id))
            .select(diesel::dsl::max(document_versions::number))
            .first(conn)?;
        let now = db::now();
        queries::ensure_blob(conn, &file.sha256, file.size as i64, now)?;
        let version = version_row(&doc.id, last.unwrap_or(0) + 1, &file, &viewer.id, now);
        diesel::insert_into(document_versions::table)
            .values(&version)
            .execute(conn)?;
        diesel::update(documents::table.find(&doc.id))
            .set(documents::updated_at.eq(now))
            .execute(conn)?;
        audit::record(
            conn,
            ctx,
            Action::DocumentVersionAdded,
            "document",
            Some(&doc.id),
            json!({"version": version.number, "sha256": file.sha256, "size": file.size, "signable": version.signable}),
        )?;
        Ok(Version::from(version))
    })
}

/// Whether the viewer may add files to the document (checked before a file is stored).
pub fn check_editable(conn: &mut DbConn, viewer: &Viewer, id: &str) -> Result<(), ApiError> {
    let (doc, granted) = visible(conn, viewer, id)?;
    if viewer.can_edit(&doc, granted) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// Adds an attachment (any file type).
pub fn add_attachment(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    id: &str,
    file: StoredFile,
) -> Result<Attachment, ApiError> {
    db::write_tx(conn, |conn| {
        let (doc, granted) = visible(conn, viewer, id)?;
        if !viewer.can_edit(&doc, granted) {
            return Err(ApiError::Forbidden);
        }
        let now = db::now();
        queries::ensure_blob(conn, &file.sha256, file.size as i64, now)?;
        let row = AttachmentRow {
            id: uuid::Uuid::new_v4().to_string(),
            document_id: doc.id.clone(),
            blob_sha256: file.sha256.clone(),
            size: file.size as i64,
            file_name: file.file_name.clone(),
            content_type: file.content_type.clone(),
            created_at: now,
            created_by: viewer.id.clone(),
        };
        diesel::insert_into(document_attachments::table)
            .values(&row)
            .execute(conn)?;
        diesel::update(documents::table.find(&doc.id))
            .set(documents::updated_at.eq(now))
            .execute(conn)?;
        audit::record(
            conn,
            ctx,
            Action::DocumentAttachmentAdded,
            "document",
            Some(&doc.id),
            json!({"attachment_id": row.id, "file_name": row.file_name, "sha256": row.blob_sha256, "size": row.size}),
        )?;
        Ok(Attachment::from(row))
    })
}

/// One document. Only a classified document's read is recorded (see `audit::service::Read`);
/// the read itself takes no write lock.
pub fn get(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    id: &str,
) -> Result<Document, ApiError> {
    let (doc, _) = visible(conn, viewer, id)?;
    if doc.confidentiality.is_classified() {
        audit::service::record_read(
            conn,
            ctx,
            audit::service::Read {
                action: Action::DocumentViewed,
                object_type: "document",
                object_id: Some(&doc.id),
                details: json!({}),
                classified: true,
            },
        )?;
    }
    view(conn, doc)
}

/// The version to download (the latest when `number` is none), recording the download.
pub fn open_version(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    id: &str,
    number: Option<i32>,
    range: Option<String>,
) -> Result<VersionRow, ApiError> {
    open_version_for(
        conn,
        ctx,
        viewer,
        id,
        number,
        Action::DocumentFileDownloaded,
        |v| json!({"version": v.number, "sha256": v.blob_sha256, "range": range}),
    )
}

/// A version the viewer may read (the latest when `number` is none), recording `action` with
/// the details `details` gives for it (after the read, see `audit::service::record_read`):
/// what downloads and signature
/// checks share.
pub(super) fn open_version_for(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    id: &str,
    number: Option<i32>,
    action: Action,
    details: impl FnOnce(&VersionRow) -> serde_json::Value,
) -> Result<VersionRow, ApiError> {
    let (doc, _) = visible(conn, viewer, id)?;
    let mut versions = queries::versions(conn, &doc.id)?;
    let version = match number {
        Some(n) => versions
            .into_iter()
            .find(|v| v.number == n)
            .ok_or(ApiError::NotFound("version"))?,
        None => versions.pop().ok_or(ApiError::NotFound("version"))?,
    };
    audit::service::record_read(
        conn,
        ctx,
        audit::service::Read {
            action,
            object_type: "document",
            object_id: Some(&doc.id),
            details: details(&version),
            classified: doc.confidentiality.is_classified(),
        },
    )?;
    Ok(version)
}

/// The attachment to download, recording the download.
pub fn open_attachment(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    id: &str,
    attachment_id: &str,
) -> Result<AttachmentRow, ApiError> {
    let (doc, _) = visible(conn, viewer, id)?;
    let att = queries::attachments(conn, &doc.id)?
        .into_iter()
        .find(|a| a.id == attachment_id)
        .ok_or(ApiError::NotFound("attachment"))?;
    audit::service::record_read(
        conn,
        ctx,
        audit::service::Read {
            action: Action::DocumentAttachmentDownloaded,
            object_type: "document",
            object_id: Some(&doc.id),
            details: json!({"attachment_id": att.id, "sha256": att.blob_sha256}),
            classified: doc.confidentiality.is_classified(),
        },
    )?;
    Ok(att)
}

/// Registers an incoming (or internal) document in a register of its unit: gives it the next
/// number. A probable duplicate (same issuer, symbol and issue date) is refused with 409
/// `probable_duplicate` unless `confirm_duplicate` is set.
pub fn register(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    id: &str,
    req: RegisterRequest,
) -> Result<Registration, ApiError> {
    db::write_tx(conn, |conn| {
        let (doc, _) = visible(conn, viewer, id)?;
        if !viewer.is_clerk_of(&doc.unit_id) {
            return Err(ApiError::Forbidden);
        }
        match (doc.kind, doc.status) {
            (Kind::Outgoing, _) => {
                return Err(ApiError::conflict(
                    ErrorCode::NumberedAtIssuance,
                    "outgoing documents get their number when they are issued, after signing",
                ))
            }
            (_, Status::Registered) => {
                return Err(ApiError::conflict(
                    ErrorCode::AlreadyRegistered,
                    "the document is registered already",
                ))
            }
            (Kind::Incoming, Status::Received) | (Kind::Internal, Status::Draft) => {}
            (_, s) => {
                return Err(ApiError::conflict(
                    ErrorCode::NotRegistrable,
                    format!("a document in status '{}' cannot be registered", s.as_str()),
                ))
            }
        }
        let reg = match registry::queries::find(conn, &req.register_id)? {
            Some(r) if r.unit_id == doc.unit_id && registry::service::manages(viewer, &r) => r,
            _ => {
                return Err(ApiError::validation(
                    "register_id",
                    "names no register of the document's unit",
                ))
            }
        };
        if !reg.active {
            return Err(ApiError::validation(
                "register_id",
                "the register is closed",
            ));
        }
        if reg.kind != doc.kind {
            return Err(ApiError::validation(
                "register_id",
                format!(
                    "a {} document goes into a register of kind {}, not {}",
                    doc.kind, doc.kind, reg.kind
                ),
            ));
        }
        if doc.kind == Kind::Incoming && !req.confirm_duplicate {
            if let Some(other) = queries::probable_duplicate(conn, &doc)? {
                let known = match registry::queries::registration_of(conn, &other.id)? {
                    Some(r) => format!(" (registered as {})", r.symbol),
                    None => String::new(),
                };
                return Err(ApiError::conflict(
                    ErrorCode::ProbableDuplicate,
                    format!(
                        "a document from the same issuer with symbol {} of {} has arrived already{known}; send confirm_duplicate: true to register it anyway",
                        doc.number_symbol.clone().unwrap_or_default(),
                        doc.issue_date.map(|d| d.to_string()).unwrap_or_default(),
                    ),
                ));
            }
        }
        let registration = registry::service::assign_number(conn, Some(&viewer.id), &reg, &doc)?;
        diesel::update(documents::table.find(&doc.id))
            .set(documents::status.eq(Status::Registered))
            .execute(conn)?;
        audit::record(
            conn,
            ctx,
            Action::DocumentRegistered,
            "document",
            Some(&doc.id),
            json!({
                "register_id": reg.id, "series": registration.series, "year": registration.year,
                "number": registration.number, "symbol": registration.symbol,
                "confirmed_duplicate": req.confirm_duplicate,
            }),
        )?;
        Ok(registration)
    })
}

fn incoming_for_clerk(
    conn: &mut DbConn,
    viewer: &Viewer,
    id: &str,
) -> Result<DocumentRow, ApiError> {
    let (doc, _) = visible(conn, viewer, id)?;
    if !viewer.is_clerk_of(&doc.unit_id) {
        return Err(ApiError::Forbidden);
    }
    if doc.kind != Kind::Incoming {
        return Err(ApiError::conflict(
            ErrorCode::NotIncoming,
            "only incoming documents are acknowledged or returned",
        ));
    }
    Ok(doc)
}

/// Acknowledges receipt of an incoming document (báo nhận).
pub fn acknowledge(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    id: &str,
) -> Result<Document, ApiError> {
    db::write_tx(conn, |conn| {
        let doc = incoming_for_clerk(conn, viewer, id)?;
        if doc.acknowledged_at.is_some() {
            return Err(ApiError::conflict(
                ErrorCode::AlreadyAcknowledged,
                "receipt was acknowledged already",
            ));
        }
        if doc.status == Status::Returned {
            return Err(ApiError::conflict(
                ErrorCode::Returned,
                "the document was sent back",
            ));
        }
        let now = db::now();
        diesel::update(documents::table.find(&doc.id))
            .set((
                documents::acknowledged_at.eq(now),
                documents::acknowledged_by.eq(&viewer.id),
                documents::updated_at.eq(now),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            ctx,
            Action::DocumentAcknowledged,
            "document",
            Some(&doc.id),
            json!({}),
        )?;
        let doc = queries::find(conn, &doc.id)?.ok_or(ApiError::NotFound("document"))?;
        view(conn, doc)
    })
}

/// Sends a misaddressed incoming document back, with the reason; only before registration.
pub fn return_document(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    id: &str,
    req: ReturnRequest,
) -> Result<Document, ApiError> {
    let reason = req.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 2000 {
        return Err(ApiError::validation("reason", "must be 1–2000 characters"));
    }
    db::write_tx(conn, |conn| {
        let doc = incoming_for_clerk(conn, viewer, id)?;
        if doc.status != Status::Received {
            return Err(ApiError::conflict(
                ErrorCode::NotReturnable,
                format!("a document in status '{}' cannot be sent back", doc.status),
            ));
        }
        let now = db::now();
        diesel::update(documents::table.find(&doc.id))
            .set((
                documents::status.eq(Status::Returned),
                documents::returned_at.eq(now),
                documents::return_reason.eq(&reason),
                documents::updated_at.eq(now),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            ctx,
            Action::DocumentReturned,
            "document",
            Some(&doc.id),
            json!({"reason": reason}),
        )?;
        // Whoever entered the paper hears that it went back, and why.
        crate::notify::enqueue(
            conn,
            &crate::notify::NewNotification {
                kind: crate::notify::NotificationKind::Returned,
                recipient_id: doc.created_by.clone(),
                document_id: Some(doc.id.clone()),
                task_id: None,
                actor_id: Some(viewer.id.clone()),
                comment: Some(reason.clone()),
                deadline: None,
            },
        )?;
        let doc = queries::find(conn, &doc.id)?.ok_or(ApiError::NotFound("document"))?;
        view(conn, doc)
    })
}

/// A document whose grants the viewer manages: an admin (any document), or a clerk of its
/// unit who can see it.
fn grants_managed(conn: &mut DbConn, viewer: &Viewer, id: &str) -> Result<DocumentRow, ApiError> {
    if viewer.has(Role::Admin) {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(ApiError::NotFound("document"));
        }
        return queries::find(conn, id)?.ok_or(ApiError::NotFound("document"));
    }
    let (doc, _) = visible(conn, viewer, id)?;
    if viewer.is_clerk_of(&doc.unit_id) {
        Ok(doc)
    } else {
        Err(ApiError::Forbidden)
    }
}

/// Who is granted access to a document.
pub fn list_grants(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    id: &str,
) -> Result<Vec<Grant>, ApiError> {
    {
        let doc = grants_managed(conn, viewer, id)?;
        let rows: Vec<(String, Option<String>, chrono::NaiveDateTime)> = document_grants::table
            .filter(document_grants::document_id.eq(&doc.id))
            .order(document_grants::granted_at.asc())
            .select((
                document_grants::user_id,
                document_grants::granted_by,
                document_grants::granted_at,
            ))
            .load(conn)?;
        if doc.confidentiality.is_classified() {
            audit::service::record_read(
                conn,
                ctx,
                audit::service::Read {
                    action: Action::DocumentGrantsViewed,
                    object_type: "document",
                    object_id: Some(&doc.id),
                    details: json!({}),
                    classified: true,
                },
            )?;
        }
        Ok(rows
            .into_iter()
            .map(|(user_id, granted_by, granted_at)| Grant {
                user_id,
                granted_by,
                granted_at,
            })
            .collect())
    }
}

/// Grants a user access to a document (the only way to a classified one).
pub fn add_grant(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    id: &str,
    req: GrantRequest,
) -> Result<Grant, ApiError> {
    db::write_tx(conn, |conn| {
        let doc = grants_managed(conn, viewer, id)?;
        let user_ok = uuid::Uuid::parse_str(&req.user_id).is_ok()
            && accounts_q::find_user(conn, &req.user_id)?.is_some_and(|u| u.active);
        if !user_ok {
            return Err(ApiError::validation("user_id", "names no active user"));
        }
        if queries::is_granted(conn, &doc.id, &req.user_id)? {
            return Err(ApiError::conflict(
                ErrorCode::AlreadyGranted,
                "the user is granted already",
            ));
        }
        let now = db::now();
        diesel::insert_into(document_grants::table)
            .values((
                document_grants::document_id.eq(&doc.id),
                document_grants::user_id.eq(&req.user_id),
                document_grants::granted_by.eq(&viewer.id),
                document_grants::granted_at.eq(now),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            ctx,
            Action::DocumentGrantAdded,
            "document",
            Some(&doc.id),
            json!({"user_id": req.user_id}),
        )?;
        Ok(Grant {
            user_id: req.user_id,
            granted_by: Some(viewer.id.clone()),
            granted_at: now,
        })
    })
}

/// Withdraws a grant.
pub fn remove_grant(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    id: &str,
    user_id: &str,
) -> Result<(), ApiError> {
    db::write_tx(conn, |conn| {
        let doc = grants_managed(conn, viewer, id)?;
        let n = diesel::delete(
            document_grants::table
                .filter(document_grants::document_id.eq(&doc.id))
                .filter(document_grants::user_id.eq(user_id)),
        )
        .execute(conn)?;
        if n == 0 {
            return Err(ApiError::NotFound("grant"));
        }
        audit::record(
            conn,
            ctx,
            Action::DocumentGrantRemoved,
            "document",
            Some(&doc.id),
            json!({"user_id": user_id}),
        )?;
        Ok(())
    })
}

/// One page of the documents the viewer may see (not recorded in the audit chain: see
/// `audit::service::Read`).
pub fn list(
    conn: &mut DbConn,
    viewer: &Viewer,
    filter: ListFilter,
) -> Result<DocumentPage, ApiError> {
    conn.transaction(|conn| {
        let mut f = filter.clone();
        f.limit = filter.limit + 1;
        let mut rows = queries::list(conn, viewer, &f)?;
        let more = rows.len() as i64 > filter.limit;
        rows.truncate(filter.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| {
                let t = if filter.by_updated {
                    r.updated_at
                } else {
                    r.created_at
                };
                encode_cursor(t, &r.id)
            })
        } else {
            None
        };
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut regs: std::collections::HashMap<String, Registration> =
            registry::queries::registrations_of(conn, &ids)?
                .into_iter()
                .map(|r| (r.document_id.clone(), Registration::from(r)))
                .collect();
        let items = rows
            .into_iter()
            .map(|d| {
                let reg = regs.remove(&d.id);
                summary(d, reg)
            })
            .collect();
        Ok(DocumentPage { items, next_cursor })
    })
}

/// Opaque cursor: microseconds since the epoch and the id of the last row.
pub fn encode_cursor(t: chrono::NaiveDateTime, id: &str) -> String {
    format!("{}_{}", t.and_utc().timestamp_micros(), id)
}

/// Reads a cursor made by [`encode_cursor`].
pub fn decode_cursor(c: &str) -> Option<(chrono::NaiveDateTime, String)> {
    let (micros, id) = c.split_once('_')?;
    let micros: i64 = micros.parse().ok()?;
    uuid::Uuid::parse_str(id).ok()?;
    let t = chrono::DateTime::from_timestamp_micros(micros)?.naive_utc();
    Some((t, id.to_string()))
}

/// The managed list of document types.
pub fn list_types(conn: &mut DbConn) -> Result<Vec<DocumentType>, ApiError> {
    let rows: Vec<(String, String, bool)> = document_types::table
        .order(document_types::code.asc())
        .select((
            document_types::code,
            document_types::name,
            document_types::active,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(code, name, active)| DocumentType { code, name, active })
        .collect())
}

/// Adds a document type (admin).
pub fn create_type(
    conn: &mut DbConn,
    ctx: &AuditContext,
    t: DocumentType,
) -> Result<DocumentType, ApiError> {
    let code = t.code.trim().to_string();
    if code.is_empty() || code.chars().count() > 16 || code.contains(['/', '{', '}', ' ']) {
        return Err(ApiError::validation(
            "code",
            "must be 1–16 characters without spaces, '/', '{' or '}'",
        ));
    }
    let name = t.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::validation("name", "must be 1–200 characters"));
    }
    db::write_tx(conn, |conn| {
        let exists: i64 = document_types::table
            .filter(document_types::code.eq(&code))
            .count()
            .get_result(conn)?;
        if exists > 0 {
            return Err(ApiError::conflict(
                ErrorCode::TypeCodeTaken,
                format!("a document type with code '{code}' exists"),
            ));
        }
        diesel::insert_into(document_types::table)
            .values((
                document_types::code.eq(&code),
                document_types::name.eq(&name),
                document_types::active.eq(t.active),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            ctx,
            Action::DocumentTypeCreated,
            "document_type",
            Some(&code),
            json!({"name": name}),
        )?;
        Ok(DocumentType {
            code,
            name,
            active: t.active,
        })
    })
}
