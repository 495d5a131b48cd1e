//! Incoming papers (and internal documents): registration in a register of the unit, and the
//! acknowledgement or return of what arrived.

use super::{view, visible};
use crate::audit::{self, Action, AuditContext};
use crate::db::schema::documents;
use crate::db::{self, DbConn};
use crate::documents::access::Viewer;
use crate::documents::model::{
    is_electronic_channel, Document, DocumentRow, Kind, RegisterRequest, Registration,
    ReturnRequest, SignaturesCheck, Status, VersionRow,
};
use crate::documents::queries;
use crate::error::{ApiError, ErrorCode};
use crate::registry;
use diesel::prelude::*;
use serde_json::json;

/// The file to check before an incoming electronic document is registered: its latest
/// version, when the viewer may register it (a clerk of its unit, status `received`, an
/// electronic `received_channel`); none for paper, other kinds and statuses. Not a recorded
/// read: the registration's event names the check's outcome.
pub fn file_to_check(
    conn: &mut DbConn,
    viewer: &Viewer,
    id: &str,
) -> Result<Option<VersionRow>, ApiError> {
    let (doc, _) = visible(conn, viewer, id)?;
    let electronic = doc.kind == Kind::Incoming
        && doc.status == Status::Received
        && is_electronic_channel(doc.received_channel.as_deref());
    if !electronic || !viewer.is_clerk_of(&doc.unit_id) {
        return Ok(None);
    }
    Ok(queries::versions(conn, &doc.id)?.pop())
}

/// Registers an incoming (or internal) document in a register of its unit: gives it the next
/// number. A probable duplicate (same issuer, symbol and issue date) is refused with 409
/// `probable_duplicate` unless `confirm_duplicate` is set. `check` is what the signature check
/// of an incoming electronic document found just before ([`file_to_check`]): kept on the
/// document and named in the event.
pub fn register(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    id: &str,
    req: RegisterRequest,
    check: Option<SignaturesCheck>,
) -> Result<Registration, ApiError> {
    db::write_tx(conn, |conn| {
        let (doc, _) = visible(conn, viewer, id)?;
        if !viewer.is_clerk_of(&doc.unit_id) {
            return Err(ApiError::Forbidden);
        }
        check_registrable(&doc)?;
        let reg = register_for(conn, viewer, &doc, &req.register_id)?;
        if doc.kind == Kind::Incoming && !req.confirm_duplicate {
            refuse_probable_duplicate(conn, &doc)?;
        }
        let registration = registry::service::assign_number(conn, Some(&viewer.id), &reg, &doc)?;
        diesel::update(documents::table.find(&doc.id))
            .set(documents::status.eq(Status::Registered))
            .execute(conn)?;
        let electronic =
            doc.kind == Kind::Incoming && is_electronic_channel(doc.received_channel.as_deref());
        let check = check.filter(|_| electronic);
        if let Some(c) = check {
            queries::set_signatures_check(conn, &doc.id, c, db::now())?;
        }
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
                "signatures_check": check,
            }),
        )?;
        Ok(registration)
    })
}

/// Refuses a document that is not waiting for a number: outgoing ones get theirs at issuance,
/// registered ones have one; only a received incoming paper or an internal draft is registered.
fn check_registrable(doc: &DocumentRow) -> Result<(), ApiError> {
    match (doc.kind, doc.status) {
        (Kind::Outgoing, _) => Err(ApiError::conflict(
            ErrorCode::NumberedAtIssuance,
            "outgoing documents get their number when they are issued, after signing",
        )),
        (_, Status::Registered) => Err(ApiError::conflict(
            ErrorCode::AlreadyRegistered,
            "the document is registered already",
        )),
        (Kind::Incoming, Status::Received) | (Kind::Internal, Status::Draft) => Ok(()),
        (_, s) => Err(ApiError::conflict(
            ErrorCode::NotRegistrable,
            format!("a document in status '{}' cannot be registered", s.as_str()),
        )),
    }
}

/// The register `register_id` names, if it is an open register of the document's unit and
/// kind that the viewer manages.
fn register_for(
    conn: &mut DbConn,
    viewer: &Viewer,
    doc: &DocumentRow,
    register_id: &str,
) -> Result<registry::model::RegisterRow, ApiError> {
    let reg = match registry::queries::find(conn, register_id)? {
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
    Ok(reg)
}

/// 409 `probable_duplicate` when a paper from the same issuer with the same symbol and issue
/// date has arrived already (naming its registration, if it has one).
fn refuse_probable_duplicate(conn: &mut DbConn, doc: &DocumentRow) -> Result<(), ApiError> {
    let Some(other) = queries::probable_duplicate(conn, doc)? else {
        return Ok(());
    };
    let known = match registry::queries::registration_of(conn, &other.id)? {
        Some(r) => format!(" (registered as {})", r.symbol),
        None => String::new(),
    };
    Err(ApiError::conflict(
        ErrorCode::ProbableDuplicate,
        format!(
            "a document from the same issuer with symbol {} of {} has arrived already{known}; send confirm_duplicate: true to register it anyway",
            doc.number_symbol.clone().unwrap_or_default(),
            doc.issue_date.map(|d| d.to_string()).unwrap_or_default(),
        ),
    ))
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
