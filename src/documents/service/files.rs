//! Versions of the main PDF and attachments: adding them, and opening them for download.

use super::{visible, StoredFile};
use crate::audit::{self, Action, AuditContext};
use crate::db::schema::{document_attachments, document_versions, documents};
use crate::db::{self, DbConn};
use crate::documents::access::Viewer;
use crate::documents::model::{Attachment, AttachmentRow, Version, VersionRow};
use crate::documents::queries;
use crate::error::ApiError;
use diesel::prelude::*;
use serde_json::json;

/// The row of version `number` of a document, for a file already in the blob store.
pub(super) fn version_row(
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
        normalise_reason: file.facts.as_ref().and_then(|f| f.normalise_reason.clone()),
        created_at: now,
        created_by: by.to_string(),
    }
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

/// Adds the version a signature made inside a route (a `sign` or `issue` step) over `parent`,
/// the latest one, in the caller's transaction (which holds the route lock). It keeps the
/// parent's name and facts; the caller records the step's audit event.
pub fn add_signed_version(
    conn: &mut DbConn,
    parent: &VersionRow,
    sha256: &str,
    size: u64,
    by: &str,
    now: chrono::NaiveDateTime,
) -> Result<VersionRow, ApiError> {
    queries::ensure_blob(conn, sha256, size as i64, now)?;
    let version = VersionRow {
        number: parent.number + 1,
        blob_sha256: sha256.to_string(),
        size: size as i64,
        created_at: now,
        created_by: by.to_string(),
        // Signed now: every later signature is an incremental update over this file.
        normalise_reason: None,
        ..parent.clone()
    };
    diesel::insert_into(document_versions::table)
        .values(&version)
        .execute(conn)?;
    diesel::update(documents::table.find(&parent.document_id))
        .set(documents::updated_at.eq(now))
        .execute(conn)?;
    Ok(version)
}

/// Marks an outgoing document issued on `date` (its number is in its registration), in the
/// caller's transaction.
pub fn mark_issued(
    conn: &mut DbConn,
    document_id: &str,
    date: chrono::NaiveDate,
    now: chrono::NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(documents::table.find(document_id))
        .set((
            documents::status.eq(crate::documents::model::Status::Issued),
            documents::issue_date.eq(Some(date)),
            documents::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
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
        VersionRead {
            id,
            number,
            action: Action::DocumentFileDownloaded,
            details: |v: &VersionRow| json!({"version": v.number, "sha256": v.blob_sha256, "range": range}),
        },
    )
}

/// Which version a read opens and how it is recorded: what downloads and signature checks
/// share.
pub(in crate::documents) struct VersionRead<'a, F> {
    /// The document.
    pub id: &'a str,
    /// The version (numbered from 1); the latest when none.
    pub number: Option<i32>,
    /// The event recorded for the read.
    pub action: Action,
    /// The event's details for the version opened.
    pub details: F,
}

/// A version the viewer may read, recording the read's event with its details (after the
/// read, see `audit::service::record_read`).
pub(in crate::documents) fn open_version_for<F>(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    read: VersionRead<'_, F>,
) -> Result<VersionRow, ApiError>
where
    F: FnOnce(&VersionRow) -> serde_json::Value,
{
    let VersionRead {
        id,
        number,
        action,
        details,
    } = read;
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
