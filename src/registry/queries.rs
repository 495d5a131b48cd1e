//! Database queries of the registry domain. Each takes a connection; none opens a transaction.

use super::model::RegisterRow;
use crate::db::schema::{document_registrations, documents, registers};
use crate::db::DbConn;
use crate::documents::model::{DocumentRow, RegistrationRow};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::Error as DbError;

/// A register by id.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<RegisterRow>, DbError> {
    registers::table
        .find(id)
        .select(RegisterRow::as_select())
        .first(conn)
        .optional()
}

/// Registers, optionally of one unit, by name.
pub fn list(conn: &mut DbConn, unit_id: Option<&str>) -> Result<Vec<RegisterRow>, DbError> {
    let mut q = registers::table.into_boxed();
    if let Some(u) = unit_id {
        q = q.filter(registers::unit_id.eq(u));
    }
    q.order((registers::name.asc(), registers::id.asc()))
        .select(RegisterRow::as_select())
        .load(conn)
}

/// The entries of a register registered in `[from, to)`, in number order, the normal series first.
pub fn entries(
    conn: &mut DbConn,
    register_id: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<(RegistrationRow, DocumentRow)>, DbError> {
    document_registrations::table
        .inner_join(documents::table)
        .filter(document_registrations::register_id.eq(register_id))
        .filter(document_registrations::registered_at.ge(from))
        .filter(document_registrations::registered_at.lt(to))
        .order((
            // "normal" before "confidential".
            document_registrations::series.desc(),
            document_registrations::year.asc(),
            document_registrations::number.asc(),
        ))
        .select((RegistrationRow::as_select(), DocumentRow::as_select()))
        .load(conn)
}

/// The registration of a document, when it has one.
pub fn registration_of(
    conn: &mut DbConn,
    document_id: &str,
) -> Result<Option<RegistrationRow>, DbError> {
    document_registrations::table
        .find(document_id)
        .select(RegistrationRow::as_select())
        .first(conn)
        .optional()
}

/// Registrations of several documents.
pub fn registrations_of(
    conn: &mut DbConn,
    document_ids: &[String],
) -> Result<Vec<RegistrationRow>, DbError> {
    document_registrations::table
        .filter(document_registrations::document_id.eq_any(document_ids))
        .select(RegistrationRow::as_select())
        .load(conn)
}
