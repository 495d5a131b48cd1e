//! Documents over HTTP, on both databases: streamed multipart uploads checked as PDFs,
//! content-addressed storage, downloads with ETag / Range / If-None-Match, versions,
//! attachments, search and paging.

use crate::common::{fixture, Backend, TestServer};
use diesel::prelude::*;
use serde_json::{json, Value};

fn incoming(subject: &str) -> Value {
    json!({
        "kind": "incoming",
        "type_code": "QĐ",
        "subject": subject,
        "number_symbol": "12/QĐ-UBND",
        "issue_date": "2026-11-20",
        "issue_place": "Hà Nội",
        "issuer": "Ủy ban nhân dân tỉnh Hà Giang",
        "signer_name": "Nguyễn Văn A",
        "signer_position": "Chủ tịch",
        "recipients": ["Sở Lao động - Thương binh và Xã hội", "Lưu: VT"],
        "urgency": "urgent",
        "confidentiality": "normal",
        "handling_deadline": "2026-12-05",
        "received_channel": "national_platform",
        "page_count": 1,
        "notes": "Bản điện tử"
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    openssl::sha::sha256(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn blob_files(srv: &TestServer) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![srv.data_dir().join("blobs")];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with(".staging") {
                    stack.push(p);
                }
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn audit_actions(srv: &TestServer, doc: &str) -> Vec<String> {
    let r = srv.get(
        &format!("/api/v1/audit/events?object_type=document&object_id={doc}&limit=500"),
        Some(&srv.admin_token),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

fn upload_download_versions_attachments(b: Backend) {
    let srv = TestServer::start(b);
    let (unit, clerk, _official) = srv.office("VP");
    let pdf = fixture("valid-minimal.pdf");
    let doc = srv.create_document(
        &clerk,
        &incoming("Quyết định phê duyệt kế hoạch năm 2027"),
        pdf.clone(),
    );
    let id = doc["id"].as_str().unwrap().to_string();
    assert_eq!(doc["kind"], "incoming");
    assert_eq!(doc["status"], "received");
    assert_eq!(doc["unit_id"], unit.as_str());
    assert_eq!(doc["urgency"], "urgent");
    assert_eq!(doc["confidentiality"], "normal");
    assert_eq!(doc["issuer"], "Ủy ban nhân dân tỉnh Hà Giang");
    assert_eq!(
        doc["recipients"],
        json!(["Sở Lao động - Thương binh và Xã hội", "Lưu: VT"])
    );
    assert!(
        doc["received_at"].is_string(),
        "received time defaults to now"
    );
    let v1 = &doc["versions"][0];
    assert_eq!(v1["number"], 1);
    assert_eq!(v1["sha256"], sha256_hex(&pdf));
    assert_eq!(v1["size"], pdf.len());
    assert_eq!(v1["page_count"], 1);
    assert_eq!(v1["signable"], true);
    assert!(v1["signable_reason"].is_null());
    assert!(v1["pdf_version"].as_str().unwrap().starts_with("1."));
    assert_eq!(v1["file_name"], "van-ban.pdf");

    let got = srv.get(&format!("/api/v1/documents/{id}"), Some(&clerk));
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(
        got.json["subject"],
        "Quyết định phê duyệt kế hoạch năm 2027"
    );

    // Whole file, with its hash as ETag.
    let f = srv.get(&format!("/api/v1/documents/{id}/file"), Some(&clerk));
    assert_eq!(f.status, 200);
    assert_eq!(f.bytes, pdf);
    assert_eq!(f.header("content-type"), "application/pdf");
    assert_eq!(f.header("content-length"), pdf.len().to_string());
    assert_eq!(f.header("etag"), format!("\"{}\"", sha256_hex(&pdf)));
    assert_eq!(f.header("accept-ranges"), "bytes");
    let etag = f.header("etag").to_string();
    // Conditional and ranged reads.
    let nm = srv.get_with(
        &format!("/api/v1/documents/{id}/file"),
        Some(&clerk),
        &[("if-none-match", &etag)],
    );
    assert_eq!(nm.status, 304);
    assert!(nm.bytes.is_empty());
    let r = srv.get_with(
        &format!("/api/v1/documents/{id}/file"),
        Some(&clerk),
        &[("range", "bytes=0-4")],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.bytes, b"%PDF-");
    assert_eq!(
        r.header("content-range"),
        format!("bytes 0-4/{}", pdf.len())
    );
    assert_eq!(r.header("content-length"), "5");
    let tail = srv.get_with(
        &format!("/api/v1/documents/{id}/file"),
        Some(&clerk),
        &[("range", "bytes=-6")],
    );
    assert_eq!(tail.status, 206);
    assert_eq!(tail.bytes, &pdf[pdf.len() - 6..]);
    let open = srv.get_with(
        &format!("/api/v1/documents/{id}/file"),
        Some(&clerk),
        &[("range", "bytes=100-")],
    );
    assert_eq!(open.status, 206);
    assert_eq!(open.bytes, &pdf[100..]);
    let bad = srv.get_with(
        &format!("/api/v1/documents/{id}/file"),
        Some(&clerk),
        &[("range", "bytes=99999-")],
    );
    bad.assert_problem(416, "range_not_satisfiable");
    assert_eq!(
        bad.header("content-range"),
        format!("bytes */{}", pdf.len())
    );

    // A second version; the latest is served, the first stays.
    let two = fixture("valid-two-pages.pdf");
    let r = srv.upload(
        &format!("/api/v1/documents/{id}/versions"),
        Some(&clerk),
        None,
        Some(("ban-sua.pdf", "application/pdf", two.clone())),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["number"], 2);
    assert_eq!(r.json["page_count"], 2);
    assert_eq!(
        srv.get(&format!("/api/v1/documents/{id}/file"), Some(&clerk))
            .bytes,
        two
    );
    assert_eq!(
        srv.get(
            &format!("/api/v1/documents/{id}/versions/1/file"),
            Some(&clerk)
        )
        .bytes,
        pdf
    );
    assert_eq!(
        srv.get(
            &format!("/api/v1/documents/{id}/versions/2/file"),
            Some(&clerk)
        )
        .bytes,
        two
    );
    srv.get(
        &format!("/api/v1/documents/{id}/versions/3/file"),
        Some(&clerk),
    )
    .assert_problem(404, "not_found");

    // An attachment of any type.
    let r = srv.upload(
        &format!("/api/v1/documents/{id}/attachments"),
        Some(&clerk),
        None,
        Some((
            "phụ lục 1.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            b"PK fake spreadsheet".to_vec(),
        )),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let att = r.json["id"].as_str().unwrap().to_string();
    assert_eq!(r.json["file_name"], "phụ lục 1.xlsx");
    let a = srv.get(
        &format!("/api/v1/documents/{id}/attachments/{att}/file"),
        Some(&clerk),
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.bytes, b"PK fake spreadsheet");
    assert!(
        a.header("content-disposition").contains("attachment"),
        "{}",
        a.header("content-disposition")
    );
    assert!(
        a.header("content-disposition")
            .contains("filename*=UTF-8''ph%E1%BB%A5"),
        "{}",
        a.header("content-disposition")
    );
    let full = srv.get(&format!("/api/v1/documents/{id}"), Some(&clerk));
    assert_eq!(full.json["versions"].as_array().unwrap().len(), 2);
    assert_eq!(full.json["attachments"].as_array().unwrap().len(), 1);

    // Identical content is stored once: a second document with the same PDF adds no file.
    let before = blob_files(&srv).len();
    assert_eq!(before, 3, "{:?}", blob_files(&srv));
    srv.create_document(&clerk, &incoming("Bản trùng nội dung"), pdf.clone());
    assert_eq!(blob_files(&srv).len(), before);
    let mut conn = srv.db.connect();
    let blobs: i64 = docflow::db::schema::blobs::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(blobs, 3);

    // Every change and every download left its trace; looking at an ordinary document does
    // not write to the chain (only a classified one's does, see `classified_reads_are_recorded`).
    let actions = audit_actions(&srv, &id);
    assert!(
        !actions.iter().any(|x| x == "document.viewed"),
        "{actions:?}"
    );
    for a in [
        "document.created",
        "document.file_downloaded",
        "document.version_added",
        "document.attachment_added",
        "document.attachment_downloaded",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
    let chain = srv.get("/api/v1/audit/verify", Some(&srv.admin_token));
    assert_eq!(chain.json["intact"], true, "{}", chain.text);
}

fn refused_uploads_leave_nothing(b: Backend) {
    let srv = TestServer::start_with(b, |c| c.max_upload_bytes = 16 * 1024);
    let (_unit, clerk, official) = srv.office("VP");
    let meta = incoming("Công văn về việc kiểm tra");
    let up = |m: Option<&Value>, file: Option<(&str, &str, Vec<u8>)>| {
        srv.upload("/api/v1/documents", Some(&clerk), m, file)
    };
    // Not a PDF, password-protected.
    let r = up(
        Some(&meta),
        Some((
            "x.pdf",
            "application/pdf",
            fixture("hopeless-not-a-pdf.pdf"),
        )),
    );
    r.assert_problem(422, "pdf_not_pdf");
    let r = up(
        Some(&meta),
        Some((
            "x.pdf",
            "application/pdf",
            b"PK\x03\x04 a zip, not a pdf".to_vec(),
        )),
    );
    r.assert_problem(422, "pdf_not_pdf");
    let r = up(
        Some(&meta),
        Some((
            "x.pdf",
            "application/pdf",
            fixture("encrypted-rc4-128-user-password.pdf"),
        )),
    );
    r.assert_problem(422, "pdf_encrypted");
    assert!(
        r.json["detail"].as_str().unwrap().contains("password"),
        "{}",
        r.text
    );
    let r = up(
        Some(&meta),
        Some((
            "x.pdf",
            "application/pdf",
            b"%PDF-1.7\nnothing else here\n".to_vec(),
        )),
    );
    r.assert_problem(422, "pdf_unreadable");
    // Too large.
    let mut big = fixture("valid-minimal.pdf");
    big.extend(std::iter::repeat_n(b' ', 20 * 1024));
    let r = up(Some(&meta), Some(("big.pdf", "application/pdf", big)));
    r.assert_problem(413, "payload_too_large");
    // Metadata problems name the field.
    let mut m = meta.clone();
    m["urgency"] = json!("asap");
    let r = up(
        Some(&m),
        Some(("x.pdf", "application/pdf", fixture("valid-minimal.pdf"))),
    );
    r.assert_problem(400, "invalid_field");
    assert_eq!(r.json["field"], "urgency");
    assert!(
        r.json["detail"].as_str().unwrap().contains("very_urgent"),
        "{}",
        r.text
    );
    let mut m = meta.clone();
    m["confidentiality"] = json!("mật");
    let r = up(
        Some(&m),
        Some(("x.pdf", "application/pdf", fixture("valid-minimal.pdf"))),
    );
    r.assert_problem(400, "invalid_field");
    assert_eq!(r.json["field"], "confidentiality");
    let mut m = meta.clone();
    m["type_code"] = json!("XYZ");
    let r = up(
        Some(&m),
        Some(("x.pdf", "application/pdf", fixture("valid-minimal.pdf"))),
    );
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.json["field"], "type_code");
    let mut m = meta.clone();
    m["subject"] = json!("  ");
    up(
        Some(&m),
        Some(("x.pdf", "application/pdf", fixture("valid-minimal.pdf"))),
    )
    .assert_problem(422, "validation_failed");
    let r = up(
        None,
        Some(("x.pdf", "application/pdf", fixture("valid-minimal.pdf"))),
    );
    r.assert_problem(400, "invalid_field");
    assert_eq!(r.json["field"], "metadata");
    let r = up(Some(&meta), None);
    r.assert_problem(400, "invalid_field");
    assert_eq!(r.json["field"], "file");
    srv.send_raw(
        "POST",
        "/api/v1/documents",
        Some(&clerk),
        "application/json",
        b"{}".to_vec(),
    )
    .assert_problem(415, "unsupported_media_type");
    // Only clerks register incoming papers.
    srv.upload(
        "/api/v1/documents",
        Some(&official),
        Some(&meta),
        Some(("x.pdf", "application/pdf", fixture("valid-minimal.pdf"))),
    )
    .assert_problem(403, "forbidden");
    srv.upload(
        "/api/v1/documents",
        None,
        Some(&meta),
        Some(("x.pdf", "application/pdf", fixture("valid-minimal.pdf"))),
    )
    .assert_problem(401, "unauthorized");

    // Nothing was kept: no row, no blob reference, no file.
    let mut conn = srv.db.connect();
    use docflow::db::schema::{blobs, document_versions, documents};
    assert_eq!(
        documents::table
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap(),
        0
    );
    assert_eq!(
        document_versions::table
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap(),
        0
    );
    assert_eq!(
        blobs::table.count().get_result::<i64>(&mut conn).unwrap(),
        0
    );
    assert!(blob_files(&srv).is_empty(), "{:?}", blob_files(&srv));

    // A certified file (DocMDP P=1) is accepted, marked not signable, with the reason.
    let doc = srv.create_document(&clerk, &meta, fixture("certified-docmdp-p1-no-changes.pdf"));
    let v = &doc["versions"][0];
    assert_eq!(v["signable"], false, "{doc}");
    assert!(
        v["signable_reason"].as_str().unwrap().contains("certified"),
        "{doc}"
    );
}

// ---- issue 11: cut and trickling bodies, characters in uploads, staging left by a kill ----

/// Files ending in `.part` anywhere under the server's data folder (staging files).
fn part_files(srv: &TestServer) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![srv.data_dir()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "part") {
                out.push(p);
            }
        }
    }
    out
}

fn connect(srv: &TestServer) -> std::net::TcpStream {
    let s = std::net::TcpStream::connect(srv.base.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    s
}

/// Reads one response from `s` (status, JSON body); gives up at the read timeout.
fn read_response(s: &mut std::net::TcpStream) -> (u16, Value) {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if len.is_some_and(|n| buf.len() >= end + 4 + n) {
                break;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("no answer: {e} (got {:?})", String::from_utf8_lossy(&buf)),
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

const BOUNDARY: &str = "docflow-test-boundary";

fn multipart_head(token: &str, path: &str, content_length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Content-Length: {content_length}\r\n\r\n"
    )
}

fn metadata_part(meta: &Value) -> Vec<u8> {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\
         Content-Type: application/json\r\n\r\n{meta}\r\n"
    )
    .into_bytes()
}

fn file_part_head(file_name: &str) -> Vec<u8> {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/pdf\r\n\r\n"
    )
    .into_bytes()
}

/// Item 2: a body that ends after the file part's CRLF, without the closing boundary, is a
/// 400 `multipart_invalid` at once (actix-multipart 0.7 never answered) and leaves no staging
/// file.
fn cut_multipart_body_is_refused_at_once(b: Backend) {
    use std::io::Write;
    let srv = TestServer::start(b);
    let (_unit, clerk, _official) = srv.office("VP");
    let mut body = metadata_part(&incoming("Công văn bị cắt"));
    body.extend(file_part_head("cut.pdf"));
    body.extend(fixture("valid-minimal.pdf"));
    body.extend(b"\r\n");
    let mut s = connect(&srv);
    s.write_all(multipart_head(&clerk, "/api/v1/documents", body.len()).as_bytes())
        .unwrap();
    s.write_all(&body).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let started = std::time::Instant::now();
    let (status, problem) = read_response(&mut s);
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["code"], "multipart_invalid", "{problem}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(part_files(&srv).is_empty(), "{:?}", part_files(&srv));
    let r = srv.get("/api/v1/documents", Some(&clerk));
    assert_eq!(
        r.json["items"].as_array().map(Vec::len),
        Some(0),
        "{}",
        r.text
    );
}

/// Item 8: a body trickling in (a byte every half second) is cut off with 408 `body_timeout`
/// after `body_timeout_secs`, for JSON and for uploads, and the upload leaves no staging file.
fn trickling_bodies_time_out(b: Backend) {
    use std::io::Write;
    let srv = TestServer::start_with(b, |c| c.body_timeout_secs = 2);
    let (_unit, clerk, _official) = srv.office("VP");
    let trickle = |mut s: std::net::TcpStream| {
        std::thread::spawn(move || {
            for _ in 0..40 {
                if s.write_all(b" ").is_err() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        })
    };
    // JSON.
    let mut s = connect(&srv);
    s.write_all(
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let writer = trickle(s.try_clone().unwrap());
    let (status, problem) = read_response(&mut s);
    assert_eq!(status, 408, "{problem}");
    assert_eq!(problem["code"], "body_timeout", "{problem}");
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    drop(s);
    writer.join().unwrap();
    // An upload, stuck in its file part.
    let mut body = metadata_part(&incoming("Công văn chậm"));
    body.extend(file_part_head("slow.pdf"));
    body.extend(b"%PDF-1.7\n");
    let mut s = connect(&srv);
    s.write_all(multipart_head(&clerk, "/api/v1/documents", body.len() + 10_000).as_bytes())
        .unwrap();
    s.write_all(&body).unwrap();
    let started = std::time::Instant::now();
    let writer = trickle(s.try_clone().unwrap());
    let (status, problem) = read_response(&mut s);
    assert_eq!(status, 408, "{problem}");
    assert_eq!(problem["code"], "body_timeout", "{problem}");
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    drop(s);
    writer.join().unwrap();
    assert!(part_files(&srv).is_empty(), "{:?}", part_files(&srv));
}

/// Items 3 and 4: NUL and control characters in upload metadata, file names and query
/// strings are refused naming the field (NUL was a 500 on PostgreSQL); a file name with a
/// bidirectional override (`\u{202E}fdp.exe` shows as `exe.pdf`) is refused.
fn characters_in_uploads_and_queries(b: Backend) {
    use std::io::Write;
    let srv = TestServer::start(b);
    let (_unit, clerk, _official) = srv.office("VP");
    let pdf = || ("x.pdf", "application/pdf", fixture("valid-minimal.pdf"));
    let mut m = incoming("Công văn\u{0}");
    let r = srv.upload("/api/v1/documents", Some(&clerk), Some(&m), Some(pdf()));
    r.assert_problem(400, "invalid_character");
    assert_eq!(r.json["field"], "subject", "{}", r.text);
    m = incoming("Công văn");
    m["issuer"] = json!("Ủy ban\nnhân dân");
    let r = srv.upload("/api/v1/documents", Some(&clerk), Some(&m), Some(pdf()));
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.json["field"], "issuer", "{}", r.text);
    m = incoming("Công văn");
    m["recipients"] = json!(["Sở Y tế", "Lưu:\u{202E}VT"]);
    let r = srv.upload("/api/v1/documents", Some(&clerk), Some(&m), Some(pdf()));
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.json["field"], "recipients[1]", "{}", r.text);
    // Free text keeps its line breaks.
    let doc = srv.create_document(
        &clerk,
        &incoming("Công văn về việc\nkiểm tra"),
        fixture("valid-minimal.pdf"),
    );
    let id = doc["id"].as_str().unwrap();
    // A file name in raw UTF-8 with a right-to-left override.
    let mut body = file_part_head("\u{202E}fdp.exe");
    body.extend(b"MZ not really a program");
    body.extend(format!("\r\n--{BOUNDARY}--\r\n").into_bytes());
    let mut s = connect(&srv);
    let path = format!("/api/v1/documents/{id}/attachments");
    s.write_all(multipart_head(&clerk, &path, body.len()).as_bytes())
        .unwrap();
    s.write_all(&body).unwrap();
    let (status, problem) = read_response(&mut s);
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "validation_failed", "{problem}");
    assert_eq!(problem["field"], "file.filename", "{problem}");
    let r = srv.get(&format!("/api/v1/documents/{id}"), Some(&clerk));
    assert_eq!(r.json["attachments"], json!([]), "{}", r.text);
    // Query strings.
    let r = srv.get("/api/v1/documents?q=%00", Some(&clerk));
    r.assert_problem(400, "invalid_character");
    assert_eq!(r.json["field"], "q", "{}", r.text);
    let r = srv.get("/api/v1/documents?q=ki%E1%BB%83m%0Atra", Some(&clerk));
    r.assert_problem(400, "invalid_character");
    let r = srv.get("/api/v1/documents?q=ki%E1%BB%83m", Some(&clerk));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(part_files(&srv).is_empty(), "{:?}", part_files(&srv));
}

fn drafts_belong_to_their_drafter(b: Backend) {
    let srv = TestServer::start(b);
    let (_unit, clerk, official) = srv.office("VP");
    let draft = srv.create_document(
        &official,
        &json!({"kind": "outgoing", "type_code": "TTr", "subject": "Tờ trình xin kinh phí", "recipients": ["UBND tỉnh"]}),
        fixture("valid-minimal.pdf"),
    );
    assert_eq!(draft["status"], "draft");
    let id = draft["id"].as_str().unwrap();
    // The drafter adds versions; the unit's clerk sees it too.
    let r = srv.upload(
        &format!("/api/v1/documents/{id}/versions"),
        Some(&official),
        None,
        Some(("v2.pdf", "application/pdf", fixture("valid-two-pages.pdf"))),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        srv.get(&format!("/api/v1/documents/{id}"), Some(&clerk))
            .status,
        200
    );
    // Outgoing documents are numbered at issuance, not here.
    let reg = srv.create_register(&clerk, "outgoing", "Sổ văn bản đi");
    srv.post(
        &format!("/api/v1/documents/{id}/register"),
        Some(&clerk),
        &json!({"register_id": reg}),
    )
    .assert_problem(409, "numbered_at_issuance");
    // Another official of the same unit does not see someone else's draft.
    let unit = srv.get("/api/v1/me", Some(&official)).json["unit"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    srv.create_user(
        "other.official",
        "official-password-2",
        Some(&unit),
        &["official"],
    );
    let other = srv.login("other.official", "official-password-2");
    srv.get(&format!("/api/v1/documents/{id}"), Some(&other))
        .assert_problem(404, "not_found");
    srv.upload(
        &format!("/api/v1/documents/{id}/versions"),
        Some(&other),
        None,
        Some(("v3.pdf", "application/pdf", fixture("valid-minimal.pdf"))),
    )
    .assert_problem(404, "not_found");
}

fn list_search_and_pages(b: Backend) {
    let srv = TestServer::start(b);
    let (_unit, clerk, _official) = srv.office("VP");
    let subjects = [
        (
            "QĐ",
            "Quyết định về việc khen thưởng",
            "normal",
            "Ủy ban nhân dân tỉnh",
        ),
        (
            "CV",
            "Công văn hướng dẫn quyết toán",
            "flash",
            "Bộ Tài chính",
        ),
        (
            "TB",
            "Thông báo lịch họp giao ban",
            "normal",
            "Văn phòng UBND tỉnh",
        ),
        ("KH", "Kế hoạch ĐÀO TẠO năm 2027", "urgent", "Sở Nội vụ"),
        ("GM", "Giấy mời dự hội nghị", "normal", "Sở Nội vụ"),
    ];
    for (t, s, u, i) in subjects {
        let mut m = incoming(s);
        m["type_code"] = json!(t);
        m["urgency"] = json!(u);
        m["issuer"] = json!(i);
        m["number_symbol"] = json!(format!("1/{t}"));
        srv.create_document(&clerk, &m, fixture("valid-minimal.pdf"));
    }
    let list = |q: &str| {
        let r = srv.get(&format!("/api/v1/documents?{q}"), Some(&clerk));
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        r.json
    };
    let subjects_of = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["subject"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(list("")["items"].as_array().unwrap().len(), 5);
    // Diacritic- and case-insensitive text search.
    assert_eq!(
        subjects_of(&list("q=quyet%20dinh")),
        vec!["Quyết định về việc khen thưởng"]
    );
    assert_eq!(
        subjects_of(&list("q=QUYẾT")),
        vec![
            "Công văn hướng dẫn quyết toán",
            "Quyết định về việc khen thưởng"
        ]
    );
    assert_eq!(
        subjects_of(&list("q=dao%20tao")),
        vec!["Kế hoạch ĐÀO TẠO năm 2027"]
    );
    assert!(
        subjects_of(&list("q=100%25")).is_empty(),
        "LIKE wildcards are literal"
    );
    assert_eq!(subjects_of(&list("issuer=so%20noi%20vu")).len(), 2);
    assert_eq!(
        subjects_of(&list("urgency=flash")),
        vec!["Công văn hướng dẫn quyết toán"]
    );
    assert_eq!(
        subjects_of(&list("type_code=GM")),
        vec!["Giấy mời dự hội nghị"]
    );
    assert_eq!(subjects_of(&list("kind=incoming&status=received")).len(), 5);
    assert!(subjects_of(&list("status=registered")).is_empty());
    assert_eq!(
        subjects_of(&list("issue_date_from=2026-11-20&issue_date_to=2026-11-20")).len(),
        5
    );
    assert!(subjects_of(&list("issue_date_from=2026-11-21")).is_empty());
    // Unknown enum values and sorts are refused.
    srv.get("/api/v1/documents?urgency=asap", Some(&clerk))
        .assert_problem(400, "invalid_query");
    srv.get("/api/v1/documents?sort=subject", Some(&clerk))
        .assert_problem(422, "validation_failed");
    srv.get("/api/v1/documents?cursor=garbage", Some(&clerk))
        .assert_problem(422, "validation_failed");
    // Pages of two, newest first, then oldest first; no item twice, none lost.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("limit=2&cursor={c}"),
            None => "limit=2".to_string(),
        };
        let page = list(&q);
        seen.extend(subjects_of(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(seen[0], "Giấy mời dự hội nghị");
    let asc = subjects_of(&list("sort=created_at&limit=5"));
    let mut rev = seen.clone();
    rev.reverse();
    assert_eq!(asc, rev);
}

/// Search finds exactly the documents whose folded subject (or issuer) contains the folded
/// text (the folding; the escaping of `%`, `_` and `\`; short and long texts): random
/// subjects and issuers of Vietnamese words, wildcards and backslashes, searched for random
/// pieces of them and for words that are not there, against `str::contains` on the folded
/// text. (On PostgreSQL the planner reads these 24 rows one by one; its trigram indexes are
/// for large tables, and what they offer PostgreSQL rechecks itself.) The seed is printed on
/// failure.
fn search_finds_what_contains_finds(b: Backend) {
    use docflow::documents::model::fold;
    use rand::{rngs::StdRng, Rng, SeedableRng};
    let seed: u64 = rand::thread_rng().gen();
    let mut rng = StdRng::seed_from_u64(seed);
    // Five rows are walked, then the trigram indexes (PostgreSQL's `pg_trgm`, SQLite's
    // `documents_fts`) are asked for the rest of the page: both parts of a search and the
    // boundary between them are used by almost every search here.
    let srv = TestServer::start_with(b, |c| c.search_walk_rows = 5);
    let (_unit, clerk, _official) = srv.office("VP");
    let words = [
        "Quyết",
        "định",
        "KẾ",
        "hoạch",
        "kế",
        "100%",
        "a_b",
        "c\\d",
        "Đào",
        "tạo",
        "người",
        "có",
        "công",
        "ưu",
        "đãi",
        "x",
        "Ơn",
        "năm",
        "2027",
        "%_",
        "Sở",
        "Nội",
        "vụ",
        // FTS5 query syntax, which must stay literal text: quotes, operators, column filters.
        "\"trích\"",
        "a*b:",
        "NEAR(",
        "{x}",
        "AND",
        "'y'",
        // A zero-width joiner: not a control or bidirectional character, so stored and searched
        // like any other letter (a right-to-left override is refused at creation).
        "c\u{200D}d",
    ];
    let phrase = |rng: &mut StdRng| -> String {
        let n = rng.gen_range(1..=5);
        (0..n)
            .map(|_| words[rng.gen_range(0..words.len())])
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut docs = Vec::new();
    for i in 0..24 {
        let subject = format!("{} {i}", phrase(&mut rng));
        let issuer = phrase(&mut rng);
        let mut m = incoming(&subject);
        m["issuer"] = json!(issuer);
        srv.create_document(&clerk, &m, fixture("valid-minimal.pdf"));
        docs.push((subject, issuer));
    }
    let encode = |t: &str| -> String {
        t.bytes()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    (c as char).to_string()
                } else {
                    format!("%{c:02X}")
                }
            })
            .collect()
    };
    // One page of a search, in the listing's order: subjects and the next cursor.
    let page = |query: &str| -> (Vec<String>, Option<String>) {
        let r = srv.get(&format!("/api/v1/documents?{query}"), Some(&clerk));
        assert_eq!(r.status, 200, "seed {seed}: {query}: {}", r.text);
        let subjects = r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["subject"].as_str().unwrap().to_string())
            .collect();
        (subjects, r.json["next_cursor"].as_str().map(String::from))
    };
    let found = |param: &str, term: &str, sort: &str| -> Vec<String> {
        let query = format!("{param}={}&sort={sort}", encode(term));
        let (all, _) = page(&format!("{query}&limit=200"));
        // The same search three at a time, cursor after cursor: the same rows, in order.
        let mut paged = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let q = match &cursor {
                Some(c) => format!("{query}&limit=3&cursor={c}"),
                None => format!("{query}&limit=3"),
            };
            let (items, next) = page(&q);
            paged.extend(items);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
            assert!(
                paged.len() <= all.len(),
                "seed {seed}: {query}: pages run on"
            );
        }
        assert_eq!(paged, all, "seed {seed}: {query}: pages of three");
        all
    };
    let mut terms: Vec<String> = Vec::new();
    for _ in 0..40 {
        // A piece of a stored subject or issuer, 1 to 12 characters long.
        let (subject, issuer) = &docs[rng.gen_range(0..docs.len())];
        let source: Vec<char> = if rng.gen_bool(0.5) { subject } else { issuer }
            .chars()
            .collect();
        let start = rng.gen_range(0..source.len());
        let len = rng.gen_range(1..=12).min(source.len() - start);
        terms.push(source[start..start + len].iter().collect());
    }
    for _ in 0..10 {
        terms.push(phrase(&mut rng));
    }
    terms.extend(
        [
            "zzz",
            "quyet dinh",
            "%",
            "_",
            "\\",
            "a_b",
            "100%",
            "ke",
            "\"",
            "\"trich\"",
            "a*b:",
            "near(",
            "{x} and",
            "a\u{202E}b",
            "\u{202E}b",
        ]
        .map(String::from),
    );
    let mut indexed = 0;
    for term in &terms {
        let folded = fold(term.trim());
        for (param, column) in [("q", 0), ("issuer", 1)] {
            let mut want: Vec<String> = docs
                .iter()
                .filter(|d| {
                    let text = if column == 0 { &d.0 } else { &d.1 };
                    fold(text).contains(&folded)
                })
                .map(|d| d.0.clone())
                .collect();
            want.sort();
            let sort =
                ["-created_at", "created_at", "-updated_at", "updated_at"][rng.gen_range(0..4)];
            let mut got = found(param, term, sort);
            got.sort();
            assert_eq!(
                got, want,
                "seed {seed}: {param}={term:?} (folded {folded:?}), sort {sort}"
            );
        }
        if folded.chars().count() >= 3 {
            indexed += 1;
        }
    }
    // Texts long enough for a trigram index (three characters or more) are well represented.
    assert!(
        indexed >= 10,
        "seed {seed}: only {indexed} searches of three characters or more"
    );
}

/// A valid one-page PDF whose content stream makes it about `size` bytes.
fn big_pdf(size: usize) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    let content: Vec<u8> = b"0 0 m 10 10 l S\n"
        .iter()
        .copied()
        .cycle()
        .take(size)
        .collect();
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>".to_vec(),
        [
            format!("<< /Length {} >>\nstream\n", content.len()).into_bytes(),
            content,
            b"\nendstream".to_vec(),
        ]
        .concat(),
    ];
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).into_bytes());
        out.extend(body);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).into_bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").into_bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .into_bytes(),
    );
    out
}

fn large_file_round_trip(b: Backend) {
    let srv = TestServer::start(b);
    let (_unit, clerk, _official) = srv.office("VP");
    let pdf = big_pdf(6 * 1024 * 1024);
    let doc = srv.create_document(&clerk, &incoming("Báo cáo tổng hợp (tệp lớn)"), pdf.clone());
    let id = doc["id"].as_str().unwrap();
    let v = &doc["versions"][0];
    assert_eq!(v["signable"], true, "{doc}");
    assert_eq!(v["size"], pdf.len());
    assert_eq!(v["sha256"], sha256_hex(&pdf));
    let whole = srv.get(&format!("/api/v1/documents/{id}/file"), Some(&clerk));
    assert_eq!(whole.bytes.len(), pdf.len());
    assert!(whole.bytes == pdf, "the download is the upload");
    let (a, z) = (3_000_000usize, 3_999_999usize);
    let part = srv.get_with(
        &format!("/api/v1/documents/{id}/file"),
        Some(&clerk),
        &[("range", &format!("bytes={a}-{z}"))],
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.header("content-length"), "1000000");
    assert!(part.bytes == pdf[a..=z], "the range is the right slice");
}

fn same_file_uploaded_at_once(b: Backend) {
    let srv = TestServer::start_with(b, |c| c.db_pool_size = 8);
    let (_unit, clerk, _official) = srv.office("VP");
    let pdf = big_pdf(200_000);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (srv, clerk, pdf) = (&srv, &clerk, pdf.clone());
                s.spawn(move || {
                    let r = srv.upload(
                        "/api/v1/documents",
                        Some(clerk),
                        Some(&incoming(&format!("Bản {i}"))),
                        Some(("same.pdf", "application/pdf", pdf)),
                    );
                    assert_eq!(r.status, 201, "{}", r.text);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    let mut conn = srv.db.connect();
    let blobs: i64 = docflow::db::schema::blobs::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(blobs, 1);
    assert_eq!(blob_files(&srv).len(), 1, "{:?}", blob_files(&srv));
}

/// A tmpfs of a few MiB mounted on a fresh folder, unmounted when dropped: a disk that really
/// fills up. Mounting needs root (the test machine and CI run as root); without it the test
/// fails, it does not skip.
struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    fn new(mib: u32) -> TinyDisk {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a {mib} MiB tmpfs needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        TinyDisk { dir }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes a filler file until the disk refuses with ENOSPC.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.path().join("filler")).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        loop {
            if let Err(e) = f.write_all(&chunk).and_then(|_| f.sync_all()) {
                assert_eq!(e.raw_os_error(), Some(28), "expected ENOSPC: {e}");
                return;
            }
        }
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// The file store's disk full: an upload answers 507 `insufficient_storage` (not 503 "cannot
/// be reached"), and documents already stored are still read and downloaded.
fn a_full_file_store_answers_507_and_reads_go_on(b: Backend) {
    let disk = TinyDisk::new(4);
    let data = disk.path().join("data");
    let srv = TestServer::start_with(b, |c| c.data_dir = data.clone());
    let (_unit, clerk, _official) = srv.office("VP");
    let pdf = fixture("valid-minimal.pdf");
    let id = srv.create_document(&clerk, &incoming("Trước khi đầy"), pdf.clone())["id"]
        .as_str()
        .unwrap()
        .to_string();
    disk.fill();
    let mut other = pdf.clone();
    other.extend_from_slice(b"\n%another file\n");
    let r = srv.upload(
        "/api/v1/documents",
        Some(&clerk),
        Some(&incoming("Khi đĩa đầy")),
        Some(("day.pdf", "application/pdf", other)),
    );
    r.assert_problem(507, "insufficient_storage");
    let got = srv.get(&format!("/api/v1/documents/{id}"), Some(&clerk));
    assert_eq!(got.status, 200, "{}", got.text);
    let file = srv.get(&format!("/api/v1/documents/{id}/file"), Some(&clerk));
    assert_eq!(file.status, 200, "{}", file.text);
    assert_eq!(file.bytes, pdf);
    assert_eq!(srv.get("/api/v1/documents", Some(&clerk)).status, 200);
}

/// Every response says `nosniff`; an attachment the uploader calls `text/html` (or a PDF)
/// is downloaded as opaque bytes, never rendered inline on the API's origin; JSON answers are
/// not cached.
fn files_and_json_are_served_safely(b: Backend) {
    let srv = TestServer::start(b);
    let (_unit, clerk, _official) = srv.office("VP");
    let id = srv.create_document(&clerk, &incoming("Phụ lục"), fixture("valid-minimal.pdf"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (name, mime, body) in [
        (
            "trang.html",
            "text/html",
            b"<script>alert(document.cookie)</script>".to_vec(),
        ),
        (
            "hinh.svg",
            "image/svg+xml",
            b"<svg onload=alert(1)/>".to_vec(),
        ),
        (
            "phu-luc.pdf",
            "application/pdf",
            fixture("valid-minimal.pdf"),
        ),
    ] {
        let r = srv.upload(
            &format!("/api/v1/documents/{id}/attachments"),
            Some(&clerk),
            None,
            Some((name, mime, body.clone())),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        let att = r.json["id"].as_str().unwrap();
        let a = srv.get(
            &format!("/api/v1/documents/{id}/attachments/{att}/file"),
            Some(&clerk),
        );
        assert_eq!(a.status, 200);
        assert_eq!(a.bytes, body);
        assert!(
            a.header("content-disposition").starts_with("attachment;"),
            "{name}: {}",
            a.header("content-disposition")
        );
        assert_eq!(a.header("x-content-type-options"), "nosniff", "{name}");
        if mime != "application/pdf" {
            assert_eq!(a.content_type(), "application/octet-stream", "{name}");
        }
    }
    let main = srv.get(&format!("/api/v1/documents/{id}/file"), Some(&clerk));
    assert_eq!(main.header("x-content-type-options"), "nosniff");
    assert!(main.header("content-disposition").starts_with("inline;"));
    let json = srv.get(&format!("/api/v1/documents/{id}"), Some(&clerk));
    assert_eq!(json.header("cache-control"), "no-store");
    assert_eq!(json.header("x-content-type-options"), "nosniff");
    let problem = srv.get("/api/v1/documents/nope", Some(&clerk));
    assert_eq!(problem.header("cache-control"), "no-store");
    assert_eq!(problem.header("x-content-type-options"), "nosniff");
}

/// Reads of a classified document stay in the audit chain (those of ordinary ones do not, so
/// reads neither queue on the chain's head nor fail when nothing can be written).
fn classified_reads_are_recorded(b: Backend) {
    let srv = TestServer::start(b);
    let (_unit, clerk, _official) = srv.office("VP");
    let mut meta = incoming("Văn bản mật");
    meta["confidentiality"] = json!("confidential");
    let id = srv.create_document(&clerk, &meta, fixture("valid-minimal.pdf"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The uploader is granted automatically; an ordinary document's look stays out of the chain.
    let plain = srv.create_document(
        &clerk,
        &incoming("Văn bản thường"),
        fixture("valid-minimal.pdf"),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        srv.get(&format!("/api/v1/documents/{plain}"), Some(&clerk))
            .status,
        200
    );
    assert!(!audit_actions(&srv, &plain)
        .iter()
        .any(|x| x == "document.viewed"));
    assert_eq!(
        srv.get(&format!("/api/v1/documents/{id}"), Some(&clerk))
            .status,
        200
    );
    let actions = audit_actions(&srv, &id);
    assert!(
        actions.iter().any(|x| x == "document.viewed"),
        "{actions:?}"
    );
}

/// Issue 12, part 3: the upload check reports an unsigned hybrid or damaged draft as signable
/// after normalising (and says why), a clean one and a signed one as signable as they are,
/// and a damaged signed one (which is never rewritten) as not signable.
fn hybrid_and_damaged_drafts_are_signable_after_normalising(b: Backend) {
    let srv = TestServer::start(b);
    let (_unit, _clerk, official) = srv.office("VP");
    let version_of = |name: &str, pdf: Vec<u8>| -> Value {
        let doc = srv.create_document(
            &official,
            &json!({"kind": "outgoing", "type_code": "TTr", "subject": format!("Tờ trình {name}"),
                    "recipients": ["UBND tỉnh"]}),
            pdf,
        );
        doc["versions"][0].clone()
    };
    for (name, pdf, why) in [
        (
            "hybrid",
            fixture("valid-hybrid-xref-30-pages.pdf"),
            "hybrid cross-reference",
        ),
        (
            "direct kid",
            fixture("malformed-page-tree-direct-kid.pdf"),
            "damaged structure",
        ),
    ] {
        let v = version_of(name, pdf);
        assert_eq!(v["signable"], true, "{name}: {v:#}");
        assert!(v["signable_reason"].is_null(), "{name}: {v:#}");
        assert_eq!(v["needs_normalising"], true, "{name}: {v:#}");
        let reason = v["normalise_reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains(why) && reason.ends_with("rewritten clean before its first signature"),
            "{name}: {reason}"
        );
    }
    for (name, pdf) in [
        ("clean", fixture("valid-minimal.pdf")),
        ("signed", fixture("signed-twice.pdf")),
    ] {
        let v = version_of(name, pdf);
        assert_eq!(v["signable"], true, "{name}: {v:#}");
        assert_eq!(v["needs_normalising"], false, "{name}: {v:#}");
        assert!(v["normalise_reason"].is_null(), "{name}: {v:#}");
    }
    // The same damage in a signed file: not signable, and not offered a rewrite.
    let mut signed_kid = fixture("malformed-page-tree-direct-kid.pdf");
    let at = signed_kid
        .windows(9)
        .rposition(|w| w == b"startxref")
        .unwrap();
    signed_kid.splice(at..at, b"% /ByteRange [0 0 0 0]\n".iter().copied());
    let v = version_of("signed direct kid", signed_kid);
    assert_eq!(v["signable"], false, "{v:#}");
    assert_eq!(v["needs_normalising"], false, "{v:#}");
}

both_backends!(
    hybrid_and_damaged_drafts_are_signable_after_normalising,
    a_full_file_store_answers_507_and_reads_go_on,
    classified_reads_are_recorded,
    files_and_json_are_served_safely,
    same_file_uploaded_at_once,
    large_file_round_trip,
    upload_download_versions_attachments,
    refused_uploads_leave_nothing,
    drafts_belong_to_their_drafter,
    list_search_and_pages,
    search_finds_what_contains_finds,
    cut_multipart_body_is_refused_at_once,
    trickling_bodies_time_out,
    characters_in_uploads_and_queries,
);

/// Item 8: the staging folder of a process that was killed mid-upload is removed when a store
/// opens, at once (not a day later); the folder of a process still running is left alone.
#[test]
fn staging_of_killed_uploads_is_removed_at_start() {
    let root = tempfile::tempdir().unwrap();
    let blobs = root.path().join("blobs");
    let running = docflow::storage::BlobStore::local(&blobs).unwrap();
    let staging = blobs.join(".staging");
    let folders = || -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(&staging)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        v.sort();
        v
    };
    let live = folders();
    assert_eq!(live.len(), 1, "{live:?}");
    std::fs::write(live[0].join("uploading.part"), b"half a file").unwrap();
    // What `kill -9` mid-upload leaves: a folder with a .part file, its lock file not held; and
    // a folder of the layout before locks.
    let killed = staging.join("0123456789abcdef0123456789abcdef");
    std::fs::create_dir_all(&killed).unwrap();
    std::fs::write(killed.join("cut.part"), b"half a file").unwrap();
    std::fs::write(killed.with_extension("lock"), b"").unwrap();
    let older = staging.join("fedcba9876543210fedcba9876543210");
    std::fs::create_dir_all(&older).unwrap();
    std::fs::write(older.join("cut.part"), b"half a file").unwrap();

    let second = docflow::storage::BlobStore::local(&blobs).unwrap();
    let now = folders();
    assert!(!now.contains(&killed), "{now:?}");
    assert!(!now.contains(&older), "{now:?}");
    assert!(!killed.with_extension("lock").exists());
    assert!(
        now.contains(&live[0]),
        "the running store's folder stays: {now:?}"
    );
    assert!(live[0].join("uploading.part").exists());
    assert_eq!(now.len(), 2, "{now:?}");
    drop(second);
    drop(running);
}

/// Every file of the PDF corpus (when `DOCFLOW_CORPUS_DIR` names it): refused files get a
/// clear 422, the rest are accepted with the right signable verdict.
#[test]
fn corpus_verdicts() {
    let Ok(dir) = std::env::var("DOCFLOW_CORPUS_DIR") else {
        eprintln!("SKIPPED: corpus check (set DOCFLOW_CORPUS_DIR=…/shared/corpus/pdf to run it)");
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap_or_else(|e| {
        panic!(
            "DOCFLOW_CORPUS_DIR={} has no MANIFEST.tsv: {e}",
            dir.display()
        )
    });
    let srv = TestServer::start(Backend::Sqlite);
    let (_unit, clerk, _official) = srv.office("VP");
    let mut rows = manifest.lines();
    let header: Vec<&str> = rows.next().unwrap().split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    let (c_file, c_sha, c_cat, c_exp, c_note) = (
        col("file"),
        col("sha256"),
        col("category"),
        col("expected_signer_behaviour"),
        col("note"),
    );
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in rows.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let name = f[c_file];
        let bytes = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(sha256_hex(&bytes), f[c_sha], "{name}: checksum");
        let (category, expected, note) = (f[c_cat], f[c_exp], f[c_note]);
        let started = std::time::Instant::now();
        let r = srv.upload(
            "/api/v1/documents",
            Some(&clerk),
            Some(&incoming(&format!("Tệp thử {name}"))),
            Some((name, "application/pdf", bytes)),
        );
        let took = started.elapsed();
        let user_password = category == "encrypted" && note.contains("user password required");
        let pubkey = category == "encrypted" && note.contains("Public-key");
        let must_refuse = category == "malformed-hopeless" || user_password || pubkey;
        let verdict = if r.status == 201 {
            format!(
                "accepted signable={} ({}) normalise={}",
                r.json["versions"][0]["signable"],
                r.json["versions"][0]["signable_reason"],
                r.json["versions"][0]["normalise_reason"]
            )
        } else {
            format!("{} {}: {}", r.status, r.json["code"], r.json["detail"])
        };
        eprintln!("{name:70} {category:24} {expected:15} -> {verdict} [{took:?}]");
        let ok = if must_refuse {
            r.status == 422
                && ["pdf_not_pdf", "pdf_encrypted", "pdf_unreadable"]
                    .contains(&r.json["code"].as_str().unwrap_or(""))
                && (!user_password && !pubkey || r.json["code"] == "pdf_encrypted")
        } else if r.status == 201 {
            let signable = r.json["versions"][0]["signable"] == true;
            let reason_given = r.json["versions"][0]["signable_reason"].is_string();
            let normalising = r.json["versions"][0]["needs_normalising"] == true;
            let hybrid = note.contains("/XRefStm") || note.starts_with("Hybrid");
            let certified_p1 = note.contains("P=1");
            (signable != reason_given)
                && (!certified_p1 || !signable)
                && (category != "valid" && category != "valid-signed" || signable)
                // The signer signs every `sign` file of the corpus (.ci/corpus.sh), so the
                // check on arrival must not call one unsignable.
                && (expected != "sign" || signable)
                // Signable after normalising is signable; every unsigned hybrid file is.
                && (!normalising || signable)
                && (normalising == r.json["versions"][0]["normalise_reason"].is_string())
                && (!hybrid || normalising)
        } else {
            // Files the manifest allows a signer to refuse may be refused, with a clear reason.
            expected != "sign"
                && r.status == 422
                && ["pdf_encrypted", "pdf_unreadable"]
                    .contains(&r.json["code"].as_str().unwrap_or(""))
        };
        if !ok {
            failures.push(format!("{name}: {verdict}"));
        }
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} corpus files");
    assert!(
        failures.is_empty(),
        "wrong verdicts:\n{}",
        failures.join("\n")
    );
}
