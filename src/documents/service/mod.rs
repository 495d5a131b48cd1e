//! Document operations. Each public function that changes something owns its transaction and
//! writes its audit event inside it; a recorded read appends its event after the read (see
//! `audit::service::Read`).
//!
//! By what they do: `create.rs` checking and creating a document with its first version,
//! `files.rs` later versions and attachments, and opening them for download, `read.rs` one
//! document, the list and its cursor, `incoming.rs` registration and the acknowledgement or
//! return of incoming papers, `grants.rs` access grants, `types.rs` the managed list of
//! document types. This file holds what they share: the stored file, visibility, the full view.

mod create;
mod files;
mod grants;
mod incoming;
mod read;
mod types;

pub use create::{check_new, check_type, create};
pub use files::{
    add_attachment, add_signed_version, add_version, check_editable, mark_issued, open_attachment,
    open_version,
};
pub(in crate::documents) use files::{open_version_for, VersionRead};
pub use grants::{add_grant, list_grants, remove_grant};
pub use incoming::{acknowledge, file_to_check, register, return_document};
pub use read::{decode_cursor, encode_cursor, get, list, list_json};
pub use types::{create_type, list_types};

use super::access::Viewer;
use super::inspect::PdfFacts;
use super::model::{Attachment, Document, DocumentId, DocumentRow, Registration, Version};
use super::queries;
use crate::db::{self, DbConn};
use crate::error::ApiError;
use crate::registry;

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
        signatures_check: d.signatures_check,
        signatures_checked_at: d.signatures_checked_at,
        versions,
        attachments,
        created_at: d.created_at,
        updated_at: d.updated_at,
    })
}
