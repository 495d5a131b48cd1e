//! Registers and numbering over HTTP, on both databases: yearly gap-free numbers per series,
//! duplicate warnings, acknowledgement and return, reports, and numbering under concurrency —
//! 64 registrations at once, and two server processes sharing one database.

use crate::common;

use crate::common::{fixture, Backend, TestServer};
use serde_json::{json, Value};
use std::sync::Arc;

fn clerk_of(srv: &TestServer, code: &str) -> String {
    let unit = srv.create_unit(code, &format!("Văn phòng {code}"), None);
    let name = format!("clerk.{}", code.to_lowercase());
    srv.create_user(&name, "clerk-password-1", Some(&unit), &["clerk"]);
    srv.login(&name, "clerk-password-1")
}

fn paper(symbol: &str, confidentiality: &str) -> Value {
    json!({
        "kind": "incoming", "type_code": "CV", "subject": format!("Công văn {symbol}"),
        "number_symbol": symbol, "issue_date": "2026-11-02", "issuer": "Sở Tài chính",
        "confidentiality": confidentiality
    })
}

fn new_paper(srv: &TestServer, clerk: &str, symbol: &str, confidentiality: &str) -> String {
    srv.create_document(
        clerk,
        &paper(symbol, confidentiality),
        fixture("valid-minimal.pdf"),
    )["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn register(srv: &TestServer, clerk: &str, doc: &str, reg: &str) -> common::Resp {
    srv.post(
        &format!("/api/v1/documents/{doc}/register"),
        Some(clerk),
        &json!({"register_id": reg}),
    )
}

fn year_now() -> i64 {
    use chrono::Datelike;
    (chrono::Utc::now() + chrono::Duration::hours(7)).year() as i64
}

fn numbering_series_duplicates_and_reports(b: Backend) {
    let srv = TestServer::start(b);
    let clerk = clerk_of(&srv, "SLDTBXH");
    // Registers: template checked, clerk's own unit.
    let r = srv.post(
        "/api/v1/registers",
        Some(&clerk),
        &json!({"kind": "incoming", "name": "Sổ đến", "symbol_template": "{type_code}"}),
    );
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.json["field"], "symbol_template");
    let r = srv.post(
        "/api/v1/registers",
        Some(&clerk),
        &json!({"kind": "sideways", "name": "Sổ"}),
    );
    r.assert_problem(400, "invalid_field");
    assert_eq!(r.json["field"], "kind");
    let reg = srv.create_register(&clerk, "incoming", "Sổ đăng ký văn bản đến 2026");
    let listed = srv.get("/api/v1/registers", Some(&clerk));
    assert_eq!(listed.json.as_array().unwrap().len(), 1, "{}", listed.text);
    assert_eq!(
        listed.json[0]["symbol_template"],
        "{number}/{type_code}-{org_code}"
    );

    let a = new_paper(&srv, &clerk, "10/CV-STC", "normal");
    let r = register(&srv, &clerk, &a, &reg);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["number"], 1);
    assert_eq!(r.json["symbol"], "01/CV-SLDTBXH");
    assert_eq!(r.json["series"], "normal");
    assert_eq!(r.json["year"], year_now());
    assert!(r.json["registered_at"].is_string());
    register(&srv, &clerk, &a, &reg).assert_problem(409, "already_registered");

    // Confidential papers are numbered in their own series.
    let secret = new_paper(&srv, &clerk, "11/CV-STC", "secret");
    let r = register(&srv, &clerk, &secret, &reg);
    assert_eq!(r.json["number"], 1, "{}", r.text);
    assert_eq!(r.json["series"], "confidential");

    // A failed registration burns no number.
    let b2 = new_paper(&srv, &clerk, "12/CV-STC", "normal");
    let out = srv.create_register(&clerk, "outgoing", "Sổ đi");
    register(&srv, &clerk, &b2, &out).assert_problem(422, "validation_failed");
    register(&srv, &clerk, &b2, &uuid::Uuid::new_v4().to_string())
        .assert_problem(422, "validation_failed");
    assert_eq!(register(&srv, &clerk, &b2, &reg).json["number"], 2);

    // Same issuer, symbol and date as a paper already in: 409 unless confirmed.
    let dup = new_paper(&srv, &clerk, "10/CV-STC", "normal");
    let r = register(&srv, &clerk, &dup, &reg);
    r.assert_problem(409, "probable_duplicate");
    assert!(
        r.json["detail"].as_str().unwrap().contains("01/CV-SLDTBXH"),
        "{}",
        r.text
    );
    let r = srv.post(
        &format!("/api/v1/documents/{dup}/register"),
        Some(&clerk),
        &json!({"register_id": reg, "confirm_duplicate": true}),
    );
    assert_eq!(r.json["number"], 3, "{}", r.text);

    // Acknowledge receipt; return a misaddressed paper (not once registered).
    let r = srv.send(
        "POST",
        &format!("/api/v1/documents/{a}/acknowledge"),
        Some(&clerk),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["acknowledged_at"].is_string());
    srv.send(
        "POST",
        &format!("/api/v1/documents/{a}/acknowledge"),
        Some(&clerk),
        None,
    )
    .assert_problem(409, "already_acknowledged");
    srv.post(
        &format!("/api/v1/documents/{a}/return"),
        Some(&clerk),
        &json!({"reason": "x"}),
    )
    .assert_problem(409, "not_returnable");
    let wrong = new_paper(&srv, &clerk, "13/CV-STC", "normal");
    srv.post(
        &format!("/api/v1/documents/{wrong}/return"),
        Some(&clerk),
        &json!({"reason": " "}),
    )
    .assert_problem(422, "validation_failed");
    let r = srv.post(
        &format!("/api/v1/documents/{wrong}/return"),
        Some(&clerk),
        &json!({"reason": "Gửi nhầm địa chỉ: văn bản gửi Sở Y tế"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "returned");
    assert_eq!(
        r.json["return_reason"],
        "Gửi nhầm địa chỉ: văn bản gửi Sở Y tế"
    );
    register(&srv, &clerk, &wrong, &reg).assert_problem(409, "not_registrable");

    // The register lists its entries; a listing filter finds them.
    let page = srv.get(
        &format!("/api/v1/documents?register_id={reg}&year={}", year_now()),
        Some(&clerk),
    );
    assert_eq!(
        page.json["items"].as_array().unwrap().len(),
        4,
        "{}",
        page.text
    );
    let today = (chrono::Utc::now() + chrono::Duration::hours(7)).date_naive();
    let csv = srv.get(
        &format!("/api/v1/registers/{reg}/report?from={today}&to={today}"),
        Some(&clerk),
    );
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(csv.header("content-type").starts_with("text/csv"));
    let lines: Vec<&str> = csv.text.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines.len(), 5, "{}", csv.text);
    assert!(lines[0].starts_with("number,symbol,series"));
    assert!(
        lines[1].starts_with("01,01/CV-SLDTBXH,normal,"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("Công văn 10/CV-STC"));
    assert!(csv.text.contains("03,03/CV-SLDTBXH,normal"));
    assert!(
        lines[4].starts_with("01,01/CV-SLDTBXH,confidential"),
        "{}",
        lines[4]
    );
    // The printable report: a PDF our own check reads, with the entries as text.
    let pdf = srv.get(
        &format!("/api/v1/registers/{reg}/report?from={today}&to={today}&format=pdf"),
        Some(&clerk),
    );
    assert_eq!(pdf.status, 200, "{}", pdf.text);
    assert_eq!(pdf.header("content-type"), "application/pdf");
    let facts = docflow::documents::inspect::inspect(&pdf.bytes).unwrap();
    assert_eq!(facts.page_count, 1);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.pdf");
    std::fs::write(&file, &pdf.bytes).unwrap();
    if let Ok(out) = std::process::Command::new("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("03/CV-SLDTBXH"), "{text}");
        assert!(text.contains("Công văn 10/CV-STC"), "{text}");
        assert!(text.contains("Sổ đăng ký văn bản đến 2026"), "{text}");
    }
    srv.get(
        &format!("/api/v1/registers/{reg}/report?from={today}&to={today}&format=docx"),
        Some(&clerk),
    )
    .assert_problem(400, "invalid_query");
    let yesterday = today.pred_opt().unwrap();
    let none = srv.get(
        &format!("/api/v1/registers/{reg}/report?from={yesterday}&to={yesterday}"),
        Some(&clerk),
    );
    assert_eq!(none.text.trim_start_matches('\u{feff}').lines().count(), 1);

    // Another unit's clerk sees neither the register nor its documents.
    let other = clerk_of(&srv, "STC");
    srv.get(&format!("/api/v1/registers/{reg}"), Some(&other))
        .assert_problem(404, "not_found");
    srv.get(
        &format!("/api/v1/registers/{reg}/report?from={today}&to={today}"),
        Some(&other),
    )
    .assert_problem(404, "not_found");
    assert!(srv
        .get("/api/v1/registers", Some(&other))
        .json
        .as_array()
        .unwrap()
        .is_empty());
    let other_doc = new_paper(&srv, &other, "1/X", "normal");
    register(&srv, &other, &other_doc, &reg).assert_problem(422, "validation_failed");
}

/// Fires one registration per document at once; returns the numbers given.
fn register_all(servers: &[&TestServer], clerk: &str, docs: &[String], reg: &str) -> Vec<i64> {
    let clerk = Arc::new(clerk.to_string());
    let numbers = std::thread::scope(|s| {
        let handles: Vec<_> = docs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let srv = servers[i % servers.len()];
                let clerk = clerk.clone();
                s.spawn(move || {
                    let r = register(srv, &clerk, d, reg);
                    assert_eq!(r.status, 200, "{}", r.text);
                    r.json["number"].as_i64().unwrap()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    let mut sorted = numbers;
    sorted.sort();
    sorted
}

fn sixty_four_at_once(b: Backend) {
    let srv = TestServer::start_with(b, |c| c.db_pool_size = 8);
    let clerk = clerk_of(&srv, "VP");
    let reg = srv.create_register(&clerk, "incoming", "Sổ đến");
    let docs: Vec<String> = (0..64)
        .map(|i| new_paper(&srv, &clerk, &format!("{i}/CV"), "normal"))
        .collect();
    let numbers = register_all(&[&srv], &clerk, &docs, &reg);
    assert_eq!(numbers, (1..=64).collect::<Vec<i64>>());
}

fn two_processes_share_the_counter(b: Backend) {
    let first = TestServer::start_with(b, |c| c.db_pool_size = 6);
    // The second server is the real binary in its own OS process, sharing database and files.
    let second = TestServer::spawn_process(first.db.shared(), first.data_dir(), 6);
    let clerk = clerk_of(&first, "VP");
    let reg = first.create_register(&clerk, "incoming", "Sổ đến");
    // Documents created through both servers; each reads the other's.
    let docs: Vec<String> = (0..64)
        .map(|i| {
            let srv = if i % 2 == 0 { &first } else { &second };
            new_paper(
                srv,
                &clerk,
                &format!("{i}/CV"),
                if i % 5 == 0 { "confidential" } else { "normal" },
            )
        })
        .collect();
    assert_eq!(
        second
            .get(&format!("/api/v1/documents/{}/file", docs[0]), Some(&clerk))
            .bytes,
        fixture("valid-minimal.pdf")
    );
    let numbers = register_all(&[&first, &second], &clerk, &docs, &reg);
    // 13 confidential (0, 5, …, 60) numbered 1..13 and 51 normal numbered 1..51.
    let mut expected: Vec<i64> = (1..=13).chain(1..=51).collect();
    expected.sort();
    assert_eq!(numbers, expected);
    let chain = first.get("/api/v1/audit/verify", Some(&first.admin_token));
    assert_eq!(chain.json["intact"], true, "{}", chain.text);
}

/// Entries a spreadsheet or the report's font cannot take as typed: a subject with an emoji or
/// Chinese prints with a fallback glyph (200, the rest still text), and CSV cells that look
/// like formulas are neutralised (OWASP: a leading `'`, quoted).
fn report_survives_what_senders_type(b: Backend) {
    let srv = TestServer::start(b);
    let clerk = clerk_of(&srv, "VP");
    let reg = srv.create_register(&clerk, "incoming", "Sổ đến");
    let typed = [
        (
            "1/CV",
            "Công văn 😀",
            "=HYPERLINK(\"http://evil.example\",\"x\")",
        ),
        ("2/CV", "关于 文件", "+cmd|' /C calc'!A0"),
        ("3/CV", "@SUM(1)", "-2+3"),
    ];
    for (symbol, subject, issuer) in typed {
        let mut meta = paper(symbol, "normal");
        meta["subject"] = json!(subject);
        meta["issuer"] = json!(issuer);
        let doc = srv.create_document(&clerk, &meta, fixture("valid-minimal.pdf"))["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(register(&srv, &clerk, &doc, &reg).status, 200);
    }
    let today = (chrono::Utc::now() + chrono::Duration::hours(7)).date_naive();
    let pdf = srv.get(
        &format!("/api/v1/registers/{reg}/report?from={today}&to={today}&format=pdf"),
        Some(&clerk),
    );
    assert_eq!(pdf.status, 200, "{}", pdf.text);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.pdf");
    std::fs::write(&file, &pdf.bytes).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Công văn ?"), "{text}");
    assert!(text.contains("?? ??"), "{text}");
    let csv = srv.get(
        &format!("/api/v1/registers/{reg}/report?from={today}&to={today}"),
        Some(&clerk),
    );
    assert_eq!(csv.status, 200, "{}", csv.text);
    for cell in [
        "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\"",
        "\"'+cmd|' /C calc'!A0\"",
        "\"'@SUM(1)\"",
        "\"'-2+3\"",
    ] {
        assert!(csv.text.contains(cell), "{cell} missing from {}", csv.text);
    }
    for raw in [",=HYPERLINK", ",+cmd", ",@SUM", ",-2+3"] {
        assert!(!csv.text.contains(raw), "{raw} written raw: {}", csv.text);
    }
}

/// Simultaneous registrations of one document: one number, the others the documented
/// `already_registered` (PostgreSQL used to leak its index name in a 409 `already_exists`).
fn simultaneous_registrations_of_one_document(b: Backend) {
    let srv = TestServer::start_with(b, |c| c.db_pool_size = 8);
    let clerk = clerk_of(&srv, "VP");
    let reg = srv.create_register(&clerk, "incoming", "Sổ đến");
    for round in 0..8 {
        let doc = new_paper(&srv, &clerk, &format!("{round}/CV"), "normal");
        let answers = common::race(4, |_| register(&srv, &clerk, &doc, &reg));
        let won = answers.iter().filter(|r| r.status == 200).count();
        assert_eq!(
            won,
            1,
            "round {round}: {:?}",
            answers.iter().map(|r| &r.text).collect::<Vec<_>>()
        );
        for r in answers.iter().filter(|r| r.status != 200) {
            r.assert_problem(409, "already_registered");
            assert!(
                !r.text.contains("constraint") && !r.text.contains("pkey"),
                "an internal name in {}",
                r.text
            );
        }
    }
    // The losers gave their numbers back: the next document gets the ninth.
    let next = new_paper(&srv, &clerk, "8/CV", "normal");
    assert_eq!(register(&srv, &clerk, &next, &reg).json["number"], 9);
}

both_backends!(
    numbering_series_duplicates_and_reports,
    sixty_four_at_once,
    two_processes_share_the_counter,
    simultaneous_registrations_of_one_document,
    report_survives_what_senders_type,
);
