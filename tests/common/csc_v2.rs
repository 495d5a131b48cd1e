//! A small Cloud Signature Consortium API v2 service of our own, in the test process (std TCP,
//! one thread): `auth/login` (HTTP Basic → a bearer token), `credentials/info`,
//! `credentials/authorize` (`hashes[]`, `hashAlgorithmOID`, `PIN` → a SAD bound to those hashes)
//! and `signatures/signHash` (`hashes[]`, `hashAlgorithmOID`, `signAlgo`, the SAD), signing with
//! an openssl key of the test CA. It checks every field a v2 client must send and answers 400 /
//! 401 as a real service would, so a client speaking v1 names or forgetting the token fails.
//! certomancer's CSC dummy speaks v1 only; there is no v2 one to install.
#![allow(dead_code)]

use openssl::pkey::{Id, PKey, Private};
use openssl::x509::X509;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SHA256_OID: &str = "2.16.840.1.101.3.4.2.1";
const SHA256_RSA_OID: &str = "1.2.840.113549.1.1.11";
const SHA256_ECDSA_OID: &str = "1.2.840.10045.4.3.2";

/// The one account and credential the service holds.
pub struct Account {
    pub username: String,
    pub password: String,
    pub credential_id: String,
    pub pin: String,
    pub key: PKey<Private>,
    /// The signer's certificate first, then its chain.
    pub certificates: Vec<X509>,
}

/// One request as the service received it.
#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
    pub status: u16,
}

struct Shared {
    account: Account,
    tokens: Mutex<Vec<String>>,
    /// SAD → the hashes it authorises (single use).
    sads: Mutex<HashMap<String, Vec<String>>>,
    calls: Mutex<Vec<Call>>,
    refuse_signing: AtomicBool,
}

/// The running service; stopped (its port closed) on [`CscV2::stop`] or drop.
pub struct CscV2 {
    pub port: u16,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CscV2 {
    /// Starts the service on a free loopback port.
    pub fn start(account: Account) -> CscV2 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let shared = Arc::new(Shared {
            account,
            tokens: Mutex::default(),
            sads: Mutex::default(),
            calls: Mutex::default(),
            refuse_signing: AtomicBool::new(false),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (shared.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => serve(&s, conn),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(_) => break,
                }
            }
            // The listener is dropped here: the port refuses connections from now on.
        });
        CscV2 {
            port,
            shared,
            stop,
            thread: Some(thread),
        }
    }

    /// The `base_url` of a `csc` credential at this service.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// From now on `signatures/signHash` answers 400 (the service's policy refuses).
    pub fn refuse_signing(&self, refuse: bool) {
        self.shared.refuse_signing.store(refuse, Ordering::SeqCst);
    }

    /// Stops the service: its port refuses connections.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for CscV2 {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(s: &Shared, mut conn: TcpStream) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let Some((path, headers, body)) = read_request(&mut conn) else {
        return;
    };
    let authorization = headers.get("authorization").cloned();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (status, answer) = answer(s, &path, authorization.as_deref(), &parsed);
    s.calls.lock().unwrap().push(Call {
        path,
        authorization,
        body: parsed,
        status,
    });
    let text = answer.to_string();
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        _ => "Not Found",
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn read_request(conn: &mut TcpStream) -> Option<(String, HashMap<String, String>, Vec<u8>)> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let end = loop {
        let n = conn.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?;
    let path = request_line.split_whitespace().nth(1)?.to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = raw[end + 4..].to_vec();
    while body.len() < length {
        let n = conn.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&buf[..n]);
    }
    body.truncate(length);
    Some((path, headers, body))
}

fn error(status: u16, code: &str, description: &str) -> (u16, Value) {
    (
        status,
        json!({"error": code, "error_description": description}),
    )
}

fn random_token() -> String {
    let mut b = [0u8; 24];
    openssl::rand::rand_bytes(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn answer(s: &Shared, path: &str, authorization: Option<&str>, body: &Value) -> (u16, Value) {
    let a = &s.account;
    if path == "/csc/v2/auth/login" {
        let expected =
            openssl::base64::encode_block(format!("{}:{}", a.username, a.password).as_bytes());
        if authorization != Some(format!("Basic {expected}").as_str()) {
            return error(401, "invalid_grant", "wrong username or password");
        }
        let token = random_token();
        s.tokens.lock().unwrap().push(token.clone());
        return (
            200,
            json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}),
        );
    }
    let bearer = authorization.and_then(|h| h.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| s.tokens.lock().unwrap().iter().any(|k| k == t)) {
        return error(401, "invalid_token", "no valid bearer token");
    }
    if body["credentialID"] != a.credential_id.as_str() {
        return error(400, "invalid_request", "Invalid parameter credentialID");
    }
    match path {
        "/csc/v2/credentials/info" => {
            let certs: Vec<String> = a
                .certificates
                .iter()
                .map(|c| openssl::base64::encode_block(&c.to_der().unwrap()))
                .collect();
            (
                200,
                json!({"key": {"status": "enabled", "algo": [sign_algo(a)], "len": a.key.bits()},
                       "cert": {"status": "valid", "certificates": certs},
                       "authMode": "explicit", "SCAL": "1", "multisign": 1}),
            )
        }
        "/csc/v2/credentials/authorize" => authorize(s, body),
        "/csc/v2/signatures/signHash" => sign_hash(s, body),
        _ => error(404, "invalid_request", "no such method"),
    }
}

fn sign_algo(a: &Account) -> &'static str {
    if a.key.id() == Id::RSA {
        SHA256_RSA_OID
    } else {
        SHA256_ECDSA_OID
    }
}

/// `hashes`: an array of base64 SHA-256 digests (v2's name; v1's `hash` is refused).
fn hashes(body: &Value) -> Result<Vec<String>, (u16, Value)> {
    if body.get("hash").is_some() {
        return Err(error(
            400,
            "invalid_request",
            "`hash` is CSC v1; v2 takes `hashes`",
        ));
    }
    if body["hashAlgorithmOID"] != SHA256_OID {
        return Err(error(
            400,
            "invalid_request",
            "Missing or unsupported hashAlgorithmOID",
        ));
    }
    let list: Vec<String> = body["hashes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let ok = !list.is_empty()
        && list.iter().all(|h| {
            openssl::base64::decode_block(h)
                .map(|d| d.len() == 32)
                .unwrap_or(false)
        });
    if !ok {
        return Err(error(400, "invalid_request", "Missing or invalid hashes"));
    }
    Ok(list)
}

fn authorize(s: &Shared, body: &Value) -> (u16, Value) {
    let list = match hashes(body) {
        Ok(l) => l,
        Err(e) => return e,
    };
    if body["numSignatures"].as_u64() != Some(list.len() as u64) {
        return error(400, "invalid_request", "numSignatures differs from hashes");
    }
    if body["PIN"] != s.account.pin.as_str() {
        return error(400, "invalid_pin", "The PIN is invalid");
    }
    let sad = random_token();
    s.sads.lock().unwrap().insert(sad.clone(), list);
    (200, json!({"SAD": sad, "expiresIn": 300}))
}

fn sign_hash(s: &Shared, body: &Value) -> (u16, Value) {
    let list = match hashes(body) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let Some(authorised) = body["SAD"]
        .as_str()
        .and_then(|sad| s.sads.lock().unwrap().remove(sad))
    else {
        return error(400, "invalid_request", "Invalid SAD");
    };
    if authorised != list {
        return error(
            400,
            "invalid_request",
            "the hashes are not the ones authorised",
        );
    }
    if body["signAlgo"] != sign_algo(&s.account) {
        return error(400, "invalid_request", "Invalid signAlgo");
    }
    if s.refuse_signing.load(Ordering::SeqCst) {
        return error(
            400,
            "access_denied",
            "signing refused by the service's policy",
        );
    }
    let signatures: Vec<String> = list
        .iter()
        .map(|h| {
            let digest = openssl::base64::decode_block(h).unwrap();
            let mut ctx = openssl::pkey_ctx::PkeyCtx::new(&s.account.key).unwrap();
            ctx.sign_init().unwrap();
            if s.account.key.id() == Id::RSA {
                ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1).unwrap();
            }
            ctx.set_signature_md(openssl::md::Md::sha256()).unwrap();
            let mut out = Vec::new();
            ctx.sign_to_vec(&digest, &mut out).unwrap();
            openssl::base64::encode_block(&out)
        })
        .collect();
    (200, json!({"signatures": signatures}))
}
