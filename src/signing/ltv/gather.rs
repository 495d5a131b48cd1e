//! Gathering validation data: for every certificate a signature or timestamp relies on, its
//! issuer's chain and a fresh, verified OCSP response (else CRL) from the URLs the certificate
//! names. A certificate whose status cannot be had is an error, never a hole in the DSS.

use std::time::Duration;

use openssl::x509::{X509VerifyResult, X509};

use crate::signing::online::{self, CrlCache, Online};
use crate::signing::verify::{certificate_subject, has_ocsp_nocheck, ocsp_response_certificates};
use crate::signing::SigningError;

/// The validation data to embed (DER each).
#[derive(Default)]
pub(super) struct Gathered {
    pub certs: Vec<Vec<u8>>,
    pub ocsps: Vec<Vec<u8>>,
    pub crls: Vec<Vec<u8>>,
}

fn der_of(c: &X509) -> Result<Vec<u8>, SigningError> {
    c.to_der()
        .map_err(|e| SigningError::Internal(format!("certificate DER: {e}")))
}

fn self_signed(c: &X509) -> bool {
    c.issued(c) == X509VerifyResult::OK
}

/// Walks from each of `leaves` up to a self-signed certificate through `pool` (and the
/// certificates OCSP responses bring), fetching revocation data for every certificate on the
/// way but the roots and OCSP responders marked no-check.
pub(super) fn gather(
    leaves: &[X509],
    pool: &[X509],
    timeout: Duration,
) -> Result<Gathered, SigningError> {
    let mut pool: Vec<X509> = pool.to_vec();
    let mut out = Gathered::default();
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut todo: Vec<X509> = leaves.iter().rev().cloned().collect();
    let mut cache = CrlCache::default();
    while let Some(cert) = todo.pop() {
        let der = der_of(&cert)?;
        if seen.contains(&der) {
            continue;
        }
        seen.push(der.clone());
        out.certs.push(der);
        if self_signed(&cert) {
            continue;
        }
        let subject = certificate_subject(&cert);
        let issuer = pool
            .iter()
            .find(|c| c.issued(&cert) == X509VerifyResult::OK)
            .cloned()
            .ok_or_else(|| {
                SigningError::RevocationUnavailable(format!(
                    "the issuer of {subject} is neither in the file nor in the signer's chain"
                ))
            })?;
        todo.push(issuer);
        if has_ocsp_nocheck(&cert) {
            continue;
        }
        let evidence = online::revocation_evidence(&cert, &pool, timeout, &mut cache)
            .map_err(|why| SigningError::RevocationUnavailable(format!("{subject}: {why}")))?;
        match evidence.status {
            Online::Good => {}
            Online::Revoked { since, reason } => {
                return Err(SigningError::CertificateRevoked {
                    subject,
                    since: since.unwrap_or_else(|| "an unknown time".into()),
                    reason: reason.unwrap_or_else(|| "not given".into()),
                })
            }
            Online::Unknown(why) => {
                return Err(SigningError::RevocationUnavailable(format!(
                    "{subject}: {why}"
                )))
            }
        }
        if let Some(raw) = evidence.ocsp {
            // The responder's certificate is validation data too, and needs its own status
            // unless it is marked no-check.
            for responder in ocsp_response_certificates(&raw) {
                if !pool.iter().any(|p| p == &responder) {
                    pool.push(responder.clone());
                }
                todo.push(responder);
            }
            push_new(&mut out.ocsps, raw);
        }
        if let Some(raw) = evidence.crl {
            push_new(&mut out.crls, raw);
        }
    }
    Ok(out)
}

fn push_new(list: &mut Vec<Vec<u8>>, item: Vec<u8>) {
    if !list.contains(&item) {
        list.push(item);
    }
}
