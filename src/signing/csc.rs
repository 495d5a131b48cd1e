//! A remote signing service speaking the Cloud Signature Consortium API, as a
//! [`RemoteSigner`]: the document never leaves; the signed attributes' SHA-256 goes to
//! `credentials/authorize` (hash pinning, with the holder's PIN) for a SAD, then to
//! `signatures/signHash`, which signs at once.
//!
//! CSC v1 (`/csc/v1/…`: `hash[]`, `hashAlgo`, `signAlgo`) and v2 (`/csc/v2/…`: `hashes[]`,
//! `hashAlgorithmOID`). CSC's own asynchronous mode (v2 `operationMode: "A"`) is not asked for:
//! a provider that makes the holder confirm on the phone has its own adapter (`smartca.rs`).

use std::time::Duration;

use openssl::x509::X509;
use serde_json::{json, Value};

use super::http;
use super::keys::{DigestSigner, ExternalSignature, KeyAlgorithm};
use super::remote::{call_error, Polled, RemoteSigner, Submitted};
use super::SigningError;

/// SHA-256.
const SHA256_OID: &str = "2.16.840.1.101.3.4.2.1";
/// sha256WithRSAEncryption (PKCS#1 v1.5).
const SHA256_RSA_OID: &str = "1.2.840.113549.1.1.11";
/// ecdsa-with-SHA256.
const SHA256_ECDSA_OID: &str = "1.2.840.10045.4.3.2";

/// Which CSC API the service speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CscApi {
    V1,
    V2,
}

/// One credential at a CSC service.
pub struct CscSigner {
    base_url: String,
    api: CscApi,
    credential_id: String,
    pin: Option<String>,
    /// The bearer token of `auth/login`, sent with every call when the service wants one.
    token: Option<String>,
    alg: KeyAlgorithm,
    /// The certificate, to check each signature the service returns.
    cert: X509,
    chain: Vec<X509>,
    timeout: Duration,
}

impl CscSigner {
    /// Asks the service for the credential's certificate chain (`credentials/info`). `token`:
    /// the bearer token of [`login`], when the service wants one.
    pub fn connect(
        base_url: &str,
        api: CscApi,
        credential_id: &str,
        pin: Option<String>,
        token: Option<String>,
        timeout: Duration,
    ) -> Result<CscSigner, SigningError> {
        let base = base_url.trim_end_matches('/').to_string();
        let info = call(
            &base,
            api,
            "credentials/info",
            &json!({"credentialID": credential_id, "certificates": "chain"}),
            token.as_deref(),
            timeout,
        )?;
        let certs: Vec<X509> = info["cert"]["certificates"]
            .as_array()
            .ok_or_else(|| SigningError::Remote("credentials/info gave no certificates".into()))?
            .iter()
            .filter_map(Value::as_str)
            .map(|b64| {
                openssl::base64::decode_block(b64)
                    .ok()
                    .and_then(|der| X509::from_der(&der).ok())
                    .ok_or_else(|| {
                        SigningError::Remote(
                            "credentials/info gave an unreadable certificate".into(),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        let mut certs = certs.into_iter();
        let cert = certs
            .next()
            .ok_or_else(|| SigningError::Remote("credentials/info gave no certificates".into()))?;
        let chain: Vec<X509> = certs.collect();
        let alg = ExternalSignature::new(&cert, Vec::new())?.algorithm();
        Ok(CscSigner {
            base_url: base,
            api,
            credential_id: credential_id.to_string(),
            pin,
            token,
            alg,
            cert,
            chain,
            timeout,
        })
    }
}

/// POSTs a JSON request to `{base}/csc/v1|v2/{method}` (with the bearer `token`, if any) and
/// reads the JSON answer.
fn call(
    base: &str,
    api: CscApi,
    method: &str,
    body: &Value,
    token: Option<&str>,
    timeout: Duration,
) -> Result<Value, SigningError> {
    let version = match api {
        CscApi::V1 => "v1",
        CscApi::V2 => "v2",
    };
    let url = format!("{base}/csc/{version}/{method}");
    let bearer = token.map(|t| format!("Bearer {t}"));
    let raw = http::post_authorized(
        &url,
        "application/json",
        "application/json",
        bearer.as_deref(),
        body.to_string().as_bytes(),
        timeout,
    )
    .map_err(|e| call_error(method, e))?;
    serde_json::from_slice(&raw)
        .map_err(|_| SigningError::Remote(format!("{method}: the answer is not JSON")))
}

/// `auth/login` with HTTP Basic (`username`, `password`): the service's bearer token for the
/// calls that follow (CSC v1 and v2 alike).
pub fn login(
    base_url: &str,
    api: CscApi,
    username: &str,
    password: &str,
    timeout: Duration,
) -> Result<String, SigningError> {
    let base = base_url.trim_end_matches('/');
    let version = match api {
        CscApi::V1 => "v1",
        CscApi::V2 => "v2",
    };
    let basic = openssl::base64::encode_block(format!("{username}:{password}").as_bytes());
    let raw = http::post_authorized(
        &format!("{base}/csc/{version}/auth/login"),
        "application/json",
        "application/json",
        Some(&format!("Basic {basic}")),
        b"{}",
        timeout,
    )
    .map_err(|e| call_error("auth/login", e))?;
    let answer: Value = serde_json::from_slice(&raw)
        .map_err(|_| SigningError::Remote("auth/login: the answer is not JSON".into()))?;
    answer["access_token"]
        .as_str()
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .ok_or_else(|| SigningError::Remote("auth/login gave no usable access_token".into()))
}

impl RemoteSigner for CscSigner {
    fn certificate(&self) -> &X509 {
        &self.cert
    }

    fn chain(&self) -> &[X509] {
        &self.chain
    }

    fn submit(&self, digest: &[u8; 32], _description: &str) -> Result<Submitted, SigningError> {
        self.sign_hash(digest).map(Submitted::Signed)
    }

    fn poll(&self, _transaction: &str) -> Result<Polled, SigningError> {
        Err(SigningError::Remote(
            "a CSC service signs at once: there is no transaction to poll".into(),
        ))
    }
}

impl CscSigner {
    /// `credentials/authorize` (the hash pinned, the PIN) then `signatures/signHash`.
    fn sign_hash(&self, digest: &[u8; 32]) -> Result<Vec<u8>, SigningError> {
        let hash = openssl::base64::encode_block(digest);
        let sign_algo = match self.alg {
            KeyAlgorithm::Rsa(_) => SHA256_RSA_OID,
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => SHA256_ECDSA_OID,
        };
        let (hash_key, mut authorize, mut sign) = match self.api {
            CscApi::V1 => (
                "hash",
                json!({"credentialID": self.credential_id, "numSignatures": 1}),
                json!({"credentialID": self.credential_id, "hashAlgo": SHA256_OID,
                       "signAlgo": sign_algo}),
            ),
            CscApi::V2 => (
                "hashes",
                json!({"credentialID": self.credential_id, "numSignatures": 1,
                       "hashAlgorithmOID": SHA256_OID}),
                json!({"credentialID": self.credential_id, "hashAlgorithmOID": SHA256_OID,
                       "signAlgo": sign_algo}),
            ),
        };
        authorize[hash_key] = json!([hash]);
        if let Some(pin) = &self.pin {
            authorize["PIN"] = json!(pin);
        }
        let auth = call(
            &self.base_url,
            self.api,
            "credentials/authorize",
            &authorize,
            self.token.as_deref(),
            self.timeout,
        )?;
        let sad = auth["SAD"]
            .as_str()
            .ok_or_else(|| SigningError::Remote("credentials/authorize gave no SAD".into()))?;
        sign["SAD"] = json!(sad);
        sign[hash_key] = json!([hash]);
        let signed = call(
            &self.base_url,
            self.api,
            "signatures/signHash",
            &sign,
            self.token.as_deref(),
            self.timeout,
        )?;
        let signature = signed["signatures"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .and_then(|b64| openssl::base64::decode_block(b64).ok())
            .ok_or_else(|| SigningError::Remote("signatures/signHash gave no signature".into()))?;
        // What comes back must be the certificate key's signature of this digest.
        ExternalSignature::new(&self.cert, signature)?.sign_digest(digest)
    }
}
