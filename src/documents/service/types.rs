//! The managed list of document types.

use crate::audit::{self, Action, AuditContext};
use crate::db::schema::document_types;
use crate::db::{self, DbConn};
use crate::documents::model::DocumentType;
use crate::error::{ApiError, ErrorCode};
use diesel::prelude::*;
use serde_json::json;

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
            code: code.clone(),
            name: name.clone(),
            active: t.active,
        })
    })
}
