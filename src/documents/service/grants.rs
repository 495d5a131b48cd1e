//! Access grants: who is granted a document (the only way to a classified one).

use super::visible;
use crate::accounts::{queries as accounts_q, Role};
use crate::audit::{self, Action, AuditContext};
use crate::db::schema::document_grants;
use crate::db::{self, DbConn};
use crate::documents::access::Viewer;
use crate::documents::model::{DocumentRow, Grant, GrantRequest};
use crate::documents::queries;
use crate::error::{ApiError, ErrorCode};
use diesel::prelude::*;
use serde_json::json;

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
            user_id: req.user_id.clone(),
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
