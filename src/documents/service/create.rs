//! Checking and creating a document with its first version.

use super::files::version_row;
use super::{view, StoredFile};
use crate::accounts::Role;
use crate::audit::{self, Action, AuditContext};
use crate::db::schema::{document_grants, document_versions, documents};
use crate::db::{self, DbConn};
use crate::documents::access::Viewer;
use crate::documents::model::{fold, Document, DocumentRow, Kind, NewDocument, Status};
use crate::documents::queries;
use crate::error::ApiError;
use diesel::prelude::*;
use serde_json::json;

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
    let checked = checked_meta(meta)?;
    db::write_tx(conn, |conn| {
        check_type(conn, &checked.rest.type_code)?;
        let now = db::now();
        let row = document_row(checked.clone(), unit_id.clone(), &viewer.id, now)?;
        diesel::insert_into(documents::table)
            .values(&row)
            .execute(conn)?;
        queries::ensure_blob(conn, &file.sha256, file.size as i64, now)?;
        let version = version_row(&row.id, 1, &file, &viewer.id, now);
        diesel::insert_into(document_versions::table)
            .values(&version)
            .execute(conn)?;
        if row.confidentiality.is_classified() {
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

/// A new document's metadata, its free-text fields trimmed and checked.
#[derive(Clone)]
struct CheckedMeta {
    number_symbol: Option<String>,
    issue_place: Option<String>,
    issuer: Option<String>,
    signer_name: Option<String>,
    signer_position: Option<String>,
    received_channel: Option<String>,
    recipients: Vec<String>,
    subject: String,
    notes: String,
    /// The rest of the metadata (its text fields taken out).
    rest: NewDocument,
}

/// Trims and checks the free-text fields, in the order their errors are reported.
fn checked_meta(mut meta: NewDocument) -> Result<CheckedMeta, ApiError> {
    let number_symbol = optional_text("number_symbol", meta.number_symbol.take(), 100)?;
    let issue_place = optional_text("issue_place", meta.issue_place.take(), 200)?;
    let issuer = optional_text("issuer", meta.issuer.take(), 300)?;
    let signer_name = optional_text("signer_name", meta.signer_name.take(), 200)?;
    let signer_position = optional_text("signer_position", meta.signer_position.take(), 200)?;
    let received_channel = optional_text("received_channel", meta.received_channel.take(), 100)?;
    let mut recipients = Vec::with_capacity(meta.recipients.len());
    for (i, r) in std::mem::take(&mut meta.recipients).into_iter().enumerate() {
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
    Ok(CheckedMeta {
        number_symbol,
        issue_place,
        issuer,
        signer_name,
        signer_position,
        received_channel,
        recipients,
        subject: meta.subject.trim().to_string(),
        notes: meta.notes.trim().to_string(),
        rest: meta,
    })
}

/// The row of a new document of `unit_id` entered by `by`: an incoming paper starts received
/// (arrived now unless told when), anything else as a draft.
fn document_row(
    checked: CheckedMeta,
    unit_id: String,
    by: &str,
    now: chrono::NaiveDateTime,
) -> Result<DocumentRow, ApiError> {
    let meta = checked.rest;
    let incoming = meta.kind == Kind::Incoming;
    Ok(DocumentRow {
        id: uuid::Uuid::new_v4().to_string(),
        kind: meta.kind,
        status: (if incoming {
            Status::Received
        } else {
            Status::Draft
        }),
        unit_id,
        created_by: by.to_string(),
        type_code: meta.type_code,
        number_symbol: checked.number_symbol,
        issue_date: meta.issue_date,
        issue_place: checked.issue_place,
        issuer_search: checked.issuer.as_deref().map(fold),
        issuer: checked.issuer,
        subject_search: fold(&checked.subject),
        subject: checked.subject,
        signer_name: checked.signer_name,
        signer_position: checked.signer_position,
        recipients: serde_json::to_string(&checked.recipients).map_err(ApiError::internal)?,
        urgency: meta.urgency,
        confidentiality: meta.confidentiality,
        handling_deadline: meta.handling_deadline,
        received_at: if incoming {
            Some(meta.received_at.map(db::truncate_micros).unwrap_or(now))
        } else {
            meta.received_at.map(db::truncate_micros)
        },
        received_channel: checked.received_channel,
        page_count: meta.page_count,
        notes: checked.notes,
        acknowledged_at: None,
        acknowledged_by: None,
        returned_at: None,
        return_reason: None,
        created_at: now,
        updated_at: now,
        signatures_check: None,
        signatures_checked_at: None,
    })
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
