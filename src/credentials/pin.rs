//! Changing the PIN of one's own `server` credential: the old PIN is checked and counted as
//! at every use (`unlock::open_key`), the key is sealed again under the new PIN with a fresh
//! salt and nonce, outside the transaction (the derivation is slow), and swapped in one
//! transaction with its audit event, only if nobody changed or deleted it meanwhile.

use super::crypto::{self, Kek};
use super::model::{CredentialId, CredentialKind, CredentialStatus};
use super::queries;
use super::service::{check_new_pin_in, unprocessable, view};
use super::unlock::{check_not_locked, locked, open_key, own_row};
use super::Credential;
use crate::accounts::UserId;
use crate::audit::model::{Action, AuditContext};
use crate::audit::service as audit;
use crate::db::{self, DbConn};
use crate::error::{ApiError, ErrorCode};
use chrono::NaiveDateTime;
use serde_json::json;

/// What a PIN change names: whose credential, the PIN it opens with now, the one it will.
pub struct PinChange<'a> {
    pub credential_id: &'a CredentialId,
    pub user_id: &'a UserId,
    pub pin: &'a str,
    pub new_pin: &'a str,
}

/// Changes the PIN of the caller's `server` credential. 404 for anyone else's or an unknown
/// or deleted id; 422 `credential_has_no_pin` for a `token` / `csc` credential; the new PIN
/// is checked as at creation (`pin_too_weak`, and it must differ); the old one as at signing
/// (403 `signing_pin_wrong`, counted; 429 `signing_pin_locked`). Audited
/// `signing_credential.pin_changed`; never a PIN or key in the event.
pub fn change_pin(
    conn: &mut DbConn,
    ctx: &AuditContext,
    kek: &Kek,
    change: &PinChange,
    now: NaiveDateTime,
) -> Result<Credential, ApiError> {
    let row = own_row(conn, change.credential_id, change.user_id)?;
    if row.status != CredentialStatus::Active {
        return Err(ApiError::NotFound("signing credential"));
    }
    if row.kind != CredentialKind::Server {
        return Err(unprocessable(
            ErrorCode::CredentialHasNoPin,
            format!(
                "a {} credential has no PIN kept here: a token's PIN is changed on the token, a remote service's at the service",
                row.kind
            ),
        ));
    }
    // The cheap checks first: a refused new PIN costs no attempt of the old one.
    check_new_pin_in("new_pin", change.new_pin)?;
    if change.new_pin == change.pin {
        return Err(ApiError::validation(
            "new_pin",
            "must differ from the current PIN",
        ));
    }
    check_not_locked(&row, change.pin, now)?;
    let old_salt = row.key_salt.clone().unwrap_or_default();
    let pkcs8 = open_key(conn, kek, ctx, &row, change.pin, now)?;
    let owner = row.owner()?;
    let sealed = crypto::seal(
        kek,
        change.new_pin,
        &crypto::aad(&row.id, &owner.binding()),
        pkcs8.expose(),
    )
    .map_err(ApiError::internal)?;
    // The plaintext is wiped now, before the transaction.
    drop(pkcs8);
    let updated = db::write_tx(conn, |conn| {
        queries::lock_row(conn, &row.id)?;
        let (_, locked_until, status) = queries::lock_state(conn, &row.id)?;
        if status != CredentialStatus::Active {
            return Err(ApiError::NotFound("signing credential"));
        }
        if let Some(until) = locked_until.filter(|u| *u > now) {
            // Wrong PINs from elsewhere locked it while this one was derived.
            return Err(locked(until, now));
        }
        let changed =
            queries::replace_key(conn, &row.id, &old_salt, &sealed, crypto::KDF, &kek.id())?;
        if changed == 0 {
            return Err(ApiError::conflict(
                ErrorCode::ConcurrentUpdate,
                "the credential's PIN was changed meanwhile; give its current PIN",
            ));
        }
        audit::record(
            conn,
            ctx,
            Action::SigningCredentialPinChanged,
            "signing_credential",
            Some(&row.id),
            json!({"kind": row.kind, "certificate_sha256": row.cert_sha256}),
        )?;
        queries::find(conn, &row.id)?.ok_or(ApiError::NotFound("signing credential"))
    })?;
    view(&updated)
}
