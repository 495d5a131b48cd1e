//! Database queries of the signing-credentials domain. Each takes a connection; none opens a
//! transaction.

use super::crypto::Sealed;
use super::model::{CredentialRow, CredentialStatus, ImageRow, Owner};
use crate::db::schema::{signature_images, signing_credentials};
use crate::db::DbConn;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::Error as DbError;

/// A credential by id.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<CredentialRow>, DbError> {
    signing_credentials::table
        .find(id)
        .select(CredentialRow::as_select())
        .first(conn)
        .optional()
}

/// A user's active credentials, oldest first.
pub fn list_active_of_user(
    conn: &mut DbConn,
    user_id: &str,
) -> Result<Vec<CredentialRow>, DbError> {
    signing_credentials::table
        .filter(signing_credentials::owner_user_id.eq(user_id))
        .filter(signing_credentials::status.eq(CredentialStatus::Active))
        .order((
            signing_credentials::created_at.asc(),
            signing_credentials::id.asc(),
        ))
        .select(CredentialRow::as_select())
        .load(conn)
}

/// The active seal of a unit.
pub fn active_seal(conn: &mut DbConn, unit_id: &str) -> Result<Option<CredentialRow>, DbError> {
    signing_credentials::table
        .filter(signing_credentials::owner_unit_id.eq(unit_id))
        .filter(signing_credentials::status.eq(CredentialStatus::Active))
        .select(CredentialRow::as_select())
        .first(conn)
        .optional()
}

/// Inserts a credential.
pub fn insert(conn: &mut DbConn, row: &CredentialRow) -> Result<(), DbError> {
    diesel::insert_into(signing_credentials::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Marks a credential deleted and wipes its encrypted key (the certificate facts stay for the
/// record). Returns the rows changed (0: it was not active).
pub fn mark_deleted(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> Result<usize, DbError> {
    diesel::update(
        signing_credentials::table
            .find(id)
            .filter(signing_credentials::status.eq(CredentialStatus::Active)),
    )
    .set((
        signing_credentials::status.eq(CredentialStatus::Deleted),
        signing_credentials::deleted_at.eq(Some(at)),
        signing_credentials::key_ciphertext.eq(None::<Vec<u8>>),
        signing_credentials::key_nonce.eq(None::<Vec<u8>>),
        signing_credentials::key_salt.eq(None::<Vec<u8>>),
    ))
    .execute(conn)
}

/// Replaces an active credential's encrypted key (a PIN change), only while it is still
/// encrypted under `old_salt`: a concurrent change or deletion leaves 0 rows changed.
pub fn replace_key(
    conn: &mut DbConn,
    id: &str,
    old_salt: &[u8],
    sealed: &Sealed,
    kdf: &str,
    kek_id: &str,
) -> Result<usize, DbError> {
    diesel::update(
        signing_credentials::table
            .find(id)
            .filter(signing_credentials::status.eq(CredentialStatus::Active))
            .filter(signing_credentials::key_salt.eq(old_salt)),
    )
    .set((
        signing_credentials::key_ciphertext.eq(Some(&sealed.ciphertext)),
        signing_credentials::key_nonce.eq(Some(&sealed.nonce)),
        signing_credentials::key_salt.eq(Some(&sealed.salt)),
        signing_credentials::key_kdf.eq(Some(kdf)),
        signing_credentials::kek_id.eq(Some(kek_id)),
        signing_credentials::pin_failures.eq(0),
        signing_credentials::locked_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)
}

/// Counts one more wrong PIN; returns the count now.
pub fn add_pin_failure(conn: &mut DbConn, id: &str) -> Result<i32, DbError> {
    diesel::update(signing_credentials::table.find(id))
        .set(signing_credentials::pin_failures.eq(signing_credentials::pin_failures + 1))
        .execute(conn)?;
    signing_credentials::table
        .find(id)
        .select(signing_credentials::pin_failures)
        .first(conn)
}

/// Takes the credential's row for the rest of the transaction: a no-op UPDATE, which on
/// PostgreSQL waits for any other transaction holding the row and then holds it (as `FOR
/// UPDATE` would, in SQL both backends speak); SQLite's immediate write transaction is
/// exclusive already. Concurrent PIN attempts are thus counted one after the other.
pub fn lock_row(conn: &mut DbConn, id: &str) -> Result<usize, DbError> {
    diesel::update(signing_credentials::table.find(id))
        .set(signing_credentials::pin_failures.eq(signing_credentials::pin_failures))
        .execute(conn)
}

/// The lock state of a credential, read inside the unlocking transaction (after [`lock_row`]).
pub fn lock_state(
    conn: &mut DbConn,
    id: &str,
) -> Result<(i32, Option<NaiveDateTime>, CredentialStatus), DbError> {
    signing_credentials::table
        .find(id)
        .select((
            signing_credentials::pin_failures,
            signing_credentials::locked_until,
            signing_credentials::status,
        ))
        .first(conn)
}

/// Sets the failure counter and the lock.
pub fn set_lock(
    conn: &mut DbConn,
    id: &str,
    failures: i32,
    locked_until: Option<NaiveDateTime>,
) -> Result<usize, DbError> {
    diesel::update(signing_credentials::table.find(id))
        .set((
            signing_credentials::pin_failures.eq(failures),
            signing_credentials::locked_until.eq(locked_until),
        ))
        .execute(conn)
}

/// The image of an owner.
pub fn find_image(conn: &mut DbConn, owner: &Owner) -> Result<Option<ImageRow>, DbError> {
    let q = signature_images::table.select(ImageRow::as_select());
    match owner {
        Owner::User(id) => q.filter(signature_images::owner_user_id.eq(id)).first(conn),
        Owner::Unit(id) => q.filter(signature_images::owner_unit_id.eq(id)).first(conn),
    }
    .optional()
}

/// Replaces the image of an owner.
pub fn put_image(conn: &mut DbConn, row: &ImageRow) -> Result<(), DbError> {
    match (&row.owner_user_id, &row.owner_unit_id) {
        (Some(u), _) => {
            diesel::delete(signature_images::table.filter(signature_images::owner_user_id.eq(u)))
                .execute(conn)?
        }
        (None, Some(u)) => {
            diesel::delete(signature_images::table.filter(signature_images::owner_unit_id.eq(u)))
                .execute(conn)?
        }
        (None, None) => 0,
    };
    diesel::insert_into(signature_images::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}
