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

use common::testca::{ca, identity, pkcs12_of, CertSpec};
use common::{Backend, TestServer};
use docflow::signing::{sign_vec, LocalKey, SignOptions, Signer, Visible};
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

fn run(backend: Backend, n: usize) {
    let ca = ca("docflow Bench CA");
    let roots = ca.pem.display().to_string();
    let srv = TestServer::start_with(backend, move |c| c.trust_roots_path = roots);
    let unit = srv.create_unit("SO", "Sở Lao động - Thương binh và Xã hội", None);
    let director = srv.create_user("director", "bench-password-1", Some(&unit), &["official"]);
    let token = srv.login("director", "bench-password-1");
    let (key, cert) = identity(&ca, &CertSpec::leaf("Trần Văn Minh"));
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

    let (h, k, e) = (median(http.clone()), median(kdf), median(engine));
    let without_kdf = h.saturating_sub(k);
    println!(
        "{backend:?}: sign action over HTTP, 1 MB PDF, {n} actions: median {:.1} ms, p90 {:.1} ms",
        ms(h),
        ms(p90(http))
    );
    println!(
        "{backend:?}:   of which the PIN's key derivation (argon2id m=19 MiB t=2): median {:.1} ms",
        ms(k)
    );
    println!(
        "{backend:?}:   the action without the key derivation: {:.1} ms = {:.1}× the bare engine",
        ms(without_kdf),
        without_kdf.as_secs_f64() / e.as_secs_f64()
    );
    println!(
        "{backend:?}: bare engine sign_vec (same file, key, stamp), median {:.1} ms",
        ms(e)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the arguments.
    let n: usize = std::env::var("DOCFLOW_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    run(Backend::Sqlite, n);
    if std::env::var_os("TEST_DATABASE_URL").is_some() {
        run(Backend::Postgres, n);
    } else {
        println!("PostgreSQL: not run (set TEST_DATABASE_URL=postgres://…)");
    }
}
