//! Certificate path validation against the caller's trust roots (openssl X509Store).

use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::{X509VerifyFlags, X509VerifyParam};
use openssl::x509::{X509PurposeId, X509StoreContext, X509};

/// Outcome of building and checking a path from a certificate to a trust root.
#[derive(Debug, Clone)]
pub(crate) struct ChainCheck {
    pub trusted: bool,
    pub error: Option<String>,
    /// Subjects from the certificate up to the trust anchor, when a path was built.
    pub path: Vec<String>,
}

/// Validates `cert` at `at` (unix seconds; `None` = now) using `intermediates` as untrusted
/// helpers. `timestamping` additionally requires the time-stamping extended key usage.
pub(crate) fn check(
    cert: &X509,
    intermediates: &[X509],
    roots: &[X509],
    at: Option<i64>,
    timestamping: bool,
) -> ChainCheck {
    match run(cert, intermediates, roots, at, timestamping) {
        Ok(c) => c,
        Err(e) => ChainCheck {
            trusted: false,
            error: Some(format!("certificate path check failed: {e}")),
            path: Vec::new(),
        },
    }
}

fn run(
    cert: &X509,
    intermediates: &[X509],
    roots: &[X509],
    at: Option<i64>,
    timestamping: bool,
) -> Result<ChainCheck, openssl::error::ErrorStack> {
    if roots.is_empty() {
        return Ok(ChainCheck {
            trusted: false,
            error: Some("no trust roots were given".into()),
            path: Vec::new(),
        });
    }
    let mut builder = X509StoreBuilder::new()?;
    for r in roots {
        builder.add_cert(r.clone())?;
    }
    let mut param = X509VerifyParam::new()?;
    // A trusted intermediate (e.g. a ministry's sub-CA given alone) is a valid anchor.
    param.set_flags(X509VerifyFlags::PARTIAL_CHAIN)?;
    if let Some(t) = at {
        param.set_time(t as _);
    }
    if timestamping {
        param.set_purpose(X509PurposeId::TIMESTAMP_SIGN)?;
    }
    builder.set_param(&param)?;
    let store = builder.build();
    let mut chain = Stack::new()?;
    for c in intermediates {
        chain.push(c.clone())?;
    }
    let mut ctx = X509StoreContext::new()?;
    ctx.init(&store, cert, &chain, |c| {
        let ok = c.verify_cert()?;
        let path = c
            .chain()
            .map(|s| s.iter().map(subject).collect())
            .unwrap_or_default();
        Ok(ChainCheck {
            trusted: ok,
            error: (!ok).then(|| c.error().error_string().to_string()),
            path,
        })
    })
}

/// The full subject as a one-line string, most significant part first (C=…, O=…, CN=…).
pub(crate) fn subject(cert: &openssl::x509::X509Ref) -> String {
    cert.subject_name()
        .entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let value = e.data().to_string().unwrap_or_default();
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The subject common name, if any.
pub(crate) fn common_name(cert: &openssl::x509::X509Ref) -> Option<String> {
    cert.subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok())
}

/// Whether the certificate may make signatures: without a key usage extension anything goes;
/// with one, digitalSignature or nonRepudiation must be set.
pub(crate) fn key_usage_allows_signing(cert: &X509) -> bool {
    use super::der;
    const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f]; // 2.5.29.15
    let Ok(bytes) = cert.to_der() else {
        return false;
    };
    let usage = || -> Option<Option<u8>> {
        let (c, _) = der::expect(&bytes, 0x30, "Certificate").ok()?;
        let (tbs, _) = der::expect(c.value, 0x30, "TBSCertificate").ok()?;
        let Some(exts) = der::children(tbs.value)
            .ok()?
            .into_iter()
            .find(|t| t.tag == 0xa3)
        else {
            return Some(None);
        };
        let (list, _) = der::expect(exts.value, 0x30, "Extensions").ok()?;
        for ext in der::children(list.value).ok()? {
            let parts = der::children(ext.value).ok()?;
            if parts.first().map(|p| p.value) != Some(KEY_USAGE) {
                continue;
            }
            let value = parts.last()?;
            let (bits, _) = der::expect(value.value, 0x03, "KeyUsage").ok()?;
            return Some(Some(bits.value.get(1).copied().unwrap_or(0)));
        }
        Some(None)
    };
    match usage() {
        Some(None) => true,
        Some(Some(first)) => first & 0xc0 != 0,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::key_usage_allows_signing;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::extension::KeyUsage;
    use openssl::x509::{X509Builder, X509NameBuilder, X509};

    fn cert(usage: Option<KeyUsage>) -> X509 {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "t").unwrap();
        let name = name.build();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        if let Some(u) = usage {
            b.append_extension(u.build().unwrap()).unwrap();
        }
        b.sign(&key, MessageDigest::sha256()).unwrap();
        b.build()
    }

    #[test]
    fn key_usage_must_allow_signatures_when_present() {
        assert!(key_usage_allows_signing(&cert(None)));
        let mut ds = KeyUsage::new();
        ds.digital_signature();
        assert!(key_usage_allows_signing(&cert(Some(ds))));
        let mut nr = KeyUsage::new();
        nr.non_repudiation();
        assert!(key_usage_allows_signing(&cert(Some(nr))));
        let mut ca = KeyUsage::new();
        ca.key_cert_sign();
        assert!(!key_usage_allows_signing(&cert(Some(ca))));
    }
}
