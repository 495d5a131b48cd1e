//! The checks a signing certificate passes when its credential is added and again at each use:
//! readable, valid now, its key usage allows signatures, it chains to the trust roots when the
//! office set them, and (for keys held here) it matches the private key. Free of HTTP and database.

use chrono::NaiveDateTime;
use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use crate::error::{ApiError, ErrorCode};

/// What a certificate says about itself, as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    pub subject: String,
    pub issuer: String,
    /// Serial number, upper-case hex.
    pub serial: String,
    pub not_before: NaiveDateTime,
    pub not_after: NaiveDateTime,
    /// Lower-case hex SHA-256 of the certificate's DER.
    pub sha256: String,
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::Unprocessable {
        code,
        message: message.into(),
    }
}

/// How long an OCSP responder or CRL distribution point may take to answer.
const REVOCATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Asks the certificate's issuer (OCSP from its AIA, else the CRL from its distribution
/// points) whether it is revoked: revoked → 422 `certificate_revoked` with the time and the
/// reason; no answer to be had (nothing named, unreachable, unverifiable) → allowed, logged.
/// The issuer is looked for in `chain` and `roots`.
pub fn check_revocation(cert: &X509, chain: &[X509], roots: &[X509]) -> Result<(), ApiError> {
    use crate::signing::online::{revocation_status, Online};
    let known: Vec<X509> = chain.iter().chain(roots).cloned().collect();
    match revocation_status(cert, &known, REVOCATION_TIMEOUT) {
        Online::Good => Ok(()),
        Online::Revoked { since, reason } => Err(refuse(
            ErrorCode::CertificateRevoked,
            format!(
                "the certificate was revoked{}{} by its issuer",
                since.map(|s| format!(" on {s}")).unwrap_or_default(),
                reason.map(|r| format!(" ({r})")).unwrap_or_default(),
            ),
        )),
        Online::Unknown(why) => {
            tracing::warn!(reason = %why, "revocation of a signing certificate could not be checked");
            Ok(())
        }
    }
}

fn to_naive(t: &Asn1TimeRef) -> Result<NaiveDateTime, ApiError> {
    let epoch = Asn1Time::from_unix(0).map_err(ApiError::internal)?;
    let diff = epoch.diff(t).map_err(ApiError::internal)?;
    let secs = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.naive_utc())
        .ok_or_else(|| {
            refuse(
                ErrorCode::CertificateUnreadable,
                "the validity dates are out of range",
            )
        })
}

fn name_line(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let value = e.data().to_string().unwrap_or_default();
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The facts of a certificate.
pub fn facts(cert: &X509) -> Result<CertFacts, ApiError> {
    let der = cert.to_der().map_err(ApiError::internal)?;
    let serial = cert
        .serial_number()
        .to_bn()
        .and_then(|b| b.to_hex_str().map(|s| s.to_string()))
        .map_err(ApiError::internal)?;
    Ok(CertFacts {
        subject: crate::signing::verify::subject(cert),
        issuer: name_line(cert.issuer_name()),
        serial,
        not_before: to_naive(cert.not_before())?,
        not_after: to_naive(cert.not_after())?,
        sha256: crate::audit::service::hex(&openssl::sha::sha256(&der)),
    })
}

/// Checks `cert` (with `chain` as helpers) at `now` against `roots` (none: the trust check is
/// skipped, as the office has not named its roots); returns its facts.
pub fn check(
    cert: &X509,
    chain: &[X509],
    roots: &[X509],
    now: NaiveDateTime,
) -> Result<CertFacts, ApiError> {
    let f = facts(cert)?;
    if now < f.not_before {
        return Err(refuse(
            ErrorCode::CertificateNotYetValid,
            format!("the certificate is valid only from {} (UTC)", f.not_before),
        ));
    }
    if now > f.not_after {
        return Err(refuse(
            ErrorCode::CertificateExpired,
            format!("the certificate expired on {} (UTC)", f.not_after),
        ));
    }
    if !crate::signing::verify::key_usage_allows_signing(cert) {
        return Err(refuse(
            ErrorCode::CertificateNotForSigning,
            "the certificate's key usage allows neither digitalSignature nor nonRepudiation",
        ));
    }
    if !roots.is_empty() {
        crate::signing::verify::chains_to(cert, chain, roots, now.and_utc().timestamp()).map_err(
            |why| {
                refuse(
                    ErrorCode::CertificateUntrusted,
                    format!("the certificate does not chain to the office's trust roots: {why}"),
                )
            },
        )?;
    }
    Ok(f)
}

/// Fails with 422 `key_certificate_mismatch` unless `key` is the certificate's private key.
pub fn check_key_matches(cert: &X509, key: &PKey<Private>) -> Result<(), ApiError> {
    let public = cert.public_key().map_err(|e| {
        refuse(
            ErrorCode::CertificateUnreadable,
            format!("the certificate's public key cannot be read: {e}"),
        )
    })?;
    if public.public_eq(key) {
        Ok(())
    } else {
        Err(refuse(
            ErrorCode::KeyCertificateMismatch,
            "the private key does not belong to the certificate",
        ))
    }
}

/// A certificate from DER or PEM bytes (422 `certificate_unreadable` otherwise).
pub fn read_certificate(bytes: &[u8]) -> Result<X509, ApiError> {
    let parsed = if bytes.starts_with(b"-----BEGIN") {
        X509::from_pem(bytes)
    } else {
        X509::from_der(bytes)
    };
    parsed.map_err(|_| {
        refuse(
            ErrorCode::CertificateUnreadable,
            "the file is not an X.509 certificate (PEM or DER)",
        )
    })
}

/// Certificates stored as one blob: each DER prefixed with its length (4 bytes, big-endian).
pub fn pack_chain(chain: &[X509]) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    for c in chain {
        let der = c.to_der().map_err(ApiError::internal)?;
        let len = u32::try_from(der.len()).map_err(ApiError::internal)?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&der);
    }
    Ok(out)
}

/// The inverse of [`pack_chain`]; a malformed blob is an internal error (the server wrote it).
pub fn unpack_chain(mut bytes: &[u8]) -> Result<Vec<X509>, ApiError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (head, rest) = bytes
            .split_first_chunk::<4>()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("stored chain: cut length")))?;
        let len = u32::from_be_bytes(*head) as usize;
        if rest.len() < len {
            return Err(ApiError::internal(anyhow::anyhow!(
                "stored chain: cut certificate"
            )));
        }
        let (der, rest) = rest.split_at(len);
        out.push(X509::from_der(der).map_err(ApiError::internal)?);
        bytes = rest;
    }
    Ok(out)
}
