//! Embedded revocation data (DSS /OCSPs and /CRLs, adbe-revocationInfoArchival) about the
//! signer's certificate. Nothing is fetched: only what the file carries is read. An OCSP
//! response counts only if its signature chains to the trust roots; a CRL only if the signer's
//! issuer signed it.

use super::der;
use chrono::{DateTime, NaiveDateTime, Utc};
use openssl::hash::MessageDigest;
use openssl::ocsp::{OcspCertId, OcspCertStatus, OcspFlag, OcspResponse, OcspResponseStatus};
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::{CrlStatus, X509Crl, X509};
use serde::Serialize;

/// What the embedded, verified revocation data says about the signer's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignerRevocation {
    /// A verified OCSP response or CRL says the certificate is not revoked.
    Good,
    /// A verified OCSP response or CRL says it is revoked.
    Revoked,
    /// No verified data about this certificate is embedded.
    Unknown,
}

/// The outcome for one signer certificate.
pub(crate) struct Outcome {
    pub status: SignerRevocation,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Some embedded response or CRL is about this certificate (verified or not).
    pub covers_signer: bool,
}

/// OCSP responses and CRLs (DER) from an adbe-revocationInfoArchival attribute value.
pub(crate) fn adbe_archival(value: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut ocsps, mut crls) = (Vec::new(), Vec::new());
    let Ok((seq, _)) = der::expect(value, 0x30, "RevocationInfoArchival") else {
        return (ocsps, crls);
    };
    for part in der::children(seq.value).unwrap_or_default() {
        let Ok((list, _)) = der::expect(part.value, 0x30, "list") else {
            continue;
        };
        let items = der::children(list.value).unwrap_or_default();
        let raw = items.iter().map(|i| i.raw.to_vec());
        match part.tag {
            0xa0 => crls.extend(raw),
            0xa1 => ocsps.extend(raw),
            _ => {}
        }
    }
    (ocsps, crls)
}

/// Parses openssl's time display ("Nov 27 19:00:00 2026 GMT").
fn openssl_time(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim_end_matches(" GMT");
    NaiveDateTime::parse_from_str(t, "%b %e %H:%M:%S %Y")
        .ok()
        .map(|n| n.and_utc())
}

fn store_and_stack(
    roots: &[X509],
    helpers: &[X509],
) -> Result<(X509Store, Stack<X509>), openssl::error::ErrorStack> {
    let mut b = X509StoreBuilder::new()?;
    for r in roots {
        b.add_cert(r.clone())?;
    }
    let mut stack = Stack::new()?;
    for h in helpers {
        stack.push(h.clone())?;
    }
    Ok((b.build(), stack))
}

/// Records one verified answer; "revoked" wins over "good".
fn verdict(out: &mut Outcome, revoked: bool, at: Option<DateTime<Utc>>) {
    if revoked {
        out.status = SignerRevocation::Revoked;
        out.revoked_at = at;
    } else if out.status == SignerRevocation::Unknown {
        out.status = SignerRevocation::Good;
    }
}

/// Checks the signer certificate against the embedded data. `helpers` are the certificates
/// known from the CMS and the DSS (to find the issuer and OCSP responder).
pub(crate) fn check(
    cert: &X509,
    helpers: &[X509],
    roots: &[X509],
    ocsps: &[&[u8]],
    crls: &[&[u8]],
) -> Outcome {
    let mut out = Outcome {
        status: SignerRevocation::Unknown,
        revoked_at: None,
        covers_signer: false,
    };
    let issuer_name = cert.issuer_name().to_der().ok();
    let issuer = helpers
        .iter()
        .chain(roots.iter())
        .find(|h| h.subject_name().to_der().ok() == issuer_name);
    if let Some(issuer) = issuer {
        let Ok((store, stack)) = store_and_stack(roots, helpers) else {
            return out;
        };
        for der_resp in ocsps {
            let Ok(resp) = OcspResponse::from_der(der_resp) else {
                continue;
            };
            if resp.status() != OcspResponseStatus::SUCCESSFUL {
                continue;
            }
            let (Ok(basic), Ok(id)) = (
                resp.basic(),
                OcspCertId::from_cert(MessageDigest::sha1(), cert, issuer),
            ) else {
                continue;
            };
            let Some(status) = basic.find_status(&id) else {
                continue;
            };
            out.covers_signer = true;
            let trusted =
                !roots.is_empty() && basic.verify(&stack, &store, OcspFlag::empty()).is_ok();
            if trusted {
                let revoked = status.status == OcspCertStatus::REVOKED;
                let at = status
                    .revocation_time
                    .and_then(|t| openssl_time(&t.to_string()));
                verdict(&mut out, revoked, at);
            }
        }
    }
    let key = issuer.and_then(|i| i.public_key().ok());
    for der_crl in crls {
        let Ok(crl) = X509Crl::from_der(der_crl) else {
            continue;
        };
        if crl.issuer_name().to_der().ok() != issuer_name {
            continue;
        }
        out.covers_signer = true;
        let signed_by_issuer = key.as_ref().is_some_and(|k| crl.verify(k).unwrap_or(false));
        if signed_by_issuer {
            match crl.get_by_cert(cert) {
                CrlStatus::Revoked(r) => {
                    let at = openssl_time(&r.revocation_date().to_string());
                    verdict(&mut out, true, at)
                }
                CrlStatus::NotRevoked | CrlStatus::RemoveFromCrl(_) => {
                    verdict(&mut out, false, None)
                }
            }
        }
    }
    out
}

/// What the embedded data lacks to validate `cert`'s chain later, without fetching anything:
/// each certificate from `cert` up to a trust root or a self-signed certificate must have a
/// verified answer saying it is good (OCSP responders marked no-check excepted). Empty: none.
pub(crate) fn chain_gaps(
    cert: &X509,
    helpers: &[X509],
    roots: &[X509],
    ocsps: &[&[u8]],
    crls: &[&[u8]],
) -> Vec<String> {
    use openssl::x509::X509VerifyResult;
    let mut gaps = Vec::new();
    let mut current = cert.clone();
    // A chain longer than this is a loop or nonsense.
    for _ in 0..16 {
        let is_root = roots.iter().any(|r| r == &current);
        if is_root || current.issued(&current) == X509VerifyResult::OK {
            return gaps;
        }
        let subject = super::chain::subject(&current);
        if !has_ocsp_nocheck(&current) {
            match check(&current, helpers, roots, ocsps, crls).status {
                SignerRevocation::Good => {}
                SignerRevocation::Revoked => gaps.push(format!("{subject} is revoked")),
                SignerRevocation::Unknown => {
                    gaps.push(format!("no verified revocation data for {subject}"))
                }
            }
        }
        let Some(issuer) = helpers
            .iter()
            .chain(roots)
            .find(|c| c.issued(&current) == X509VerifyResult::OK)
        else {
            gaps.push(format!("the issuer of {subject} is not in the file"));
            return gaps;
        };
        current = issuer.clone();
    }
    gaps.push("the certificate chain is too long".into());
    gaps
}

/// The certificates a DER OCSPResponse carries (normally the responder's): what its
/// signature needs beside the issuer's chain. Unreadable parts give none.
pub(crate) fn ocsp_response_certificates(raw: &[u8]) -> Vec<X509> {
    let walk = || -> Option<Vec<X509>> {
        let (resp, _) = der::expect(raw, 0x30, "OCSPResponse").ok()?;
        let bytes = der::children(resp.value)
            .ok()?
            .into_iter()
            .find(|t| t.tag == 0xa0)?;
        let (rb, _) = der::expect(bytes.value, 0x30, "ResponseBytes").ok()?;
        let octets = der::children(rb.value).ok()?.into_iter().nth(1)?;
        let (basic, _) = der::expect(octets.value, 0x30, "BasicOCSPResponse").ok()?;
        let certs = der::children(basic.value)
            .ok()?
            .into_iter()
            .find(|t| t.tag == 0xa0)?;
        let (list, _) = der::expect(certs.value, 0x30, "certs").ok()?;
        Some(
            der::children(list.value)
                .ok()?
                .iter()
                .filter_map(|c| X509::from_der(c.raw).ok())
                .collect(),
        )
    };
    walk().unwrap_or_default()
}

/// Whether the certificate carries id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1): an OCSP
/// responder's certificate that needs no revocation check of its own.
pub(crate) fn has_ocsp_nocheck(cert: &X509) -> bool {
    // 1.3.6.1.5.5.7.48.1.5
    const OCSP_NOCHECK: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x05];
    let Ok(bytes) = cert.to_der() else {
        return false;
    };
    let walk = || -> Option<bool> {
        let (c, _) = der::expect(&bytes, 0x30, "Certificate").ok()?;
        let (tbs, _) = der::expect(c.value, 0x30, "TBSCertificate").ok()?;
        let exts = der::children(tbs.value)
            .ok()?
            .into_iter()
            .find(|t| t.tag == 0xa3)?;
        let (list, _) = der::expect(exts.value, 0x30, "Extensions").ok()?;
        let found = der::children(list.value).ok()?.iter().any(|ext| {
            der::children(ext.value)
                .ok()
                .and_then(|parts| parts.first().map(|p| p.value == OCSP_NOCHECK))
                .unwrap_or(false)
        });
        Some(found)
    };
    walk().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::openssl_time;

    #[test]
    fn parses_openssl_time_display() {
        let t = openssl_time("Nov  7 19:00:01 2026 GMT").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-07T19:00:01+00:00");
    }
}
