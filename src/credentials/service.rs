//! Rules and transactions of signing credentials: adding (`server`, `token`, `csc`), listing,
//! deleting, the unit seal; unlocking with the PIN (`unlock.rs`) and the images (`images.rs`)
//! are re-exported here, so callers use `credentials::service::…` for all of them. The slow
//! PIN derivation runs before the write transaction, never inside it.

use super::certs::{self, CertFacts};
use super::crypto::{self, Kek};
use super::model::{
    CredentialId, CredentialKind, CredentialRow, CredentialStatus, CscConfig, IssueRequest, Owner,
    Seal,
};
use super::queries;
use super::Credential;
use crate::accounts::{UnitId, UserId};
use crate::audit::model::{Action, AuditContext};
use crate::audit::service as audit;
use crate::db::{self, DbConn};
use crate::error::{ApiError, ErrorCode};
use crate::signing::LocalKey;
use chrono::NaiveDateTime;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use serde_json::json;

pub use super::images::{
    check_png, get_image, set_signature_image, StoredImage, MAX_IMAGE_BYTES, MAX_IMAGE_SIDE,
};
pub use super::pin::{change_pin, PinChange};
pub use super::unlock::{unlock, unlock_seal, PIN_LOCK_MINUTES, PIN_MAX_FAILURES};

/// Shortest accepted PIN, in characters.
pub const PIN_MIN_CHARS: usize = 6;
/// Longest accepted PIN or password, in bytes (bounds the work of the key derivation).
pub const SECRET_MAX_BYTES: usize = 256;
/// Largest PKCS#12 / PEM / certificate upload.
pub const MAX_CREDENTIAL_FILE_BYTES: usize = 64 * 1024;
/// Longest label, in characters.
const LABEL_MAX_CHARS: usize = 200;

pub(super) fn unprocessable(code: ErrorCode, message: impl Into<String>) -> ApiError {
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
    check_new_pin_in("pin", pin)
}

/// A new signing PIN given in `field`: at least 6 characters, at most 256 bytes.
pub fn check_new_pin_in(field: &str, pin: &str) -> Result<(), ApiError> {
    if pin.len() > SECRET_MAX_BYTES {
        return Err(ApiError::validation(
            field,
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

/// The secrets the service needs: the KEK, the office's trust roots and its own CA.
pub struct Keys<'a> {
    pub kek: &'a Kek,
    pub trust_roots: &'a [X509],
    /// `office_ca_path`, when set: what [`issue_for_user`] issues from.
    pub office_ca: Option<&'a super::issue::OfficeCa>,
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
    seal_material(keys, owner, &m, label, &upload.pin, now)
}

/// Checks a key and its certificate as every `server` credential is checked, and encrypts the
/// key under the KEK and the PIN: a row ready to insert. Uploads and the office CA's
/// issuance both come through here, so they are kept exactly alike.
fn seal_material(
    keys: &Keys,
    owner: &Owner,
    m: &Material,
    label: String,
    pin: &str,
    now: NaiveDateTime,
) -> Result<CredentialRow, ApiError> {
    let facts = certs::check(&m.cert, &m.chain, keys.trust_roots, now)?;
    certs::check_revocation(&m.cert, &m.chain, keys.trust_roots)?;
    // Only keys the signing engine can use are kept (RSA ≥ 2048, P-256, P-384).
    LocalKey::new(m.key.clone())
        .map_err(|e| unprocessable(ErrorCode::SigningKeyInvalid, e.to_string()))?;
    let pkcs8 = crypto::Secret::new(m.key.private_key_to_pkcs8().map_err(ApiError::internal)?);
    let id = uuid::Uuid::new_v4().to_string();
    let sealed = crypto::seal(
        keys.kek,
        pin,
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
        kind,
        label,
        status: CredentialStatus::Active,
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
        kind: row.kind,
        label: row.label.clone(),
        status: row.status,
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

/// Issues a `server` credential to `user_id` from the office's CA (admin; closed deployments):
/// a new RSA-2048 key, a certificate naming the holder (full name, position, unit,
/// organisation) for signatures only, kept encrypted under the KEK and the PIN the admin sets
/// exactly as an uploaded one. 404 for an unknown user, 422 for an inactive one or a weak PIN,
/// 409 `office_ca_not_configured` without `office_ca_path`. Audited
/// `signing_credential.issued` (and the credential is the holder's, as if they had added it).
pub fn issue_for_user(
    conn: &mut DbConn,
    ctx: &AuditContext,
    keys: &Keys,
    user_id: &UserId,
    req: &IssueRequest,
    now: NaiveDateTime,
) -> Result<Credential, ApiError> {
    let label = check_label(req.label.as_deref().unwrap_or("Chứng thư số của cơ quan"))?;
    check_new_pin(&req.pin)?;
    let user =
        crate::accounts::queries::find_user(conn, &user_id.0)?.ok_or(ApiError::NotFound("user"))?;
    let Some(ca) = keys.office_ca else {
        return Err(ApiError::conflict(
            ErrorCode::OfficeCaNotConfigured,
            "this server issues no certificates: office_ca_path (the office's own CA) is not set",
        ));
    };
    if !user.active {
        return Err(ApiError::validation("id", "the user is deactivated"));
    }
    let units = crate::accounts::queries::units_by_id(conn)?;
    let holder = holder_of(&user, &units);
    let key = super::issue::new_key().map_err(ApiError::internal)?;
    let cert = super::issue::issue(ca, &holder, &key).map_err(ApiError::internal)?;
    let m = Material {
        key,
        cert,
        chain: ca.chain(),
    };
    let owner = Owner::User(user.id.clone());
    let row = seal_material(keys, &owner, &m, label, &req.pin, now)?;
    let out = view(&row)?;
    db::write_tx(conn, |conn| {
        queries::insert(conn, &row)?;
        audit::record(
            conn,
            ctx,
            Action::SigningCredentialIssued,
            "signing_credential",
            Some(&row.id),
            json!({
                "holder_id": user.id,
                "kind": row.kind,
                "label": row.label,
                "certificate_sha256": row.cert_sha256,
                "subject": row.subject,
                "serial": row.serial,
                "issuer": row.issuer,
            }),
        )?;
        Ok::<_, ApiError>(())
    })?;
    Ok(out)
}

/// The holder a certificate names: the user's unit, and the top of its tree as the organisation.
fn holder_of(
    user: &crate::accounts::model::UserRow,
    units: &std::collections::HashMap<String, crate::accounts::model::UnitRow>,
) -> super::issue::Holder {
    let unit = user.unit_id.as_deref().and_then(|u| units.get(u));
    let mut top = unit;
    // A unit tree has no cycles (accounts refuses them); the bound is a guard all the same.
    for _ in 0..64 {
        match top
            .and_then(|t| t.parent_id.as_deref())
            .and_then(|p| units.get(p))
        {
            Some(parent) => top = Some(parent),
            None => break,
        }
    }
    let organisation = top.map(|t| t.name.clone()).unwrap_or_default();
    super::issue::Holder {
        full_name: user.full_name.clone(),
        position_title: user.position_title.clone(),
        unit: unit
            .filter(|u| top.is_some_and(|t| t.id != u.id))
            .map(|u| u.name.clone()),
        organisation,
        email: user.email.clone(),
    }
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
    certs::check_revocation(&cert, &[], trust_roots)?;
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
    match (&config.auth, &config.username) {
        (super::model::CscAuth::Basic, Some(name)) => {
            crate::text::check_name("username", name)?;
            if name.trim().is_empty() || name.len() > 200 || name.contains(':') {
                return Err(ApiError::validation(
                    "username",
                    "must hold 1 to 200 bytes, without ':'",
                ));
            }
        }
        (super::model::CscAuth::Basic, None) => {
            return Err(ApiError::validation(
                "username",
                "is required with auth: basic (the holder's account at the service)",
            ))
        }
        (_, Some(_)) => {
            return Err(ApiError::validation(
                "username",
                "is only taken with auth: basic",
            ))
        }
        (_, None) => {}
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
    let image_row = super::images::image_row(&owner, image, now);
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
