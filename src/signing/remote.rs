//! A remote signing service, whatever its API: the holder's key is kept by a provider (a CSC
//! service, VNPT SmartCA, Viettel MySign, …) and only a digest travels. A provider either signs
//! at once, or answers "pending" until the holder confirms on the phone; then the caller polls
//! the transaction it was given. One adapter per provider implements [`RemoteSigner`]
//! (`csc.rs`, `smartca.rs`); the route's signing (`workflow::service::remote`) and its
//! background poller know nothing else about them.

use openssl::x509::X509;

use super::SigningError;

/// What a provider answered to a signing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Signed at once: the signature value of the digest (RSA PKCS#1 v1.5, or a DER ECDSA
    /// signature), checked by the caller against the certificate.
    Signed(Vec<u8>),
    /// The holder must confirm first: poll `transaction`, for at most `expires_in_secs`.
    Pending {
        transaction: String,
        expires_in_secs: u64,
    },
}

/// What a provider says of a pending transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Polled {
    /// Confirmed: the signature value, as in [`Submitted::Signed`].
    Signed(Vec<u8>),
    /// Not confirmed yet.
    Pending,
    /// Refused by the holder, cancelled or expired at the provider: the provider's reason.
    Refused(String),
}

/// One credential at a remote signing provider, ready for one signature.
pub trait RemoteSigner: Send {
    /// The signing certificate the provider holds for the credential.
    fn certificate(&self) -> &X509;
    /// The rest of its chain, as the provider gave it (may be empty).
    fn chain(&self) -> &[X509];
    /// Asks for the signature of a SHA-256 `digest` (of the CMS signed attributes);
    /// `description` is what the holder's phone shows.
    fn submit(&self, digest: &[u8; 32], description: &str) -> Result<Submitted, SigningError>;
    /// The state of a transaction [`submit`](RemoteSigner::submit) answered as pending.
    fn poll(&self, transaction: &str) -> Result<Polled, SigningError>;
}

/// A failed call to a provider as a signing error: its 4xx answer is a refusal (wrong PIN,
/// unknown credential), anything else (no answer, a 5xx, nonsense) the service being away.
pub(super) fn call_error(what: &str, e: String) -> SigningError {
    if super::http::is_refusal(&e) {
        SigningError::RemoteRefused(format!("{what}: {e}"))
    } else {
        SigningError::Remote(format!("{what}: {e}"))
    }
}

/// Whether `id` is a transaction id a provider may give: 1 to 200 characters of letters,
/// digits and `-_.:`, so it can go into a URL path unescaped.
pub fn is_transaction_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_ids_are_path_safe() {
        assert!(is_transaction_id("VNPT-TXN-abc_1.2:3"));
        assert!(!is_transaction_id(""));
        assert!(!is_transaction_id("a/../b"));
        assert!(!is_transaction_id("a b"));
        assert!(!is_transaction_id("a?x=1"));
        assert!(!is_transaction_id(&"a".repeat(201)));
    }
}
