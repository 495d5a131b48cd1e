//! The S3 backend of the file store against a real S3 server on loopback (moto, from PyPI):
//! documents uploaded, downloaded whole and by range, identical content stored once, a refused
//! upload leaving no object, and a store that cannot be reached answering 503, on both databases.

use crate::common::moto::S3Server;
use crate::common::{fixture, Backend, TestServer};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn s3_server(b: Backend, s3: &S3Server, bucket: &str) -> TestServer {
    let endpoint = s3.endpoint.clone();
    let url = format!("s3://{bucket}/office-files");
    TestServer::start_with(b, move |c| {
        c.blob_url = url;
        c.s3_endpoint = endpoint;
        c.s3_access_key_id = "test-key".into();
        c.s3_secret_access_key = "test-secret".into();
        c.max_upload_bytes = 64 * 1024;
    })
}

fn clerk(srv: &TestServer) -> String {
    let unit = srv.create_unit("VP", "Văn phòng", None);
    srv.create_user("clerk.vp", "clerk-password-1", Some(&unit), &["clerk"]);
    srv.login("clerk.vp", "clerk-password-1")
}

fn incoming(subject: &str) -> Value {
    json!({
        "kind": "incoming",
        "type_code": "CV",
        "subject": subject,
        "number_symbol": "45/UBND-VX",
        "issue_date": "2026-11-20",
        "issuer": "Ủy ban nhân dân tỉnh",
        "recipients": ["Văn phòng"],
        "urgency": "normal",
        "confidentiality": "normal"
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    openssl::sha::sha256(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn documents_in_s3(b: Backend) {
    let s3 = S3Server::start();
    s3.create_bucket("docflow-test");
    let srv = s3_server(b, &s3, "docflow-test");
    let token = clerk(&srv);
    let pdf = fixture("valid-two-pages.pdf");
    let hash = sha256_hex(&pdf);

    let doc = srv.create_document(&token, &incoming("Công văn về việc lưu trữ"), pdf.clone());
    let id = doc["id"].as_str().unwrap().to_string();
    assert_eq!(doc["versions"][0]["page_count"], 2);
    let key = format!("office-files/sha256/{}/{}/{hash}", &hash[..2], &hash[2..4]);
    assert_eq!(
        s3.keys("docflow-test"),
        vec![key.clone()],
        "one object, under its hash"
    );

    // Whole file and a range come back from the bucket byte for byte.
    let f = srv.get(&format!("/api/v1/documents/{id}/file"), Some(&token));
    assert_eq!(f.status, 200, "{}", f.text);
    assert_eq!(f.bytes, pdf);
    assert_eq!(f.header("etag"), format!("\"{hash}\""));
    let part = srv.get_with(
        &format!("/api/v1/documents/{id}/file"),
        Some(&token),
        &[("range", "bytes=5-104")],
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.bytes, pdf[5..105]);

    // The same content again: stored once.
    srv.create_document(&token, &incoming("Bản sao cùng nội dung"), pdf.clone());
    assert_eq!(s3.keys("docflow-test"), vec![key]);

    // Too large: 413, and nothing reaches the bucket.
    let mut big = pdf.clone();
    big.resize(128 * 1024, b' ');
    let r = srv.upload(
        "/api/v1/documents",
        Some(&token),
        Some(&incoming("Quá lớn")),
        Some(("lon.pdf", "application/pdf", big)),
    );
    r.assert_problem(413, "payload_too_large");
    assert_eq!(s3.keys("docflow-test").len(), 1);
}

fn unreachable_store_is_503_and_keeps_nothing(b: Backend) {
    let s3 = S3Server::start();
    // The bucket is never created: every write fails on the S3 side.
    let srv = s3_server(b, &s3, "no-such-bucket");
    let token = clerk(&srv);
    let r = srv.upload(
        "/api/v1/documents",
        Some(&token),
        Some(&incoming("Không lưu được")),
        Some((
            "van-ban.pdf",
            "application/pdf",
            fixture("valid-minimal.pdf"),
        )),
    );
    r.assert_problem(503, "service_unavailable");
    let list = srv.get("/api/v1/documents", Some(&token));
    assert_eq!(list.status, 200);
    assert_eq!(
        list.json["items"].as_array().map(Vec::len),
        Some(0),
        "no half-written document"
    );
}

/// Nothing listens at the endpoint: the upload is refused within seconds, not minutes.
fn store_down_is_503_within_seconds(b: Backend) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let srv = TestServer::start_with(b, move |c| {
        c.blob_url = "s3://docflow-down".into();
        c.s3_endpoint = format!("http://127.0.0.1:{port}");
        c.s3_access_key_id = "test-key".into();
        c.s3_secret_access_key = "test-secret".into();
    });
    let token = clerk(&srv);
    let started = Instant::now();
    let r = srv.upload(
        "/api/v1/documents",
        Some(&token),
        Some(&incoming("Kho tệp ngừng hoạt động")),
        Some((
            "van-ban.pdf",
            "application/pdf",
            fixture("valid-minimal.pdf"),
        )),
    );
    r.assert_problem(503, "service_unavailable");
    assert_eq!(r.header("retry-after"), "30");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

both_backends!(
    documents_in_s3,
    unreachable_store_is_503_and_keeps_nothing,
    store_down_is_503_within_seconds
);
