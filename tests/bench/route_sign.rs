//! A route's `sign` action end to end over HTTP — authentication, the PIN's unlock, the route
//! lock, reading the 1 MB PDF from the store, signing it with the stamp, writing the new
//! version, the engine's approval, the commit — beside the bare engine (`sign_vec` of the same
//! file with the same key) and the PIN's key derivation (argon2id, deliberately slow), all in
//! the same run.
//!
//! `cargo bench --bench route_sign` (SQLite; with `TEST_DATABASE_URL=postgres://…` PostgreSQL as
//! well). `DOCFLOW_BENCH_N` actions per backend (default 40), one after the other by one user.
//! Each action consumes a task, so the documents and routes are made first, untimed.

#[allow(unused_macros)]
#[path = "../common/mod.rs"]
mod common;
#[path = "../fixtures/pdfgen.rs"]
mod pdfgen;

use common::testca::{ca, identity, make_cert, pkcs12_of, CertSpec};
use common::{Backend, TestServer};
use docflow::signing::{sign_vec, LocalKey, SignOptions, Signer, Visible};
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use serde_json::json;
use std::time::{Duration, Instant};

const PIN: &str = "246810";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn p90(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 9 / 10).min(v.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The signing key's kind: P-256, or RSA 2048 as Vietnam's public CAs issue them.
#[derive(Debug, Clone, Copy)]
enum KeyKind {
    P256,
    Rsa2048,
}

fn run(backend: Backend, kind: KeyKind, n: usize) {
    let ca = ca("docflow Bench CA");
    let roots = ca.pem.display().to_string();
    let srv = TestServer::start_with(backend, move |c| c.trust_roots_path = roots);
    let unit = srv.create_unit("SO", "Sở Lao động - Thương binh và Xã hội", None);
    let director = srv.create_user("director", "bench-password-1", Some(&unit), &["official"]);
    let token = srv.login("director", "bench-password-1");
    let (key, cert) = match kind {
        KeyKind::P256 => identity(&ca, &CertSpec::leaf("Trần Văn Minh")),
        KeyKind::Rsa2048 => {
            let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
            let cert = make_cert(
                &CertSpec::leaf("Trần Văn Minh"),
                &key,
                Some((&ca.cert, &ca.key)),
            );
            (key, cert)
        }
    };
    let r = srv.upload(
        "/api/v1/me/signing-credentials",
        Some(&token),
        Some(&json!({"kind": "server", "label": "bench", "pin": PIN, "password": "p"})),
        Some((
            "k.p12",
            "application/x-pkcs12",
            pkcs12_of(&key, &cert, &ca, "p"),
        )),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let credential = r.json["id"].as_str().unwrap().to_string();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1mb.pdf");
    pdfgen::sized(&path, 1);
    let pdf = std::fs::read(&path).unwrap();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let doc = srv.create_document(
            &token,
            &json!({"kind": "outgoing", "type_code": "QĐ", "subject": format!("Quyết định số {i}"),
                    "recipients": ["UBND tỉnh"]}),
            pdf.clone(),
        )["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = srv.post(
            &format!("/api/v1/documents/{doc}/route"),
            Some(&token),
            &json!({"stages": [{"kind": "sign", "assignees": [{"user": director}]}]}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let inbox = srv.get("/api/v1/tasks", Some(&token));
    for item in inbox.json.as_array().unwrap() {
        tasks.push(item["task"]["id"].as_str().unwrap().to_string());
    }
    assert_eq!(tasks.len(), n);

    let client = reqwest::blocking::Client::new();
    let body = json!({"action": "sign", "credential_id": credential, "pin": PIN});
    let mut http = Vec::with_capacity(n);
    let log_start = derivations().lock().unwrap().len();
    for t in &tasks {
        let started = Instant::now();
        let r = client
            .post(srv.url(&format!("/api/v1/tasks/{t}/actions")))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .unwrap();
        let status = r.status();
        let _ = r.bytes().unwrap();
        http.push(started.elapsed());
        assert!(status.is_success(), "sign action: {status}");
    }

    // The server's own PIN derivation of each action, from its log event (`signing PIN
    // derived`, field `pin_derivation_ms`), one per action in order: each action's time
    // without its derivation is measured, not estimated from a derivation timed elsewhere.
    let derived: Vec<Duration> = derivations().lock().unwrap()[log_start..]
        .iter()
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .collect();
    assert_eq!(derived.len(), n, "one derivation logged per action");
    let without: Vec<Duration> = http
        .iter()
        .zip(&derived)
        .map(|(h, d)| h.saturating_sub(*d))
        .collect();
    // The PIN's key derivation alone, as the unlock does it (argon2id, then HKDF and AES-GCM).
    let kek = docflow::credentials::crypto::Kek::from_bytes(&[7u8; 32]).unwrap();
    let aad = docflow::credentials::crypto::aad("bench", "user:bench");
    let sealed = docflow::credentials::crypto::seal(&kek, PIN, &aad, b"key").unwrap();
    let kdf: Vec<Duration> = (0..n.min(20))
        .map(|_| {
            let started = Instant::now();
            docflow::credentials::crypto::open(&kek, PIN, &aad, &sealed).unwrap();
            started.elapsed()
        })
        .collect();

    // The bare engine: the same file, key and stamp shape, in memory.
    let signer = Signer::new(
        cert.clone(),
        vec![ca.cert.clone()],
        Box::new(LocalKey::new(key).unwrap()),
    );
    let opts = SignOptions {
        visible: Some(Visible {
            page: 4,
            rect: [330.0, 60.0, 560.0, 200.0],
            lines: Some(vec![
                "GIÁM ĐỐC".into(),
                "Trần Văn Minh".into(),
                "Sở Lao động - Thương binh và Xã hội".into(),
                "2026-12-01T10:00:00+07:00".into(),
            ]),
            image_after_lines: Some(1),
            ..Visible::default()
        }),
        name: Some("Trần Văn Minh".into()),
        ..SignOptions::default()
    };
    let engine: Vec<Duration> = (0..n)
        .map(|_| {
            let mut doc = pdf.clone();
            let started = Instant::now();
            sign_vec(&mut doc, &signer, &opts).unwrap();
            started.elapsed()
        })
        .collect();

    let (h, e) = (median(http.clone()), median(engine));
    let w = median(without.clone());
    let tag = format!("{backend:?} {kind:?}");
    println!(
        "{tag}: sign action over HTTP, 1 MB PDF, {n} actions: median {:.1} ms, p90 {:.1} ms",
        ms(h),
        ms(p90(http))
    );
    println!(
        "{tag}:   its PIN derivation in the server (argon2id m=19 MiB t=2): median {:.1} ms; alone in this process: {:.1} ms",
        ms(median(derived)),
        ms(median(kdf))
    );
    println!(
        "{tag}:   the action without its derivation: median {:.1} ms (p90 {:.1}) = {:.1}× the bare engine",
        ms(w),
        ms(p90(without)),
        w.as_secs_f64() / e.as_secs_f64()
    );
    println!(
        "{tag}: bare engine sign_vec (same file, key, stamp), median {:.2} ms",
        ms(e)
    );
}

/// The `pin_derivation_ms` of every `signing PIN derived` event the server (in this process)
/// logged, in order.
fn derivations() -> &'static std::sync::Mutex<Vec<f64>> {
    static D: std::sync::OnceLock<std::sync::Mutex<Vec<f64>>> = std::sync::OnceLock::new();
    D.get_or_init(Default::default)
}

/// Collects `pin_derivation_ms` from the server's log events.
struct Derivations;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Derivations {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Field(Option<f64>);
        impl tracing::field::Visit for Field {
            fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
                if field.name() == "pin_derivation_ms" {
                    self.0 = Some(value);
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut f = Field(None);
        event.record(&mut f);
        if let Some(ms) = f.0 {
            derivations().lock().unwrap().push(ms);
        }
    }
}

fn main() {
    use tracing_subscriber::layer::SubscriberExt;
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Derivations))
        .expect("the bench's log collector");
    // `cargo bench` passes `--bench`; nothing else is read from the arguments.
    let n: usize = std::env::var("DOCFLOW_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    for kind in [KeyKind::P256, KeyKind::Rsa2048] {
        run(Backend::Sqlite, kind, n);
    }
    if std::env::var_os("TEST_DATABASE_URL").is_some() {
        for kind in [KeyKind::P256, KeyKind::Rsa2048] {
            run(Backend::Postgres, kind, n);
        }
    } else {
        println!("PostgreSQL: not run (set TEST_DATABASE_URL=postgres://…)");
    }
}
