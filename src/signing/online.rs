//! Asking a certificate's issuer, over the network, whether it is revoked: its OCSP responder
//! (from the Authority Information Access extension) first, else its CRL (from the CRL
//! distribution points). Only answers signed by the issuer's side count; an answer that cannot
//! be had or checked is `Unknown` with the reason, never a guess.

use openssl::hash::MessageDigest;
use openssl::ocsp::{
    OcspCertId, OcspCertStatus, OcspFlag, OcspRequest, OcspResponse, OcspResponseStatus,
};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{CrlStatus, X509Crl, X509VerifyResult, X509};
use std::time::Duration;

use super::http;

/// What the issuer's side said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Online {
    /// A verified OCSP response or CRL says the certificate is not revoked.
    Good,
    /// A verified OCSP response or CRL says it is revoked (since, and why, when they say).
    Revoked {
        since: Option<String>,
        reason: Option<String>,
    },
    /// No verified answer: no responder or distribution point named, none reachable, or an
    /// answer that does not check out.
    Unknown(String),
}

/// A verified answer with the bytes it came in, for embedding (PAdES B-LT).
#[derive(Debug, Clone)]
pub struct Evidence {
    /// What the answer says (never `Unknown`).
    pub status: Online,
    /// The DER OCSPResponse, when the answer came from the OCSP responder.
    pub ocsp: Option<Vec<u8>>,
    /// The DER CRL, when it came from a CRL distribution point.
    pub crl: Option<Vec<u8>>,
    /// Where it came from.
    pub url: String,
}

/// Largest CRL fetched.
const MAX_CRL: usize = 1 << 20;

/// Asks the OCSP responder, then the CRL distribution points, of `cert` (issued by one of
/// `chain`, which also holds what the responder's certificate chains to).
pub fn revocation_status(cert: &X509, chain: &[X509], timeout: Duration) -> Online {
    match revocation_evidence(cert, chain, timeout, &mut CrlCache::default()) {
        Ok(e) => e.status,
        Err(why) => Online::Unknown(why),
    }
}

/// CRLs already fetched in one run, by URL: a CA's CRL is fetched once for all it covers.
#[derive(Default)]
pub struct CrlCache {
    by_url: Vec<(String, Vec<u8>)>,
}

/// As [`revocation_status`], keeping the verified answer's bytes; the error says why there is
/// no verified answer (nothing named, nothing reachable, nothing that checks out).
pub fn revocation_evidence(
    cert: &X509,
    chain: &[X509],
    timeout: Duration,
    cache: &mut CrlCache,
) -> Result<Evidence, String> {
    let Some(issuer) = chain
        .iter()
        .find(|c| c.issued(cert) == X509VerifyResult::OK)
    else {
        return Err("the issuer's certificate is not in the chain".into());
    };
    let mut why = Vec::new();
    match ocsp(cert, issuer, chain, timeout) {
        Ok(Some((status, raw, url))) => {
            return Ok(Evidence {
                status,
                ocsp: Some(raw),
                crl: None,
                url,
            })
        }
        Ok(None) => why.push("no OCSP responder named".to_string()),
        Err(e) => why.push(format!("OCSP: {e}")),
    }
    match crl(cert, issuer, timeout, cache) {
        Ok(Some((status, raw, url))) => {
            return Ok(Evidence {
                status,
                ocsp: None,
                crl: Some(raw),
                url,
            })
        }
        Ok(None) => why.push("no CRL distribution point named".to_string()),
        Err(e) => why.push(format!("CRL: {e}")),
    }
    Err(why.join("; "))
}

fn ocsp(
    cert: &X509,
    issuer: &X509,
    chain: &[X509],
    timeout: Duration,
) -> Result<Option<(Online, Vec<u8>, String)>, String> {
    let urls = cert.ocsp_responders().map_err(|e| e.to_string())?;
    let Some(url) = urls.iter().map(|u| u.to_string()).next() else {
        return Ok(None);
    };
    let e = |e: openssl::error::ErrorStack| e.to_string();
    let id = || OcspCertId::from_cert(MessageDigest::sha1(), cert, issuer).map_err(e);
    let mut req = OcspRequest::new().map_err(e)?;
    req.add_id(id()?).map_err(e)?;
    let body = req.to_der().map_err(e)?;
    let raw = http::post_accepting(
        &url,
        "application/ocsp-request",
        "application/ocsp-response",
        &body,
        timeout,
    )?;
    let resp = OcspResponse::from_der(&raw).map_err(e)?;
    if resp.status() != OcspResponseStatus::SUCCESSFUL {
        return Err(format!(
            "the responder at {url} answered {:?}",
            resp.status()
        ));
    }
    let basic = resp.basic().map_err(e)?;
    let mut store = X509StoreBuilder::new().map_err(e)?;
    for c in chain {
        store.add_cert(c.clone()).map_err(e)?;
    }
    let store = store.build();
    let mut certs = Stack::new().map_err(e)?;
    for c in chain {
        certs.push(c.clone()).map_err(e)?;
    }
    basic
        .verify(&certs, &store, OcspFlag::empty())
        .map_err(|_| format!("the response of {url} is not signed by the issuer's side"))?;
    let id = id()?;
    let status = basic
        .find_status(&id)
        .ok_or_else(|| format!("the response of {url} is not about this certificate"))?;
    status
        .check_validity(300, None)
        .map_err(|_| format!("the response of {url} is out of date"))?;
    let answer = match status.status {
        OcspCertStatus::GOOD => Online::Good,
        OcspCertStatus::REVOKED => Online::Revoked {
            since: status.revocation_time.map(|t| t.to_string()),
            reason: Some(crl_reason(Some(i64::from(status.reason.as_raw())))),
        },
        _ => {
            return Err(format!(
                "the responder at {url} does not know the certificate"
            ))
        }
    };
    Ok(Some((answer, raw, url)))
}

fn crl(
    cert: &X509,
    issuer: &X509,
    timeout: Duration,
    cache: &mut CrlCache,
) -> Result<Option<(Online, Vec<u8>, String)>, String> {
    let Some(points) = cert.crl_distribution_points() else {
        return Ok(None);
    };
    let urls: Vec<String> = points
        .iter()
        .filter_map(|p| p.distpoint())
        .filter_map(|d| d.fullname())
        .flat_map(|names| names.iter().filter_map(|n| n.uri().map(str::to_string)))
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .collect();
    let Some(url) = urls.first() else {
        return Ok(None);
    };
    let raw = match cache.by_url.iter().find(|(u, _)| u == url) {
        Some((_, raw)) => raw.clone(),
        None => {
            let raw = http::get(url, "application/pkix-crl", timeout)?;
            cache.by_url.push((url.clone(), raw.clone()));
            raw
        }
    };
    if raw.len() > MAX_CRL {
        return Err(format!("the CRL at {url} is larger than {MAX_CRL} bytes"));
    }
    let crl = X509Crl::from_der(&raw)
        .or_else(|_| X509Crl::from_pem(&raw))
        .map_err(|_| format!("the CRL at {url} cannot be read"))?;
    // Embedded as DER whatever the server sent.
    let der = crl.to_der().map_err(|e| e.to_string())?;
    let key = issuer.public_key().map_err(|e| e.to_string())?;
    if !crl.verify(&key).unwrap_or(false) {
        return Err(format!("the CRL at {url} is not signed by the issuer"));
    }
    let answer = match crl.get_by_cert(cert) {
        CrlStatus::Revoked(r) => Online::Revoked {
            since: Some(r.revocation_date().to_string()),
            reason: r
                .extension::<openssl::x509::ReasonCode>()
                .ok()
                .flatten()
                .map(|(_, reason)| crl_reason(reason.get_i64().ok())),
        },
        CrlStatus::NotRevoked | CrlStatus::RemoveFromCrl(_) => Online::Good,
    };
    Ok(Some((answer, der, url.clone())))
}

/// RFC 5280's name of a CRL reason code.
fn crl_reason(code: Option<i64>) -> String {
    let name = match code {
        Some(0) => "unspecified",
        Some(1) => "keyCompromise",
        Some(2) => "cACompromise",
        Some(3) => "affiliationChanged",
        Some(4) => "superseded",
        Some(5) => "cessationOfOperation",
        Some(6) => "certificateHold",
        Some(8) => "removeFromCRL",
        Some(9) => "privilegeWithdrawn",
        Some(10) => "aACompromise",
        _ => "unknown",
    };
    name.to_string()
}
