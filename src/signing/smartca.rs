//! VNPT SmartCA (the `sp769` service-provider API) as a [`RemoteSigner`]: hash in, PKCS#1
//! signature out, confirmed by the holder in the SmartCA app on the phone, then polled.
//!
//! The calls, as VNPT's integration guide and its published samples use them (JSON over HTTPS
//! POST; the office's `sp_id` / `sp_password` in each body; the holder named by `user_id`, the
//! citizen-id number the account was opened with):
//! - `{base}/v1/credentials/get_certificate` → `data.user_certificates[]` with `cert_data`
//!   (base64 DER), `serial_number`, `cert_status` and `chain_data.ca_cert` / `root_cert`;
//! - `{base}/v1/signatures/sign` with `sign_files: [{data_to_be_signed (hex SHA-256),
//!   doc_id, file_type, sign_type: "hash"}]` → `data.transaction_id` (and `expired_in`,
//!   seconds, when given);
//! - `{base}/v1/signatures/sign/{transaction_id}/status` → `data.signatures` null while the
//!   holder has not confirmed, else `[{signature_value (base64)}]`.
//!
//! Every answer carries `status_code` and `message`; a `status_code` other than 200 (or an
//! HTTP 4xx) is the service's refusal with its message. `base` is e.g.
//! `https://gwsca.vnpt.vn/sca/sp769`.

use std::time::Duration;

use openssl::x509::X509;
use serde_json::{json, Value};

use super::http;
use super::remote::{call_error, is_transaction_id, Polled, RemoteSigner, Submitted};
use super::SigningError;

/// How long a transaction waits for the holder when the service does not say.
const DEFAULT_EXPIRY_SECS: u64 = 300;

/// The office's account at the service (its service-provider id and secret).
#[derive(Clone)]
pub struct SpAccount {
    pub sp_id: String,
    pub sp_password: String,
}

impl std::fmt::Debug for SpAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpAccount")
            .field("sp_id", &self.sp_id)
            .finish_non_exhaustive()
    }
}

/// One holder's certificate at VNPT SmartCA.
pub struct SmartCa {
    base_url: String,
    account: SpAccount,
    user_id: String,
    serial: String,
    cert: X509,
    chain: Vec<X509>,
    timeout: Duration,
}

fn der_of(b64: &str, what: &str) -> Result<X509, SigningError> {
    openssl::base64::decode_block(b64.trim())
        .ok()
        .and_then(|der| X509::from_der(&der).ok())
        .ok_or_else(|| SigningError::Remote(format!("get_certificate gave an unreadable {what}")))
}

impl SmartCa {
    /// Reads the holder's certificate (`get_certificate`): the first active one, else the first.
    pub fn connect(
        base_url: &str,
        account: SpAccount,
        user_id: &str,
        timeout: Duration,
    ) -> Result<SmartCa, SigningError> {
        let base = base_url.trim_end_matches('/').to_string();
        let body = json!({
            "sp_id": account.sp_id,
            "sp_password": account.sp_password,
            "user_id": user_id,
            "serial_number": "",
            "transaction_id": uuid::Uuid::new_v4().to_string(),
        });
        let answer = call(&base, "credentials/get_certificate", &body, timeout)?;
        let certs = answer["data"]["user_certificates"]
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                SigningError::RemoteRefused("get_certificate: the holder has no certificate".into())
            })?;
        let active = |c: &&Value| {
            c["cert_status"]
                .as_str()
                .is_some_and(|s| s.to_lowercase().contains("hoạt động") || s == "active")
        };
        let chosen = certs.iter().find(active).unwrap_or(&certs[0]);
        let cert = der_of(
            chosen["cert_data"].as_str().unwrap_or_default(),
            "certificate",
        )?;
        let mut chain = Vec::new();
        for key in ["ca_cert", "root_cert"] {
            if let Some(b64) = chosen["chain_data"][key].as_str().filter(|s| !s.is_empty()) {
                chain.push(der_of(b64, key)?);
            }
        }
        Ok(SmartCa {
            base_url: base,
            account,
            user_id: user_id.to_string(),
            serial: chosen["serial_number"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            cert,
            chain,
            timeout,
        })
    }
}

/// POSTs to `{base}/v1/{method}` and reads the JSON answer; a `status_code` other than 200 is
/// the service's refusal.
fn call(base: &str, method: &str, body: &Value, timeout: Duration) -> Result<Value, SigningError> {
    let url = format!("{base}/v1/{method}");
    let what = method.rsplit('/').next().unwrap_or(method);
    let raw = http::post_accepting(
        &url,
        "application/json",
        "application/json",
        body.to_string().as_bytes(),
        timeout,
    )
    .map_err(|e| call_error(what, e))?;
    let answer: Value = serde_json::from_slice(&raw)
        .map_err(|_| SigningError::Remote(format!("{what}: the answer is not JSON")))?;
    match answer["status_code"].as_i64() {
        Some(200) | None => Ok(answer),
        Some(code) => Err(SigningError::RemoteRefused(format!(
            "{what}: {} ({code})",
            answer["message"].as_str().unwrap_or("refused")
        ))),
    }
}

impl RemoteSigner for SmartCa {
    fn certificate(&self) -> &X509 {
        &self.cert
    }

    fn chain(&self) -> &[X509] {
        &self.chain
    }

    fn submit(&self, digest: &[u8; 32], description: &str) -> Result<Submitted, SigningError> {
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let body = json!({
            "sp_id": self.account.sp_id,
            "sp_password": self.account.sp_password,
            "user_id": self.user_id,
            "serial_number": self.serial,
            "transaction_id": uuid::Uuid::new_v4().to_string(),
            "transaction_desc": description,
            "sign_files": [{
                "data_to_be_signed": hex,
                "doc_id": &hex[..16],
                "file_type": "pdf",
                "sign_type": "hash",
            }],
        });
        let answer = call(&self.base_url, "signatures/sign", &body, self.timeout)?;
        let transaction = answer["data"]["transaction_id"]
            .as_str()
            .filter(|t| is_transaction_id(t))
            .ok_or_else(|| {
                SigningError::Remote("signatures/sign gave no usable transaction_id".into())
            })?;
        let expires_in_secs = answer["data"]["expired_in"]
            .as_u64()
            .filter(|s| (1..=3600).contains(s))
            .unwrap_or(DEFAULT_EXPIRY_SECS);
        Ok(Submitted::Pending {
            transaction: transaction.to_string(),
            expires_in_secs,
        })
    }

    fn poll(&self, transaction: &str) -> Result<Polled, SigningError> {
        if !is_transaction_id(transaction) {
            return Err(SigningError::Remote("not a transaction id".into()));
        }
        let method = format!("signatures/sign/{transaction}/status");
        let answer = match call(&self.base_url, &method, &json!({}), self.timeout) {
            Err(SigningError::RemoteRefused(reason)) => return Ok(Polled::Refused(reason)),
            other => other?,
        };
        match answer["data"]["signatures"].as_array() {
            None => Ok(Polled::Pending),
            Some(list) => list
                .first()
                .and_then(|s| s["signature_value"].as_str())
                .and_then(|b64| openssl::base64::decode_block(b64.trim()).ok())
                .filter(|sig| !sig.is_empty())
                .map(Polled::Signed)
                .ok_or_else(|| {
                    SigningError::Remote("the status gave a signature that cannot be read".into())
                }),
        }
    }
}
