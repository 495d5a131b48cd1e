//! kill -9 during mixed load, again and again, then a last start: nothing acknowledged is lost
//! and nothing is half written. Each round starts the real `docflow serve` on the same database
//! and data folder, drives uploads, registrations, route starts (each queues an email) and
//! `sign` actions with a `server` credential from four client threads, and kills the process
//! (SIGKILL) after a random 0.3–1.5 s, mid-request. Then:
//! - every acknowledged upload is there, its file byte for byte;
//! - every acknowledged registration keeps its number, and each register's numbers are 1..n
//!   with no gap and no repeat;
//! - every stored version's file is in the store (no row points to a missing blob), and every
//!   version made by signing is a whole, valid signature over its parent (no half-signed file);
//! - every acknowledged signature is the document's version 2;
//! - the audit chain verifies;
//! - every queued email is sent, each under one Message-ID (a resend after a kill repeats it).
//!
//! `DOCFLOW_CRASH_ROUNDS` sets the number of kills (default 3, the CI run; `bash tests/crash.sh`
//! runs 20 per database).

use crate::common::smtp::SmtpSink;
use crate::common::testca::*;
use crate::common::{fixture, Backend, TestDb, TestServer};
use diesel::prelude::*;
use docflow::db::schema::{document_registrations, document_versions, notifications};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const PIN: &str = "246810";

fn rounds() -> usize {
    std::env::var("DOCFLOW_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// What the clients were told succeeded.
#[derive(Default)]
struct Acknowledged {
    /// document id → SHA-256 of the uploaded file.
    uploads: BTreeMap<String, String>,
    /// document id → number given.
    registrations: BTreeMap<String, i64>,
    /// document id → SHA-256 of the signed version.
    signatures: BTreeMap<String, String>,
    /// Incoming documents not registered yet.
    to_register: Vec<String>,
}

struct Office {
    clerk: String,
    signer: String,
    signer_id: String,
    credential: String,
    register: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    openssl::sha::sha256(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn settings(sink: &SmtpSink) -> Vec<(&'static str, String)> {
    vec![
        ("DOCFLOW_SMTP_URL", sink.url()),
        ("DOCFLOW_NOTIFY_POLL_MS", "100".to_string()),
        ("DOCFLOW_NOTIFY_RETRY_BASE_SECS", "1".to_string()),
        ("DOCFLOW_NOTIFY_RETRY_MAX_SECS", "2".to_string()),
        ("DOCFLOW_SMTP_TIMEOUT_SECS", "2".to_string()),
        ("DOCFLOW_NOTIFY_LEASE_SECS", "3".to_string()),
    ]
}

fn setup(srv: &TestServer, ca: &Ca) -> Office {
    let unit = srv.create_unit("VP", "Văn phòng Sở", None);
    srv.create_user("van.thu", "clerk-password-1", Some(&unit), &["clerk"]);
    let signer_id = srv.create_user(
        "giam.doc",
        "official-password-1",
        Some(&unit),
        &["official"],
    );
    let clerk = srv.login("van.thu", "clerk-password-1");
    let signer = srv.login("giam.doc", "official-password-1");
    let register = srv.create_register(&clerk, "incoming", "Sổ văn bản đến");
    let (key, cert) = identity(ca, &CertSpec::leaf("Nguyễn Văn Đức"));
    let r = srv.upload(
        "/api/v1/me/signing-credentials",
        Some(&signer),
        Some(&json!({"kind": "server", "label": "Chữ ký số", "pin": PIN, "password": "p12"})),
        Some((
            "chu-ky.p12",
            "application/x-pkcs12",
            pkcs12_of(&key, &cert, ca, "p12"),
        )),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    Office {
        clerk,
        signer,
        signer_id,
        credential: r.json["id"].as_str().unwrap().to_string(),
        register,
    }
}

/// An incoming paper with a symbol of its own (the same symbol and issuer twice would be
/// refused as a probable duplicate).
fn incoming(n: usize) -> Value {
    let symbol = uuid::Uuid::new_v4().as_u128() % 1_000_000_000;
    json!({"kind": "incoming", "type_code": "CV", "subject": format!("Công văn đến {n}"),
           "number_symbol": format!("{symbol}/UBND"), "issue_date": "2026-11-20",
           "issuer": "UBND tỉnh", "recipients": ["Văn phòng"]})
}

/// One client's loop until `stop`: its kind of work, recording what was acknowledged.
fn client(srv: &TestServer, o: &Office, kind: usize, stop: &AtomicBool, ack: &Mutex<Acknowledged>) {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let post = |path: &str, token: &str, body: &Value| {
        http.post(srv.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .ok()
            .and_then(|r| {
                let ok = r.status().is_success();
                let v: Option<Value> = r.json().ok();
                v.filter(|_| ok)
            })
    };
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        match kind {
            0 => {
                // Upload: a file of its own, so each is a new blob.
                let mut pdf = fixture("valid-minimal.pdf");
                pdf.extend_from_slice(format!("\n% {}\n", uuid::Uuid::new_v4()).as_bytes());
                let form = reqwest::blocking::multipart::Form::new()
                    .part(
                        "metadata",
                        reqwest::blocking::multipart::Part::text(incoming(n).to_string())
                            .mime_str("application/json")
                            .unwrap(),
                    )
                    .part(
                        "file",
                        reqwest::blocking::multipart::Part::bytes(pdf.clone())
                            .file_name("cv.pdf")
                            .mime_str("application/pdf")
                            .unwrap(),
                    );
                let r = http
                    .post(srv.url("/api/v1/documents"))
                    .bearer_auth(&o.clerk)
                    .multipart(form)
                    .send();
                if let Ok(r) = r {
                    if r.status().as_u16() == 201 {
                        if let Ok(v) = r.json::<Value>() {
                            let id = v["id"].as_str().unwrap().to_string();
                            let mut a = ack.lock().unwrap();
                            a.uploads.insert(id.clone(), sha256_hex(&pdf));
                            a.to_register.push(id);
                        }
                    }
                }
            }
            1 => {
                let next = ack.lock().unwrap().to_register.pop();
                let Some(doc) = next else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let body = json!({"register_id": o.register});
                // Not acknowledged: maybe registered before the kill, maybe not; the final
                // check of gap-free numbers covers it either way.
                if let Some(v) = post(
                    &format!("/api/v1/documents/{doc}/register"),
                    &o.clerk,
                    &body,
                ) {
                    ack.lock()
                        .unwrap()
                        .registrations
                        .insert(doc, v["number"].as_i64().unwrap());
                }
            }
            _ => {
                // A draft routed to one signer, who signs it (an email is queued at the start).
                let pdf = pdf_of(n);
                let form = reqwest::blocking::multipart::Form::new()
                    .part(
                        "metadata",
                        reqwest::blocking::multipart::Part::text(
                            json!({"kind": "outgoing", "type_code": "QĐ",
                                   "subject": format!("Quyết định {n}"),
                                   "recipients": ["UBND tỉnh"]})
                            .to_string(),
                        )
                        .mime_str("application/json")
                        .unwrap(),
                    )
                    .part(
                        "file",
                        reqwest::blocking::multipart::Part::bytes(pdf)
                            .file_name("qd.pdf")
                            .mime_str("application/pdf")
                            .unwrap(),
                    );
                let Some(doc) = http
                    .post(srv.url("/api/v1/documents"))
                    .bearer_auth(&o.signer)
                    .multipart(form)
                    .send()
                    .ok()
                    .filter(|r| r.status().as_u16() == 201)
                    .and_then(|r| r.json::<Value>().ok())
                else {
                    continue;
                };
                let doc = doc["id"].as_str().unwrap().to_string();
                let route = json!({"stages": [
                    {"kind": "sign", "assignees": [{"user": o.signer_id}]}]});
                if post(&format!("/api/v1/documents/{doc}/route"), &o.signer, &route).is_none() {
                    continue;
                }
                let Some(inbox) = http
                    .get(srv.url("/api/v1/tasks"))
                    .bearer_auth(&o.signer)
                    .send()
                    .ok()
                    .and_then(|r| r.json::<Value>().ok())
                else {
                    continue;
                };
                let Some(task) = inbox.as_array().and_then(|a| {
                    a.iter()
                        .find(|i| i["task"]["document_id"] == doc.as_str())
                        .and_then(|i| i["task"]["id"].as_str().map(str::to_string))
                }) else {
                    continue;
                };
                let sign = json!({"action": "sign", "credential_id": o.credential, "pin": PIN});
                if let Some(v) = post(&format!("/api/v1/tasks/{task}/actions"), &o.signer, &sign) {
                    let sha = v["signature"]["sha256"].as_str().unwrap().to_string();
                    ack.lock().unwrap().signatures.insert(doc, sha);
                }
            }
        }
    }
}

fn pdf_of(n: usize) -> Vec<u8> {
    let mut pdf = crate::pdfgen::table(1);
    pdf.extend_from_slice(format!("% bản {n} {}\n", uuid::Uuid::new_v4()).as_bytes());
    pdf
}

fn blob_exists(data: &Path, sha: &str) -> bool {
    data.join("blobs")
        .join("sha256")
        .join(&sha[..2])
        .join(&sha[2..4])
        .join(sha)
        .is_file()
}

fn killed_again_and_again_loses_nothing(b: Backend) {
    let sink = SmtpSink::start();
    let db = TestDb::new(b);
    let data = db.dir.path().join("data");
    let env = settings(&sink);
    let ca = ca("docflow Crash Test CA");
    let first = TestServer::spawn(db.shared(), data.clone(), &env);
    let o = setup(&first, &ca);
    let ack = Mutex::new(Acknowledged::default());
    let mut seed = 0x9e37_79b9_u64;
    let mut next = Some(first);
    for _ in 0..rounds() {
        let mut srv = next
            .take()
            .unwrap_or_else(|| TestServer::spawn(db.shared(), data.clone(), &env));
        let stop = AtomicBool::new(false);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let run = Duration::from_millis(300 + seed % 1200);
        std::thread::scope(|s| {
            for kind in 0..4 {
                let (srv, o, stop, ack) = (&srv, &o, &stop, &ack);
                s.spawn(move || client(srv, o, kind.min(2), stop, ack));
            }
            std::thread::sleep(run);
            // SIGKILL while the clients are mid-request.
            let pid = srv.pid().expect("a spawned server").to_string();
            let killed = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status();
            assert!(killed.is_ok_and(|s| s.success()), "kill -9 {pid}");
            stop.store(true, Ordering::SeqCst);
        });
        srv.kill();
    }

    // The last start: everything is checked through it and under it.
    let last = TestServer::spawn(db.shared(), data.clone(), &env);
    let ack = ack.into_inner().unwrap();
    assert!(
        !ack.uploads.is_empty() && !ack.signatures.is_empty(),
        "the load should have been acknowledged at least once (uploads {}, signatures {})",
        ack.uploads.len(),
        ack.signatures.len()
    );
    for (doc, sha) in &ack.uploads {
        let f = last.get(&format!("/api/v1/documents/{doc}/file"), Some(&o.clerk));
        assert_eq!(f.status, 200, "acknowledged upload {doc}: {}", f.text);
        assert_eq!(&sha256_hex(&f.bytes), sha, "acknowledged upload {doc}");
    }
    let mut conn = db.connect();
    let regs: Vec<(String, String, i64)> = document_registrations::table
        .select((
            document_registrations::document_id,
            document_registrations::register_id,
            document_registrations::number,
        ))
        .load(&mut conn)
        .expect("registrations");
    let by_doc: BTreeMap<&str, i64> = regs.iter().map(|r| (r.0.as_str(), r.2)).collect();
    for (doc, number) in &ack.registrations {
        assert_eq!(
            by_doc.get(doc.as_str()),
            Some(number),
            "acknowledged registration of {doc}"
        );
    }
    let mut numbers: Vec<i64> = regs
        .iter()
        .filter(|r| r.1 == o.register)
        .map(|r| r.2)
        .collect();
    numbers.sort();
    assert_eq!(
        numbers,
        (1..=numbers.len() as i64).collect::<Vec<i64>>(),
        "the register's numbers have a gap or a repeat"
    );
    let versions: Vec<(String, i32, String)> = document_versions::table
        .select((
            document_versions::document_id,
            document_versions::number,
            document_versions::blob_sha256,
        ))
        .load(&mut conn)
        .expect("versions");
    for (doc, n, sha) in &versions {
        assert!(
            blob_exists(&data, sha),
            "version {n} of {doc} points to a missing file"
        );
        if *n > 1 {
            let pdf = std::fs::read(
                data.join("blobs/sha256")
                    .join(&sha[..2])
                    .join(&sha[2..4])
                    .join(sha),
            )
            .unwrap();
            let report = docflow::signing::verify::verify_pdf(&pdf, std::slice::from_ref(&ca.cert))
                .expect("verify");
            assert_eq!(report.signatures.len(), 1, "{doc} v{n}: {report:#?}");
            assert!(
                report.all_valid,
                "a half-signed version {doc} v{n}: {report:#?}"
            );
        }
    }
    let signed: BTreeMap<&str, &str> = versions
        .iter()
        .filter(|v| v.1 == 2)
        .map(|v| (v.0.as_str(), v.2.as_str()))
        .collect();
    for (doc, sha) in &ack.signatures {
        assert_eq!(
            signed.get(doc.as_str()),
            Some(&sha.as_str()),
            "acknowledged signature of {doc}"
        );
    }
    let chain = last.get("/api/v1/audit/verify", Some(&last.admin_token));
    assert_eq!(chain.json["intact"], true, "{}", chain.text);

    // Every queued email goes out, each under one Message-ID.
    let deadline = Instant::now() + Duration::from_secs(90);
    let rows = loop {
        let rows: Vec<(String, Option<String>)> = notifications::table
            .select((notifications::state, notifications::message_id))
            .load(&mut conn)
            .expect("notifications");
        if rows.iter().all(|r| r.0 == "sent") {
            break rows;
        }
        assert!(Instant::now() < deadline, "emails still unsent: {rows:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let sent: BTreeSet<String> = rows.into_iter().filter_map(|r| r.1).collect();
    let received: BTreeSet<String> = sink
        .wait_for(sent.len(), Duration::from_secs(30))
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    assert_eq!(
        received, sent,
        "every email delivered, under its one Message-ID"
    );
    eprintln!(
        "{} rounds: {} uploads, {} registrations, {} signatures acknowledged; {} versions; {} emails",
        rounds(),
        ack.uploads.len(),
        ack.registrations.len(),
        ack.signatures.len(),
        versions.len(),
        sent.len()
    );
}

both_backends!(killed_again_and_again_loses_nothing);
