//! Certificate path validation against the caller's trust roots (openssl X509Store).

use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyParam;
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
