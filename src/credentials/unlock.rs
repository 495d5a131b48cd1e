//! Unlocking a `server` credential (a user's, or a unit's seal for its clerks) with its PIN
//! for one use, and the PIN lockout: counted in the row inside a write transaction that takes
//! the row first; the argon2 derivation runs before it.

use super::certs;
use super::crypto::{self, CryptoError, Kek, Sealed};
use super::model::{CredentialId, CredentialKind, CredentialRow, CredentialStatus, RemoteProvider};
use super::queries;
use super::service::{unprocessable, SECRET_MAX_BYTES};
use crate::accounts::{Role, UnitId, UserId};
use crate::audit::model::{Action, AuditContext};
use crate::audit::service as audit;
use crate::db::{self, DbConn};
use crate::error::{ApiError, ErrorCode};
use crate::signing::remote::RemoteSigner;
use crate::signing::{LocalKey, Signer};
use chrono::{Duration, NaiveDateTime};
use openssl::pkey::PKey;
use openssl::x509::X509;
use serde_json::json;

/// Wrong PINs in a row that lock a credential.
pub const PIN_MAX_FAILURES: i32 = 5;
/// How long the lock lasts.
pub const PIN_LOCK_MINUTES: i64 = 15;

/// What one PIN attempt came to, decided inside the transaction.
enum Attempt {
    Opened,
    Wrong {
        left: i32,
    },
    NowLocked,
    Locked {
        until: NaiveDateTime,
    },
    Gone,
    /// The stored fields are malformed or a primitive failed: the server's fault, not counted.
    Broken(String),
}

pub(super) fn locked(until: NaiveDateTime, now: NaiveDateTime) -> ApiError {
    ApiError::Locked {
        code: ErrorCode::SigningPinLocked,
        message: format!("too many wrong PINs: the credential is locked until {until} (UTC)"),
        retry_after: (until - now).num_seconds().max(1) as u64,
    }
}

/// Unlocks the caller's `server` credential with its PIN for one use: a [`Signer`] holding
/// the key in memory. Wrong PIN: 403 `signing_pin_wrong`, counted; the fifth in a row locks
/// the credential for 15 minutes (429 `signing_pin_locked`, even with the right PIN). The
/// certificate is checked again (validity at `now`, key usage).
pub fn unlock(
    conn: &mut DbConn,
    kek: &Kek,
    credential_id: &CredentialId,
    user_id: &UserId,
    pin: &str,
    now: NaiveDateTime,
) -> Result<Signer, ApiError> {
    let row = own_row(conn, credential_id, user_id)?;
    open_row(conn, kek, &[], &holder(user_id), row, pin, now)
}

/// The caller's own credential row, 404 for anyone else's or an unknown id.
pub(super) fn own_row(
    conn: &mut DbConn,
    credential_id: &CredentialId,
    user_id: &UserId,
) -> Result<CredentialRow, ApiError> {
    queries::find(conn, &credential_id.0)?
        .filter(|r| r.owner_user_id.as_deref() == Some(user_id.0.as_str()))
        .ok_or(ApiError::NotFound("signing credential"))
}

pub(super) fn holder(user_id: &UserId) -> AuditContext {
    AuditContext {
        actor_id: Some(user_id.0.clone()),
        ..AuditContext::default()
    }
}

/// What the caller's credential signs with: a `server` key unlocked with its PIN
/// ([`unlock`]), or a `csc` credential's remote service.
pub enum CredentialSigner {
    Key(Signer),
    Remote(Box<dyn RemoteSigner>),
}

/// What using a credential needs besides the database and the KEK: the roots its certificate
/// must still chain to at each use (`trust_roots_path`; none: not checked), and the office's
/// accounts at remote signing providers.
#[derive(Debug, Clone, Default)]
pub struct UseContext {
    pub trust_roots: std::sync::Arc<Vec<X509>>,
    /// VNPT SmartCA (`smartca_sp_id` / `smartca_sp_password`); none when not configured.
    pub smartca: Option<crate::signing::smartca::SpAccount>,
}

/// The signer of the caller's credential for one signature: a `server` credential unlocked
/// with its PIN, or a `csc` credential's remote service (its certificate read from the service
/// and checked; the PIN, when the service takes one, goes with the request). A `token` signs on
/// the holder's computer (`…/sign/prepare`): 422 `credential_not_usable` here. A `server`
/// credential needs the PIN; a remote service gets it when given (one whose holder confirms on
/// the phone needs none).
pub fn signer_for(
    conn: &mut DbConn,
    kek: &Kek,
    accounts: &UseContext,
    credential_id: &CredentialId,
    user_id: &UserId,
    pin: Option<&str>,
    now: NaiveDateTime,
) -> Result<CredentialSigner, ApiError> {
    let row = own_row(conn, credential_id, user_id)?;
    if row.kind != CredentialKind::Csc {
        let pin = pin.ok_or_else(|| ApiError::validation("pin", "is required to sign"))?;
        let roots = accounts.trust_roots.as_slice();
        return open_row(conn, kek, roots, &holder(user_id), row, pin, now)
            .map(CredentialSigner::Key);
    }
    if pin.is_some_and(|p| p.len() > SECRET_MAX_BYTES) {
        return Err(ApiError::validation("pin", "is too long"));
    }
    remote_signer(&row, accounts, pin, now).map(CredentialSigner::Remote)
}

/// The remote service of the caller's `csc` credential, for polling a pending signature of
/// theirs (no PIN: the holder confirmed on the phone). 404 once the credential is deleted.
pub fn remote_for(
    conn: &mut DbConn,
    accounts: &UseContext,
    credential_id: &CredentialId,
    user_id: &UserId,
    now: NaiveDateTime,
) -> Result<Box<dyn RemoteSigner>, ApiError> {
    let row = own_row(conn, credential_id, user_id)?;
    remote_signer(&row, accounts, None, now)
}

fn remote_signer(
    row: &CredentialRow,
    accounts: &UseContext,
    pin: Option<&str>,
    now: NaiveDateTime,
) -> Result<Box<dyn RemoteSigner>, ApiError> {
    if row.status != CredentialStatus::Active || row.kind != CredentialKind::Csc {
        return Err(ApiError::NotFound("signing credential"));
    }
    let config: super::model::CscConfig = row
        .csc_config
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("credential {}: no CSC settings", row.id))
        })?;
    if config.auth == super::model::CscAuth::Oauth2 {
        return Err(unprocessable(
            ErrorCode::CredentialNotUsable,
            "this CSC service's authentication (OAuth 2.0) is not supported yet; use `auth: basic` or `none`",
        ));
    }
    let timeout = std::time::Duration::from_secs(15);
    let remote: Box<dyn RemoteSigner> = match config.provider {
        RemoteProvider::Csc => {
            let api = match config.api_version {
                super::model::CscVersion::V1 => crate::signing::csc::CscApi::V1,
                super::model::CscVersion::V2 => crate::signing::csc::CscApi::V2,
            };
            // `auth: basic`: the PIN is also the password of the service's `auth/login`.
            let token = match (config.auth, &config.username) {
                (super::model::CscAuth::Basic, Some(username)) => {
                    let pin = pin.ok_or_else(|| {
                        ApiError::validation("pin", "is required to sign at this service")
                    })?;
                    Some(
                        crate::signing::csc::login(&config.base_url, api, username, pin, timeout)
                            .map_err(ApiError::of_signing)?,
                    )
                }
                _ => None,
            };
            Box::new(
                crate::signing::csc::CscSigner::connect(
                    &config.base_url,
                    api,
                    &config.credential_id,
                    pin.map(str::to_string),
                    token,
                    timeout,
                )
                .map_err(ApiError::of_signing)?,
            )
        }
        RemoteProvider::VnptSmartca => {
            let account = accounts.smartca.clone().ok_or_else(|| {
                unprocessable(
                    ErrorCode::CredentialNotUsable,
                    "this server has no VNPT SmartCA account: set smartca_sp_id and smartca_sp_password",
                )
            })?;
            Box::new(
                crate::signing::smartca::SmartCa::connect(
                    &config.base_url,
                    account,
                    &config.credential_id,
                    timeout,
                )
                .map_err(ApiError::of_signing)?,
            )
        }
    };
    let roots = accounts.trust_roots.as_slice();
    certs::check(remote.certificate(), remote.chain(), roots, now)?;
    certs::check_revocation(remote.certificate(), remote.chain(), roots)?;
    Ok(remote)
}

/// Unlocks the organisation seal of `unit_id` for a clerk of that unit (403 for anyone else).
pub fn unlock_seal(
    conn: &mut DbConn,
    kek: &Kek,
    roots: &[X509],
    unit_id: &UnitId,
    clerk_user: &UserId,
    pin: &str,
    now: NaiveDateTime,
) -> Result<Signer, ApiError> {
    let user = crate::accounts::queries::find_user(conn, &clerk_user.0)?
        .filter(|u| u.active)
        .ok_or(ApiError::Forbidden)?;
    let roles = crate::accounts::queries::roles_of(conn, &user.id)?;
    if user.unit_id.as_deref() != Some(unit_id.0.as_str()) || !roles.contains(&Role::Clerk) {
        return Err(ApiError::Forbidden);
    }
    let row = queries::active_seal(conn, &unit_id.0)?.ok_or(ApiError::NotFound("seal"))?;
    open_row(
        conn,
        kek,
        roots,
        &holder(&UserId(user.id.clone())),
        row,
        pin,
        now,
    )
}

/// The certificate and chain of the caller's own `token` credential, checked for a signature
/// now (validity, key usage, the trust roots, revocation): the key itself is on the holder's
/// USB token.
pub fn token_certificate(
    conn: &mut DbConn,
    roots: &[X509],
    credential_id: &CredentialId,
    user_id: &UserId,
    now: NaiveDateTime,
) -> Result<(X509, Vec<X509>), ApiError> {
    let row = own_row(conn, credential_id, user_id)?;
    if row.status != CredentialStatus::Active {
        return Err(ApiError::NotFound("signing credential"));
    }
    if row.kind != CredentialKind::Token {
        return Err(unprocessable(
            ErrorCode::CredentialNotUsable,
            "prepare/complete is for a token credential; a server credential signs with the sign action",
        ));
    }
    let (cert, chain) = stored_certificates(&row)?;
    certs::check(&cert, &chain, roots, now)?;
    certs::check_revocation(&cert, &chain, roots)?;
    Ok((cert, chain))
}

fn open_row(
    conn: &mut DbConn,
    kek: &Kek,
    roots: &[X509],
    ctx: &AuditContext,
    row: CredentialRow,
    pin: &str,
    now: NaiveDateTime,
) -> Result<Signer, ApiError> {
    if row.status != CredentialStatus::Active {
        return Err(ApiError::NotFound("signing credential"));
    }
    if row.kind != CredentialKind::Server {
        return Err(unprocessable(
            ErrorCode::CredentialNotUsable,
            "only a server credential signs here; a token signs on the holder's computer, a csc credential at its service",
        ));
    }
    check_not_locked(&row, pin, now)?;
    let (cert, chain) = stored_certificates(&row)?;
    certs::check(&cert, &chain, roots, now)?;
    certs::check_revocation(&cert, &chain, roots)?;
    let pkcs8 = open_key(conn, kek, ctx, &row, pin, now)?;
    let key = PKey::private_key_from_pkcs8(pkcs8.expose()).map_err(ApiError::internal)?;
    drop(pkcs8);
    certs::check_key_matches(&cert, &key)?;
    let local = LocalKey::new(key)
        .map_err(|e| unprocessable(ErrorCode::SigningKeyInvalid, e.to_string()))?;
    Ok(Signer::new(cert, chain, Box::new(local)))
}

/// Refuses a locked credential (429) and a PIN too long to derive, before any work.
pub(super) fn check_not_locked(
    row: &CredentialRow,
    pin: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    if let Some(until) = row.locked_until.filter(|u| *u > now) {
        return Err(locked(until, now));
    }
    if pin.len() > SECRET_MAX_BYTES {
        return Err(ApiError::validation("pin", "is too long"));
    }
    Ok(())
}

/// Opens an active `server` row's key with `pin`, counting the attempt as every use does: a
/// wrong PIN is 403 `signing_pin_wrong` (the fifth in a row locks), a lock 429. The plaintext
/// (PKCS#8 DER) comes back in a buffer wiped on drop.
pub(super) fn open_key(
    conn: &mut DbConn,
    kek: &Kek,
    ctx: &AuditContext,
    row: &CredentialRow,
    pin: &str,
    now: NaiveDateTime,
) -> Result<crypto::Secret, ApiError> {
    if row.kek_id.as_deref() != Some(kek.id().as_str()) {
        // Not the holder's fault and not a wrong PIN: the operator replaced the KEK file.
        return Err(ApiError::internal(anyhow::anyhow!(
            "credential {} was encrypted under another KEK than signing_kek_path holds",
            row.id
        )));
    }
    let sealed = sealed_of(row);
    let owner = row.owner()?;
    // The slow derivation happens here, outside the write transaction.
    let started = std::time::Instant::now();
    let opened = crypto::open(kek, pin, &crypto::aad(&row.id, &owner.binding()), &sealed);
    // Its deliberate cost, logged apart from the rest of the request's time.
    tracing::info!(
        credential = %row.id,
        pin_derivation_ms = started.elapsed().as_secs_f64() * 1000.0,
        "signing PIN derived"
    );
    let attempt = match &opened {
        // The right PIN on a credential with no failures to forget and no lock to lift
        // changes nothing: no write and no commit (read again, after the derivation, in case
        // wrong attempts came meanwhile; those are counted under the row lock).
        Ok(_) if queries::lock_state(conn, &row.id)? == (0, None, CredentialStatus::Active) => {
            Attempt::Opened
        }
        _ => db::write_tx(conn, |conn| record_attempt(conn, ctx, row, &opened, now))?,
    };
    match attempt {
        Attempt::Opened => {}
        Attempt::Wrong { left } => {
            return Err(ApiError::Refused {
                code: ErrorCode::SigningPinWrong,
                message: format!(
                    "wrong signing PIN; {left} more wrong PIN(s) lock the credential for {PIN_LOCK_MINUTES} minutes"
                ),
            })
        }
        Attempt::NowLocked => {
            return Err(ApiError::Refused {
                code: ErrorCode::SigningPinWrong,
                message: format!(
                    "wrong signing PIN; the credential is now locked for {PIN_LOCK_MINUTES} minutes"
                ),
            })
        }
        Attempt::Locked { until } => return Err(locked(until, now)),
        Attempt::Gone => return Err(ApiError::NotFound("signing credential")),
        Attempt::Broken(why) => {
            return Err(ApiError::internal(anyhow::anyhow!(
                "credential {}: {why}",
                row.id
            )))
        }
    }
    opened.map_err(ApiError::internal)
}

/// The stored encrypted key of a row (empty fields fail to open as malformed).
pub(super) fn sealed_of(row: &CredentialRow) -> Sealed {
    Sealed {
        salt: row.key_salt.clone().unwrap_or_default(),
        nonce: row.key_nonce.clone().unwrap_or_default(),
        ciphertext: row.key_ciphertext.clone().unwrap_or_default(),
    }
}

/// Counts the attempt against the row as it is now (another attempt may have locked it).
fn record_attempt(
    conn: &mut DbConn,
    ctx: &AuditContext,
    row: &CredentialRow,
    opened: &Result<crypto::Secret, CryptoError>,
    now: NaiveDateTime,
) -> Result<Attempt, ApiError> {
    queries::lock_row(conn, &row.id)?;
    let (failures, locked_until, status) = queries::lock_state(conn, &row.id)?;
    if status != CredentialStatus::Active {
        return Ok(Attempt::Gone);
    }
    if let Some(until) = locked_until.filter(|u| *u > now) {
        return Ok(Attempt::Locked { until });
    }
    match opened {
        Ok(_) => {
            if failures != 0 || locked_until.is_some() {
                queries::set_lock(conn, &row.id, 0, None)?;
            }
            Ok(Attempt::Opened)
        }
        Err(CryptoError::WrongPin) => {
            let n = queries::add_pin_failure(conn, &row.id)?;
            if n < PIN_MAX_FAILURES {
                return Ok(Attempt::Wrong {
                    left: PIN_MAX_FAILURES - n,
                });
            }
            let until = now + Duration::minutes(PIN_LOCK_MINUTES);
            queries::set_lock(conn, &row.id, 0, Some(until))?;
            audit::record(
                conn,
                ctx,
                Action::SigningCredentialLocked,
                "signing_credential",
                Some(&row.id),
                json!({"failures": n, "locked_until": until.and_utc().to_rfc3339()}),
            )?;
            Ok(Attempt::NowLocked)
        }
        Err(other) => Ok(Attempt::Broken(other.to_string())),
    }
}

fn stored_certificates(row: &CredentialRow) -> Result<(X509, Vec<X509>), ApiError> {
    let der = row.cert_der.as_deref().ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!("credential {}: no certificate", row.id))
    })?;
    let cert = X509::from_der(der).map_err(ApiError::internal)?;
    let chain = certs::unpack_chain(row.chain_der.as_deref().unwrap_or_default())?;
    Ok((cert, chain))
}
