//! Signing keys and certificates: PEM or PKCS#12 files, or any key that can sign a digest.
//!
//! Only the SHA-256 digest of the CMS signed attributes reaches the key, so a remote signer
//! (HSM, USB token, signing service) implements [`DigestSigner`] and never sees the document.

use std::path::Path;

use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{Id, PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::x509::X509;

use super::SigningError;

/// Key type and size, which decide the CMS signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// RSA PKCS#1 v1.5 with this modulus size in bits.
    Rsa(u32),
    EcdsaP256,
    EcdsaP384,
}

impl KeyAlgorithm {
    /// Upper bound of the signature size in bytes.
    pub fn max_signature_len(self) -> usize {
        match self {
            KeyAlgorithm::Rsa(bits) => (bits as usize).div_ceil(8),
            KeyAlgorithm::EcdsaP256 => 72,
            KeyAlgorithm::EcdsaP384 => 104,
        }
    }
}

/// Something that signs a SHA-256 digest: a local key, or a remote one.
pub trait DigestSigner: Send + Sync {
    /// The key's algorithm.
    fn algorithm(&self) -> KeyAlgorithm;
    /// Signs a 32-byte SHA-256 digest: PKCS#1 v1.5 for RSA, a DER `ECDSA-Sig-Value` for ECDSA.
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, SigningError>;
}

/// A private key held in this process.
pub struct LocalKey {
    key: PKey<Private>,
    alg: KeyAlgorithm,
}

impl LocalKey {
    /// Accepts RSA of at least 2048 bits and ECDSA on P-256 or P-384.
    pub fn new(key: PKey<Private>) -> Result<Self, SigningError> {
        let alg = match key.id() {
            Id::RSA => {
                let bits = key.bits();
                if bits < 2048 {
                    return Err(SigningError::Key(format!(
                        "RSA key of {bits} bits; at least 2048 are required"
                    )));
                }
                KeyAlgorithm::Rsa(bits)
            }
            Id::EC => {
                let ec = key.ec_key().map_err(key_err)?;
                match ec.group().curve_name() {
                    Some(Nid::X9_62_PRIME256V1) => KeyAlgorithm::EcdsaP256,
                    Some(Nid::SECP384R1) => KeyAlgorithm::EcdsaP384,
                    _ => {
                        return Err(SigningError::Key(
                            "EC key on an unsupported curve (use P-256 or P-384)".into(),
                        ))
                    }
                }
            }
            other => {
                return Err(SigningError::Key(format!(
                    "unsupported key type {other:?} (use RSA or ECDSA)"
                )))
            }
        };
        Ok(LocalKey { key, alg })
    }
}

impl DigestSigner for LocalKey {
    fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, SigningError> {
        let mut ctx = PkeyCtx::new(&self.key).map_err(key_err)?;
        ctx.sign_init().map_err(key_err)?;
        ctx.set_signature_md(openssl::md::Md::sha256())
            .map_err(key_err)?;
        if let KeyAlgorithm::Rsa(_) = self.alg {
            ctx.set_rsa_padding(Padding::PKCS1).map_err(key_err)?;
        }
        let mut sig = Vec::new();
        ctx.sign_to_vec(digest, &mut sig).map_err(key_err)?;
        Ok(sig)
    }
}

/// A signature made elsewhere — a USB token or smart card at the holder's desk — over signed
/// attributes this process prepared ([`super::sign::signed_attributes_for`]). "Signing" checks
/// that it is the certificate key's signature of exactly the digest asked for, and hands it
/// back; anything else is [`SigningError::BadSignature`].
pub struct ExternalSignature {
    public: PKey<openssl::pkey::Public>,
    alg: KeyAlgorithm,
    signature: Vec<u8>,
}

impl ExternalSignature {
    /// The (future) signature of `cert`'s key; empty while only preparing.
    pub fn new(cert: &X509, signature: Vec<u8>) -> Result<Self, SigningError> {
        let public = cert.public_key().map_err(key_err)?;
        let alg = match public.id() {
            Id::RSA => KeyAlgorithm::Rsa(public.bits()),
            Id::EC => {
                let ec = public.ec_key().map_err(key_err)?;
                match ec.group().curve_name() {
                    Some(Nid::X9_62_PRIME256V1) => KeyAlgorithm::EcdsaP256,
                    Some(Nid::SECP384R1) => KeyAlgorithm::EcdsaP384,
                    _ => return Err(SigningError::Key("EC key on an unsupported curve".into())),
                }
            }
            other => {
                return Err(SigningError::Key(format!(
                    "unsupported key type {other:?} (use RSA or ECDSA)"
                )))
            }
        };
        if signature.len() > alg.max_signature_len() {
            return Err(SigningError::BadSignature(format!(
                "{} bytes is longer than this key's signatures",
                signature.len()
            )));
        }
        Ok(ExternalSignature {
            public,
            alg,
            signature,
        })
    }
}

impl DigestSigner for ExternalSignature {
    fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, SigningError> {
        let mut ctx = PkeyCtx::new(&self.public).map_err(key_err)?;
        ctx.verify_init().map_err(key_err)?;
        ctx.set_signature_md(openssl::md::Md::sha256())
            .map_err(key_err)?;
        if let KeyAlgorithm::Rsa(_) = self.alg {
            ctx.set_rsa_padding(Padding::PKCS1).map_err(key_err)?;
        }
        // A malformed signature is an error of the verifier, a wrong one is `false`: both mean
        // the same to the holder.
        match ctx.verify(digest, &self.signature) {
            Ok(true) => Ok(self.signature.clone()),
            _ => Err(SigningError::BadSignature(
                "it is not the signature of the prepared attributes by the credential's key".into(),
            )),
        }
    }
}

fn key_err(e: openssl::error::ErrorStack) -> SigningError {
    SigningError::Key(e.to_string())
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, SigningError> {
    std::fs::read(path)
        .map_err(|e| SigningError::Key(format!("cannot read {what} {}: {e}", path.display())))
}

/// The signer's certificate, its chain, and the key.
pub struct Signer {
    cert: X509,
    chain: Vec<X509>,
    key: Box<dyn DigestSigner>,
}

impl Signer {
    /// A signer from any digest-signing key; `cert` must hold that key's public key.
    pub fn new(cert: X509, chain: Vec<X509>, key: Box<dyn DigestSigner>) -> Self {
        Signer { cert, chain, key }
    }

    /// From PEM bytes: a private key (optionally encrypted), a certificate, and further certificates.
    pub fn from_pem(
        key_pem: &[u8],
        cert_pem: &[u8],
        chain_pem: Option<&[u8]>,
        passphrase: Option<&[u8]>,
    ) -> Result<Self, SigningError> {
        let key = match passphrase {
            Some(p) => PKey::private_key_from_pem_passphrase(key_pem, p),
            None => PKey::private_key_from_pem(key_pem),
        }
        .map_err(|e| SigningError::Key(format!("cannot read the private key: {e}")))?;
        let cert = X509::from_pem(cert_pem)
            .map_err(|e| SigningError::Key(format!("cannot read the certificate: {e}")))?;
        let chain = match chain_pem {
            Some(c) => X509::stack_from_pem(c)
                .map_err(|e| SigningError::Key(format!("cannot read the chain: {e}")))?,
            None => Vec::new(),
        };
        Self::local(key, cert, chain)
    }

    /// From PEM files.
    pub fn from_pem_files(
        key: &Path,
        cert: &Path,
        chain: Option<&Path>,
        passphrase: Option<&[u8]>,
    ) -> Result<Self, SigningError> {
        let chain = chain.map(|c| read(c, "chain")).transpose()?;
        Self::from_pem(
            &read(key, "key")?,
            &read(cert, "certificate")?,
            chain.as_deref(),
            passphrase,
        )
    }

    /// From a PKCS#12 (.p12/.pfx) file's bytes and password.
    pub fn from_pkcs12(der: &[u8], password: &str) -> Result<Self, SigningError> {
        let p12 = Pkcs12::from_der(der)
            .and_then(|p| p.parse2(password))
            .map_err(|e| SigningError::Key(format!("cannot open the PKCS#12 file: {e}")))?;
        let key = p12
            .pkey
            .ok_or_else(|| SigningError::Key("the PKCS#12 file has no private key".into()))?;
        let cert = p12
            .cert
            .ok_or_else(|| SigningError::Key("the PKCS#12 file has no certificate".into()))?;
        let chain = p12.ca.map(|s| s.into_iter().collect()).unwrap_or_default();
        Self::local(key, cert, chain)
    }

    /// From a PKCS#12 file.
    pub fn from_pkcs12_file(path: &Path, password: &str) -> Result<Self, SigningError> {
        Self::from_pkcs12(&read(path, "PKCS#12 file")?, password)
    }

    fn local(key: PKey<Private>, cert: X509, chain: Vec<X509>) -> Result<Self, SigningError> {
        let public = cert
            .public_key()
            .map_err(|e| SigningError::Key(format!("certificate public key: {e}")))?;
        if !public.public_eq(&key) {
            return Err(SigningError::Key(
                "the certificate does not match the private key".into(),
            ));
        }
        let key = LocalKey::new(key)?;
        // A chain may repeat the signer's own certificate (PKCS#12 files often do).
        let own = cert.to_der().map_err(key_err)?;
        let chain = chain
            .into_iter()
            .filter(|c| c.to_der().map(|d| d != own).unwrap_or(true))
            .collect();
        Ok(Signer::new(cert, chain, Box::new(key)))
    }

    /// The signer's certificate.
    pub fn certificate(&self) -> &X509 {
        &self.cert
    }
    /// Further certificates to embed (intermediates, root).
    pub fn chain(&self) -> &[X509] {
        &self.chain
    }
    /// The key.
    pub fn key(&self) -> &dyn DigestSigner {
        self.key.as_ref()
    }
}
