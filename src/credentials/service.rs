//! Rules and transactions of signing credentials: adding (`server`, `token`, `csc`), listing,
//! deleting, and unlocking a `server` key with its PIN for one signature (`unlock`,
//! `unlock_seal`). The slow PIN derivation runs before the write transaction, never inside it.

use super::certs::{self, CertFacts};
use super::crypto::{self, CryptoError, Kek, Sealed};
use super::model::{
    CredentialId, CredentialKind, CredentialRow, CredentialStatus, CscConfig, ImageRow, Owner,
    Seal, SignatureImage,
};
use super::queries;
use super::Credential;
use crate::accounts::{Role, UnitId, UserId};
use crate::audit::model::{Action, AuditContext};
use crate::audit::service as audit;
use crate::db::{self, DbConn};
use crate::error::{ApiError, ErrorCode};
use crate::signing::{LocalKey, Signer};
use chrono::{Duration, NaiveDateTime};
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use serde_json::json;

/// Wrong PINs in a row that lock a credential.
pub const PIN_MAX_FAILURES: i32 = 5;
/// How long the lock lasts.
pub const PIN_LOCK_MINUTES: i64 = 15;
/// Shortest accepted PIN, in characters.
pub const PIN_MIN_CHARS: usize = 6;
/// Longest accepted PIN or password, in bytes (bounds the work of the key derivation).
pub const SECRET_MAX_BYTES: usize = 256;
/// Largest PKCS#12 / PEM / certificate upload.
pub const MAX_CREDENTIAL_FILE_BYTES: usize = 64 * 1024;
/// Largest signature or seal image.
pub const MAX_IMAGE_BYTES: usize = 512 * 1024;
/// Largest signature or seal image side, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 2000;
/// Longest label, in characters.
const LABEL_MAX_CHARS: usize = 200;

fn unprocessable(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::Unprocessable {
        code,
        message: message.into(),
    }
}

/// A label: 1–200 characters, no control or bidirectional characters; trimmed.
pub fn check_label(label: &str) -> Result<String, ApiError> {
    crate::text::check_name("label", label)?;
    let label = label.trim();
    if label.is_empty() || label.chars().count() > LABEL_MAX_CHARS {
        return Err(ApiError::validation(
            "label",
            format!("must hold 1 to {LABEL_MAX_CHARS} characters"),
        ));
    }
    Ok(label.to_string())
}

/// A new signing PIN: at least 6 characters.
pub fn check_new_pin(pin: &str) -> Result<(), ApiError> {
    if pin.len() > SECRET_MAX_BYTES {
        return Err(ApiError::validation(
            "pin",
            format!("must be at most {SECRET_MAX_BYTES} bytes"),
        ));
    }
    if pin.chars().count() < PIN_MIN_CHARS {
        return Err(unprocessable(
            ErrorCode::PinTooWeak,
            format!("the signing PIN must have at least {PIN_MIN_CHARS} characters"),
        ));
    }
    Ok(())
}

/// The key and certificates of a `server` upload.
struct Material {
    key: PKey<Private>,
    cert: X509,
    chain: Vec<X509>,
}

/// Opens a PKCS#12 file, or PEM text holding a private key (encrypted with `password` when
/// one is given) and certificates; the certificate matching the key is the signer's.
fn open_material(file: &[u8], password: &str) -> Result<Material, ApiError> {
    if password.len() > SECRET_MAX_BYTES {
        return Err(ApiError::validation("password", "is too long"));
    }
    let text_start = file
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    if file[text_start..].starts_with(b"-----BEGIN") {
        return open_pem(file, password);
    }
    let unreadable = || {
        unprocessable(
            ErrorCode::Pkcs12Unreadable,
            "the PKCS#12 file cannot be opened: wrong password, or not a PKCS#12 file",
        )
    };
    let p12 = Pkcs12::from_der(file)
        .and_then(|p| p.parse2(password))
        .map_err(|e| {
            // OpenSSL 3 refuses RC2-40 / other legacy PKCS#12 encryption (older Windows and CA
            // tools still export it) as "unsupported": say so, not "wrong password".
            let legacy = e
                .errors()
                .iter()
                .any(|x| x.reason().is_some_and(|r| r.contains("unsupported")));
            if legacy {
                unprocessable(
                    ErrorCode::Pkcs12Unreadable,
                    "the PKCS#12 file uses a legacy encryption (e.g. RC2-40) this server does not \
                     read: export it again with AES (e.g. openssl pkcs12 -export without -legacy)",
                )
            } else {
                unreadable()
            }
        })?;
    let key = p12.pkey.ok_or_else(|| {
        unprocessable(
            ErrorCode::Pkcs12Unreadable,
            "the PKCS#12 file holds no private key",
        )
    })?;
    let cert = p12.cert.ok_or_else(|| {
        unprocessable(
            ErrorCode::Pkcs12Unreadable,
            "the PKCS#12 file holds no certificate",
        )
    })?;
    certs::check_key_matches(&cert, &key)?;
    let own = cert.to_der().map_err(ApiError::internal)?;
    // PKCS#12 files often repeat the signer's own certificate among the CA ones.
    let chain = p12
        .ca
        .map(|s| s.into_iter().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.to_der().map(|d| d != own).unwrap_or(true))
        .collect();
    Ok(Material { key, cert, chain })
}

fn open_pem(file: &[u8], password: &str) -> Result<Material, ApiError> {
    let key = if password.is_empty() {
        PKey::private_key_from_pem(file)
    } else {
        PKey::private_key_from_pem_passphrase(file, password.as_bytes())
    }
    .map_err(|_| {
        unprocessable(
            ErrorCode::Pkcs12Unreadable,
            "the PEM file holds no private key readable with this password",
        )
    })?;
    let all = X509::stack_from_pem(file).unwrap_or_default();
    if all.is_empty() {
        return Err(unprocessable(
            ErrorCode::CertificateUnreadable,
            "the PEM file holds no certificate",
        ));
    }
    let position = all
        .iter()
        .position(|c| c.public_key().map(|p| p.public_eq(&key)).unwrap_or(false));
    let Some(position) = position else {
        return Err(unprocessable(
            ErrorCode::KeyCertificateMismatch,
            "the private key belongs to none of the certificates in the file",
        ));
    };
    let mut chain = all;
    let cert = chain.remove(position);
    Ok(Material { key, cert, chain })
}

/// What a `server` credential needs to be added or to become a seal.
pub struct ServerUpload<'a> {
    /// The PKCS#12 or PEM file.
    pub file: &'a [u8],
    pub label: String,
    pub pin: String,
    pub password: String,
}

/// The secrets the service needs: the KEK and the office's trust roots.
pub struct Keys<'a> {
    pub kek: &'a Kek,
    pub trust_roots: &'a [X509],
}

/// A checked, encrypted `server` credential, ready to insert.
fn prepare_server(
    keys: &Keys,
    owner: &Owner,
    upload: &ServerUpload,
    now: NaiveDateTime,
) -> Result<CredentialRow, ApiError> {
    let label = check_label(&upload.label)?;
    check_new_pin(&upload.pin)?;
    if upload.file.len() > MAX_CREDENTIAL_FILE_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_CREDENTIAL_FILE_BYTES as u64,
        });
    }
    let m = open_material(upload.file, &upload.password)?;
    let facts = certs::check(&m.cert, &m.chain, keys.trust_roots, now)?;
    // Only keys the signing engine can use are kept (RSA ≥ 2048, P-256, P-384).
    LocalKey::new(m.key.clone())
        .map_err(|e| unprocessable(ErrorCode::SigningKeyInvalid, e.to_string()))?;
    let pkcs8 = crypto::Secret::new(m.key.private_key_to_pkcs8().map_err(ApiError::internal)?);
    let id = uuid::Uuid::new_v4().to_string();
    let sealed = crypto::seal(
        keys.kek,
        &upload.pin,
        &crypto::aad(&id, &owner.binding()),
        pkcs8.expose(),
    )
    .map_err(ApiError::internal)?;
    let mut row = new_row(id, owner, CredentialKind::Server, label, now);
    set_certificate(&mut row, &m.cert, &m.chain, &facts)?;
    row.key_ciphertext = Some(sealed.ciphertext);
    row.key_nonce = Some(sealed.nonce);
    row.key_salt = Some(sealed.salt);
    row.key_kdf = Some(crypto::KDF.to_string());
    row.kek_id = Some(keys.kek.id());
    Ok(row)
}

fn new_row(
    id: String,
    owner: &Owner,
    kind: CredentialKind,
    label: String,
    now: NaiveDateTime,
) -> CredentialRow {
    let (owner_user_id, owner_unit_id) = match owner {
        Owner::User(u) => (Some(u.clone()), None),
        Owner::Unit(u) => (None, Some(u.clone())),
    };
    CredentialRow {
        id,
        owner_user_id,
        owner_unit_id,
        kind: kind.as_str().to_string(),
        label,
        status: CredentialStatus::Active.as_str().to_string(),
        cert_der: None,
        chain_der: None,
        subject: None,
        issuer: None,
        serial: None,
        not_before: None,
        not_after: None,
        cert_sha256: None,
        key_ciphertext: None,
        key_nonce: None,
        key_salt: None,
        key_kdf: None,
        kek_id: None,
        csc_config: None,
        pin_failures: 0,
        locked_until: None,
        created_at: now,
        deleted_at: None,
    }
}

fn set_certificate(
    row: &mut CredentialRow,
    cert: &X509,
    chain: &[X509],
    facts: &CertFacts,
) -> Result<(), ApiError> {
    row.cert_der = Some(cert.to_der().map_err(ApiError::internal)?);
    row.chain_der = Some(certs::pack_chain(chain)?);
    row.subject = Some(facts.subject.clone());
    row.issuer = Some(facts.issuer.clone());
    row.serial = Some(facts.serial.clone());
    row.not_before = Some(facts.not_before);
    row.not_after = Some(facts.not_after);
    row.cert_sha256 = Some(facts.sha256.clone());
    Ok(())
}

/// The API view of a row.
pub fn view(row: &CredentialRow) -> Result<Credential, ApiError> {
    let csc = match &row.csc_config {
        Some(text) => Some(serde_json::from_str::<CscConfig>(text).map_err(ApiError::internal)?),
        None => None,
    };
    Ok(Credential {
        id: CredentialId(row.id.clone()),
        kind: row.kind()?,
        label: row.label.clone(),
        status: row.status()?,
        subject: row.subject.clone(),
        issuer: row.issuer.clone(),
        serial: row.serial.clone(),
        not_before: row.not_before,
        not_after: row.not_after,
        certificate_sha256: row.cert_sha256.clone(),
        csc,
        locked_until: row.locked_until,
        created_at: row.created_at,
    })
}

fn insert_audited(
    conn: &mut DbConn,
    ctx: &AuditContext,
    row: &CredentialRow,
) -> Result<Credential, ApiError> {
    let out = view(row)?;
    db::write_tx(conn, |conn| {
        queries::insert(conn, row)?;
        audit::record(
            conn,
            ctx,
            Action::SigningCredentialAdded,
            "signing_credential",
            Some(&row.id),
            json!({
                "kind": row.kind,
                "label": row.label,
                "certificate_sha256": row.cert_sha256,
                "subject": row.subject,
            }),
        )?;
        Ok::<_, ApiError>(())
    })?;
    Ok(out)
}

/// Adds a `server` credential for `user_id`.
pub fn add_server(
    conn: &mut DbConn,
    ctx: &AuditContext,
    keys: &Keys,
    user_id: &UserId,
    upload: &ServerUpload,
    now: NaiveDateTime,
) -> Result<Credential, ApiError> {
    let owner = Owner::User(user_id.0.clone());
    let row = prepare_server(keys, &owner, upload, now)?;
    insert_audited(conn, ctx, &row)
}

/// Adds a `token` credential: only the certificate (DER or PEM) is kept.
pub fn add_token(
    conn: &mut DbConn,
    ctx: &AuditContext,
    trust_roots: &[X509],
    user_id: &UserId,
    label: &str,
    certificate: &[u8],
    now: NaiveDateTime,
) -> Result<Credential, ApiError> {
    let label = check_label(label)?;
    if certificate.len() > MAX_CREDENTIAL_FILE_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_CREDENTIAL_FILE_BYTES as u64,
        });
    }
    let cert = certs::read_certificate(certificate)?;
    let facts = certs::check(&cert, &[], trust_roots, now)?;
    let owner = Owner::User(user_id.0.clone());
    let mut row = new_row(
        uuid::Uuid::new_v4().to_string(),
        &owner,
        CredentialKind::Token,
        label,
        now,
    );
    set_certificate(&mut row, &cert, &[], &facts)?;
    insert_audited(conn, ctx, &row)
}

/// Adds a `csc` credential: the remote service's settings only (nothing is called yet).
pub fn add_csc(
    conn: &mut DbConn,
    ctx: &AuditContext,
    user_id: &UserId,
    label: &str,
    config: CscConfig,
    now: NaiveDateTime,
) -> Result<Credential, ApiError> {
    let label = check_label(label)?;
    let url = url::Url::parse(&config.base_url)
        .map_err(|_| ApiError::validation("base_url", "is not a URL"))?;
    let loopback = url
        .host_str()
        .is_some_and(|h| h == "localhost" || h == "127.0.0.1" || h == "[::1]");
    if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
        return Err(ApiError::validation(
            "base_url",
            "must be https:// (http:// only on the loopback)",
        ));
    }
    if config.base_url.len() > 2000 {
        return Err(ApiError::validation("base_url", "is too long"));
    }
    crate::text::check_name("credential_id", &config.credential_id)?;
    if config.credential_id.trim().is_empty() || config.credential_id.len() > 500 {
        return Err(ApiError::validation(
            "credential_id",
            "must hold 1 to 500 bytes",
        ));
    }
    let owner = Owner::User(user_id.0.clone());
    let mut row = new_row(
        uuid::Uuid::new_v4().to_string(),
        &owner,
        CredentialKind::Csc,
        label,
        now,
    );
    row.csc_config = Some(serde_json::to_string(&config).map_err(ApiError::internal)?);
    insert_audited(conn, ctx, &row)
}

/// The caller's active credentials.
pub fn list_own(
    conn: &mut DbConn,
    user_id: &UserId,
    now: NaiveDateTime,
) -> Result<Vec<Credential>, ApiError> {
    let mut out: Vec<Credential> = queries::list_active_of_user(conn, &user_id.0)?
        .iter()
        .map(view)
        .collect::<Result<_, _>>()?;
    // A lock that has run out is no lock.
    for c in &mut out {
        c.locked_until = c.locked_until.filter(|u| *u > now);
    }
    Ok(out)
}

/// Deletes one of the caller's credentials (marks it deleted, wipes the encrypted key). A
/// foreign, unknown or already deleted id is 404.
pub fn delete_own(
    conn: &mut DbConn,
    ctx: &AuditContext,
    id: &CredentialId,
    user_id: &UserId,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    db::write_tx(conn, |conn| {
        let row = queries::find(conn, &id.0)?
            .filter(|r| r.owner_user_id.as_deref() == Some(user_id.0.as_str()))
            .ok_or(ApiError::NotFound("signing credential"))?;
        if queries::mark_deleted(conn, &row.id, now)? == 0 {
            return Err(ApiError::NotFound("signing credential"));
        }
        audit::record(
            conn,
            ctx,
            Action::SigningCredentialDeleted,
            "signing_credential",
            Some(&row.id),
            json!({"kind": row.kind, "certificate_sha256": row.cert_sha256}),
        )?;
        Ok(())
    })
}

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

fn locked(until: NaiveDateTime, now: NaiveDateTime) -> ApiError {
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
    let row = queries::find(conn, &credential_id.0)?
        .filter(|r| r.owner_user_id.as_deref() == Some(user_id.0.as_str()))
        .ok_or(ApiError::NotFound("signing credential"))?;
    let ctx = AuditContext {
        actor_id: Some(user_id.0.clone()),
        ..AuditContext::default()
    };
    open_row(conn, kek, &ctx, row, pin, now)
}

/// Unlocks the organisation seal of `unit_id` for a clerk of that unit (403 for anyone else).
pub fn unlock_seal(
    conn: &mut DbConn,
    kek: &Kek,
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
    let ctx = AuditContext {
        actor_id: Some(user.id.clone()),
        ..AuditContext::default()
    };
    open_row(conn, kek, &ctx, row, pin, now)
}

fn open_row(
    conn: &mut DbConn,
    kek: &Kek,
    ctx: &AuditContext,
    row: CredentialRow,
    pin: &str,
    now: NaiveDateTime,
) -> Result<Signer, ApiError> {
    if row.status()? != CredentialStatus::Active {
        return Err(ApiError::NotFound("signing credential"));
    }
    if row.kind()? != CredentialKind::Server {
        return Err(unprocessable(
            ErrorCode::CredentialNotUsable,
            "only a server credential signs here; a token signs on the holder's computer, a csc credential at its service",
        ));
    }
    if let Some(until) = row.locked_until.filter(|u| *u > now) {
        return Err(locked(until, now));
    }
    if pin.len() > SECRET_MAX_BYTES {
        return Err(ApiError::validation("pin", "is too long"));
    }
    let (cert, chain) = stored_certificates(&row)?;
    certs::check(&cert, &chain, &[], now)?;
    if row.kek_id.as_deref() != Some(kek.id().as_str()) {
        // Not the holder's fault and not a wrong PIN: the operator replaced the KEK file.
        return Err(ApiError::internal(anyhow::anyhow!(
            "credential {} was encrypted under another KEK than signing_kek_path holds",
            row.id
        )));
    }
    let sealed = Sealed {
        salt: row.key_salt.clone().unwrap_or_default(),
        nonce: row.key_nonce.clone().unwrap_or_default(),
        ciphertext: row.key_ciphertext.clone().unwrap_or_default(),
    };
    let owner = row.owner()?;
    // The slow derivation happens here, outside the write transaction.
    let opened = crypto::open(kek, pin, &crypto::aad(&row.id, &owner.binding()), &sealed);
    let attempt = db::write_tx(conn, |conn| record_attempt(conn, ctx, &row, &opened, now))?;
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
    let pkcs8 = opened.map_err(ApiError::internal)?;
    let key = PKey::private_key_from_pkcs8(pkcs8.expose()).map_err(ApiError::internal)?;
    drop(pkcs8);
    certs::check_key_matches(&cert, &key)?;
    let local = LocalKey::new(key)
        .map_err(|e| unprocessable(ErrorCode::SigningKeyInvalid, e.to_string()))?;
    Ok(Signer::new(cert, chain, Box::new(local)))
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
    if status != CredentialStatus::Active.as_str() {
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

/// Width and height of an acceptable signature or seal PNG: at most 512 KiB and
/// 2000×2000 pixels, and fully decodable (422 `signature_image_invalid` otherwise).
pub fn check_png(field: &str, bytes: &[u8]) -> Result<(u32, u32), ApiError> {
    let bad =
        |why: String| unprocessable(ErrorCode::SignatureImageInvalid, format!("{field}: {why}"));
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_IMAGE_BYTES as u64,
        });
    }
    // The header first: a huge canvas is refused before any pixel is decoded.
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let (width, height) = decoder
        .read_header_info()
        .map_err(|e| bad(format!("not a readable PNG: {e}")))?
        .size();
    if width == 0 || height == 0 || width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(bad(format!(
            "{width}×{height} pixels; at most {MAX_IMAGE_SIDE}×{MAX_IMAGE_SIDE} is accepted"
        )));
    }
    crate::signing::appearance::png_size(field, bytes).map_err(|e| bad(e.to_string()))
}

/// A PNG put in the file store by the handler (before the transaction that names it).
#[derive(Debug, Clone)]
pub struct StoredImage {
    pub sha256: String,
    pub size: u64,
    pub width: u32,
    pub height: u32,
}

fn image_row(owner: &Owner, image: &StoredImage, now: NaiveDateTime) -> ImageRow {
    let (owner_user_id, owner_unit_id) = match owner {
        Owner::User(u) => (Some(u.clone()), None),
        Owner::Unit(u) => (None, Some(u.clone())),
    };
    ImageRow {
        id: uuid::Uuid::new_v4().to_string(),
        owner_user_id,
        owner_unit_id,
        sha256: image.sha256.clone(),
        size: image.size as i64,
        width: image.width as i32,
        height: image.height as i32,
        updated_at: now,
    }
}

/// Sets the caller's handwritten-signature image.
pub fn set_signature_image(
    conn: &mut DbConn,
    ctx: &AuditContext,
    user_id: &UserId,
    image: &StoredImage,
    now: NaiveDateTime,
) -> Result<SignatureImage, ApiError> {
    let row = image_row(&Owner::User(user_id.0.clone()), image, now);
    db::write_tx(conn, |conn| {
        db::insert_blob_if_missing(conn, &image.sha256, image.size as i64, now)?;
        queries::put_image(conn, &row)?;
        audit::record(
            conn,
            ctx,
            Action::SignatureImageSet,
            "user",
            Some(&user_id.0),
            json!({"sha256": image.sha256, "width": image.width, "height": image.height}),
        )?;
        Ok::<_, ApiError>(())
    })?;
    Ok(row.into())
}

/// The signature (user) or seal (unit) image of an owner, 404 when none is set.
pub fn get_image(conn: &mut DbConn, owner: &Owner) -> Result<ImageRow, ApiError> {
    queries::find_image(conn, owner)?.ok_or(ApiError::NotFound("signature image"))
}

/// Sets (or replaces) the organisation seal of a unit: a `server` credential owned by the
/// unit plus the red seal image. The previous seal is deleted in the same transaction.
pub fn set_seal(
    conn: &mut DbConn,
    ctx: &AuditContext,
    keys: &Keys,
    unit_id: &UnitId,
    upload: &ServerUpload,
    image: &StoredImage,
    now: NaiveDateTime,
) -> Result<Seal, ApiError> {
    crate::accounts::queries::find_unit(conn, &unit_id.0)?.ok_or(ApiError::NotFound("unit"))?;
    let owner = Owner::Unit(unit_id.0.clone());
    let row = prepare_server(keys, &owner, upload, now)?;
    let image_row = image_row(&owner, image, now);
    db::write_tx(conn, |conn| {
        let replaced = queries::active_seal(conn, &unit_id.0)?;
        if let Some(old) = &replaced {
            queries::mark_deleted(conn, &old.id, now)?;
        }
        queries::insert(conn, &row)?;
        db::insert_blob_if_missing(conn, &image.sha256, image.size as i64, now)?;
        queries::put_image(conn, &image_row)?;
        audit::record(
            conn,
            ctx,
            Action::SealSet,
            "unit",
            Some(&unit_id.0),
            json!({
                "credential_id": row.id,
                "certificate_sha256": row.cert_sha256,
                "subject": row.subject,
                "replaced": replaced.map(|r| r.id),
                "image_sha256": image.sha256,
            }),
        )?;
        Ok::<_, ApiError>(())
    })?;
    Ok(Seal {
        credential: view(&row)?,
        image: image_row.into(),
    })
}
