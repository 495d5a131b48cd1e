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

#[cfg(test)]
mod tests {
    use super::openssl_time;

    #[test]
    fn parses_openssl_time_display() {
        let t = openssl_time("Nov  7 19:00:01 2026 GMT").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-07T19:00:01+00:00");
    }
}
