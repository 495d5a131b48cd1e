//! A stand-in for VNPT SmartCA's service-provider API (`sp769`) on the loopback, for the
//! remote-signing tests: `credentials/get_certificate`, `signatures/sign` (the hash is kept,
//! the transaction waits) and `signatures/sign/{id}/status` (null signatures until the test
//! plays the holder: [`FakeSmartCa::confirm`] signs the kept hash with the holder's key,
//! [`FakeSmartCa::refuse`] answers a refusal). Plain HTTP/1.1 on std's TcpListener.

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

pub const SP_ID: &str = "sp-docflow-test";
pub const SP_PASSWORD: &str = "sp-secret-for-tests";

#[derive(Clone, Debug, PartialEq)]
enum Tx {
    Waiting,
    Confirmed,
    Refused,
}

#[derive(Default)]
struct State {
    /// transaction id → (hex SHA-256 to sign, state).
    txs: HashMap<String, (String, Tx)>,
    /// Every request's method path, in order.
    calls: Vec<String>,
    /// `expired_in` to answer.
    expires_in: u64,
}

pub struct FakeSmartCa {
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl FakeSmartCa {
    /// Serves the holder `user_id` with `key` / `cert` (and `ca` as the chain).
    pub fn start(user_id: &str, key: PKey<Private>, cert: X509, ca: X509) -> FakeSmartCa {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/sca/sp769", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            expires_in: 300,
            ..State::default()
        }));
        let (st, user) = (state.clone(), user_id.to_string());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; len];
                let _ = reader.read_exact(&mut body);
                let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let answer = answer(&st, &user, &key, &cert, &ca, &path, &req);
                let text = answer.to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        FakeSmartCa { base, state }
    }

    /// The holder confirms every waiting transaction in the app.
    pub fn confirm(&self) {
        self.settle(Tx::Confirmed)
    }

    /// The holder refuses every waiting transaction.
    pub fn refuse(&self) {
        self.settle(Tx::Refused)
    }

    fn settle(&self, to: Tx) {
        let mut st = self.state.lock().unwrap();
        for (_, s) in st.txs.values_mut() {
            if *s == Tx::Waiting {
                *s = to.clone();
            }
        }
    }

    /// How many signing requests the service got.
    pub fn sign_requests(&self) -> usize {
        let st = self.state.lock().unwrap();
        st.calls
            .iter()
            .filter(|c| c.ends_with("/signatures/sign"))
            .count()
    }

    /// How many status polls the service got.
    pub fn polls(&self) -> usize {
        let st = self.state.lock().unwrap();
        st.calls.iter().filter(|c| c.ends_with("/status")).count()
    }

    /// Makes new transactions expire after `secs`.
    pub fn expire_after(&self, secs: u64) {
        self.state.lock().unwrap().expires_in = secs;
    }
}

fn b64(der: &[u8]) -> String {
    openssl::base64::encode_block(der)
}

fn answer(
    st: &Arc<Mutex<State>>,
    user: &str,
    key: &PKey<Private>,
    cert: &X509,
    ca: &X509,
    path: &str,
    req: &Value,
) -> Value {
    let mut st = st.lock().unwrap();
    st.calls.push(path.to_string());
    let tail = path.strip_prefix("/sca/sp769/v1/").unwrap_or("");
    let status_of = tail
        .strip_prefix("signatures/sign/")
        .and_then(|t| t.strip_suffix("/status"));
    if let Some(tx) = status_of {
        return match st.txs.get(tx) {
            None => json!({"status_code": 404, "message": "transaction not found", "data": null}),
            Some((_, Tx::Waiting)) => json!({"status_code": 200, "message": "WAITING",
                "data": {"transaction_id": tx, "signatures": null}}),
            Some((_, Tx::Refused)) => json!({"status_code": 4001,
                "message": "Người dùng từ chối ký", "data": null}),
            Some((hex, Tx::Confirmed)) => {
                let digest: Vec<u8> = (0..hex.len() / 2)
                    .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                    .collect();
                let ec = key.ec_key().unwrap();
                let sig = openssl::ecdsa::EcdsaSig::sign(&digest, &ec).unwrap();
                json!({"status_code": 200, "message": "SUCCESS",
                    "data": {"transaction_id": tx, "signatures": [
                        {"doc_id": &hex[..16], "signature_value": b64(&sig.to_der().unwrap()),
                         "timestamp_signature": null}]}})
            }
        };
    }
    if req["sp_id"] != SP_ID || req["sp_password"] != SP_PASSWORD {
        return json!({"status_code": 401, "message": "invalid sp_id or sp_password", "data": null});
    }
    if req["user_id"] != user {
        return json!({"status_code": 404, "message": "user not found", "data": null});
    }
    match tail {
        "credentials/get_certificate" => json!({"status_code": 200, "message": "SUCCESS",
            "data": {"user_certificates": [{
                "service_type": "SMARTCA", "cert_status": "Đang hoạt động",
                "serial_number": "0102030405", "cert_data": b64(&cert.to_der().unwrap()),
                "chain_data": {"ca_cert": b64(&ca.to_der().unwrap()), "root_cert": null}}]}}),
        "signatures/sign" => {
            let hex = req["sign_files"][0]["data_to_be_signed"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if hex.len() != 64 || req["sign_files"][0]["sign_type"] != "hash" {
                return json!({"status_code": 400, "message": "bad sign_files", "data": null});
            }
            let tx = format!("VNPT-TXN-{}", st.txs.len() + 1);
            st.txs.insert(tx.clone(), (hex, Tx::Waiting));
            let expires_in = st.expires_in;
            json!({"status_code": 200, "message": "SUCCESS",
                "data": {"transaction_id": tx, "tran_code": "ABC123", "expired_in": expires_in}})
        }
        _ => json!({"status_code": 404, "message": "no such method", "data": null}),
    }
}
