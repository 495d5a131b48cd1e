//! Signature verification over HTTP, on both databases: files signed by docflow itself with a
//! throwaway PKI, uploaded as documents and versions, checked with and without the test root
//! in `trust_roots_path`; unsigned, tampered and extended files; who may ask; the audit event.

use crate::pdfgen;

use crate::common::pki::{pki, KeyKind};
use crate::common::{Backend, TestServer};
use docflow::signing::{sign_bytes, SignOptions, Signer};
use serde_json::{json, Value};

fn incoming(subject: &str) -> Value {
    json!({
        "kind": "incoming",
        "type_code": "QĐ",
        "subject": subject,
        "number_symbol": "45/QĐ-UBND",
        "issue_date": "2026-11-20",
        "issuer": "Ủy ban nhân dân tỉnh Hà Giang",
        "recipients": ["Sở Tư pháp"],
        "received_channel": "national_platform"
    })
}

/// A one-page PDF signed (PAdES B-B, invisible) by the P-256 signer of the test PKI.
fn signed_pdf() -> Vec<u8> {
    let id = pki().identity(KeyKind::P256);
    let signer = Signer::from_pem_files(&id.key_pem, &id.cert_pem, None, None).expect("signer");
    let (signed, _) =
        sign_bytes(&pdfgen::table(1), &signer, &SignOptions::default()).expect("sign");
    signed
}

fn signer_cert_sha256() -> String {
    let pem = std::fs::read(&pki().identity(KeyKind::P256).cert_pem).unwrap();
    let der = openssl::x509::X509::from_pem(&pem)
        .unwrap()
        .to_der()
        .unwrap();
    hex(&openssl::sha::sha256(&der))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn ca_path() -> String {
    pki().ca_pem.to_str().unwrap().to_string()
}

fn doc_id(doc: &Value) -> String {
    doc["id"].as_str().unwrap().to_string()
}

/// GET the signatures; asserts 200 and JSON.
fn signatures(srv: &TestServer, token: &str, path: &str) -> Value {
    let r = srv.get(path, Some(token));
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    assert!(
        r.content_type().starts_with("application/json"),
        "{}",
        r.content_type()
    );
    r.json
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

fn signed_file_is_trusted_exactly_with_the_root(b: Backend) {
    let pdf = signed_pdf();
    let cert_sha = signer_cert_sha256();

    // Started with the test root in trust_roots_path: valid.
    let srv = TestServer::start_with(b, |c| c.trust_roots_path = ca_path());
    let (_unit, clerk, _official) = srv.office("VP");
    let doc = srv.create_document(&clerk, &incoming("Quyết định có chữ ký số"), pdf.clone());
    let id = doc_id(&doc);
    let report = signatures(&srv, &clerk, &format!("/api/v1/documents/{id}/signatures"));
    assert_eq!(report["all_valid"], true, "{report:#}");
    assert_eq!(report["size"], pdf.len(), "{report:#}");
    assert_eq!(
        report["revisions"], 2,
        "original and signature revision: {report:#}"
    );
    let sigs = report["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 1, "{report:#}");
    let s = &sigs[0];
    assert_eq!(s["status"], "valid", "{s:#}");
    assert_eq!(s["kind"], "signature");
    assert_eq!(s["sub_filter"], "ETSI.CAdES.detached");
    assert_eq!(s["intact"], true);
    assert_eq!(s["valid"], true);
    assert_eq!(s["trusted"], true);
    assert_eq!(s["coverage"], "whole_file");
    assert_eq!(s["changes_after"], "none");
    assert_eq!(s["pades_level"], "B-B");
    assert_eq!(s["signer"]["common_name"], "Nguyễn Văn A P256");
    assert_eq!(s["signer"]["sha256"], cert_sha.as_str());
    assert_eq!(s["chain"]["trusted"], true);
    assert_eq!(
        s["chain"]["path"].as_array().unwrap().last().unwrap(),
        &json!("C=VN, O=docflow tests, CN=docflow Test Root CA"),
        "{s:#}"
    );
    assert!(s["problems"].as_array().unwrap().is_empty(), "{s:#}");
    // The same version by number gives the same verdict.
    let by_number = signatures(
        &srv,
        &clerk,
        &format!("/api/v1/documents/{id}/versions/1/signatures"),
    );
    assert_eq!(by_number["signatures"][0]["status"], "valid");
    assert_eq!(
        by_number["signatures"][0]["signer"]["sha256"],
        cert_sha.as_str()
    );
    // Each check is audited under its own name, not as a download.
    let actions = audit_actions(&srv, &id);
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "document.signatures_verified")
            .count(),
        2,
        "{actions:?}"
    );
    assert!(
        !actions.contains(&"document.file_downloaded".to_string()),
        "{actions:?}"
    );

    // The same file on a server that trusts nothing: intact and valid, but untrusted.
    let plain = TestServer::start(b);
    let (_unit, clerk, _official) = plain.office("VP");
    let doc = plain.create_document(&clerk, &incoming("Quyết định có chữ ký số"), pdf.clone());
    let id = doc_id(&doc);
    let report = signatures(
        &plain,
        &clerk,
        &format!("/api/v1/documents/{id}/signatures"),
    );
    assert_eq!(report["all_valid"], false, "{report:#}");
    let s = &report["signatures"][0];
    assert_eq!(report["signatures"].as_array().unwrap().len(), 1);
    assert_eq!(s["status"], "untrusted", "{s:#}");
    assert_eq!(s["intact"], true);
    assert_eq!(s["valid"], true);
    assert_eq!(s["trusted"], false);
    assert_eq!(s["signer"]["sha256"], cert_sha.as_str());
}

/// The value after the last `key` (e.g. `startxref` or `/Size`) in the file, as a number.
fn last_number_after(bytes: &[u8], key: &[u8]) -> usize {
    let at = bytes
        .windows(key.len())
        .rposition(|w| w == key)
        .expect("key in file")
        + key.len();
    let digits: String = bytes[at..]
        .iter()
        .map(|&c| c as char)
        .skip_while(|c| c.is_ascii_whitespace())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().expect("number")
}

/// `signed` with an incremental update after the signature that replaces the page content.
fn with_content_changed_after_signing(signed: &[u8]) -> Vec<u8> {
    let prev = last_number_after(signed, b"startxref");
    let size = last_number_after(signed, b"/Size");
    let mut out = signed.to_vec();
    if out.last() != Some(&b'\n') {
        out.push(b'\n');
    }
    let content = b"BT /F1 24 Tf 72 720 Td (Cong van so 9) Tj ET";
    let at = out.len();
    out.extend_from_slice(format!("4 0 obj\n<< /Length {} >>\nstream\n", content.len()).as_bytes());
    out.extend_from_slice(content);
    out.extend_from_slice(b"\nendstream\nendobj\n");
    let xref = out.len();
    out.extend_from_slice(
        format!(
            "xref\n0 1\n0000000000 65535 f \n4 1\n{at:010} 00000 n \ntrailer\n<< /Size {size} /Root 1 0 R /Prev {prev} /ID [<00112233445566778899AABBCCDDEEFF> <00112233445566778899AABBCCDDEEFF>] >>\nstartxref\n{xref}\n%%EOF\n"
        )
        .as_bytes(),
    );
    out
}

fn unsigned_tampered_extended_and_unreadable_files(b: Backend) {
    let srv = TestServer::start_with(b, |c| c.trust_roots_path = ca_path());
    let (_unit, clerk, _official) = srv.office("VP");

    // No signature: 200, an empty list, and not "all valid".
    let unsigned = pdfgen::table(1);
    let doc = srv.create_document(&clerk, &incoming("Công văn chưa ký"), unsigned.clone());
    let id = doc_id(&doc);
    let report = signatures(&srv, &clerk, &format!("/api/v1/documents/{id}/signatures"));
    assert_eq!(report["signatures"], json!([]), "{report:#}");
    assert_eq!(report["all_valid"], false);
    assert_eq!(report["size"], unsigned.len());
    assert_eq!(report["revisions"], 1);

    // A signed document, then a byte flipped inside the signed range as version 2.
    let signed = signed_pdf();
    let doc = srv.create_document(&clerk, &incoming("Quyết định bị sửa"), signed.clone());
    let id = doc_id(&doc);
    let mut tampered = signed.clone();
    let text = b"(Cong van so 1)";
    let at = tampered
        .windows(text.len())
        .position(|w| w == text)
        .expect("page text");
    tampered[at + text.len() - 2] = b'7';
    assert_ne!(tampered, signed);
    let r = srv.upload(
        &format!("/api/v1/documents/{id}/versions"),
        Some(&clerk),
        None,
        Some(("sua.pdf", "application/pdf", tampered)),
    );
    assert_eq!(
        r.status, 201,
        "the upload check accepts the tampered file: {}",
        r.text
    );
    assert_eq!(r.json["number"], 2);
    let report = signatures(&srv, &clerk, &format!("/api/v1/documents/{id}/signatures"));
    assert_eq!(report["all_valid"], false, "{report:#}");
    let s = &report["signatures"][0];
    assert_eq!(s["status"], "digest_mismatch", "{s:#}");
    assert_eq!(s["intact"], false);
    assert_eq!(s["integrity"]["digest_ok"], false);
    assert_eq!(s["integrity"]["byte_range_ok"], true);
    // Version 1 is still the intact original.
    let v1 = signatures(
        &srv,
        &clerk,
        &format!("/api/v1/documents/{id}/versions/1/signatures"),
    );
    assert_eq!(v1["signatures"][0]["status"], "valid", "{v1:#}");
    assert_eq!(v1["all_valid"], true);

    // The page content replaced in an update after the signature, as version 3: the signature
    // itself holds, the change is named.
    let extended = with_content_changed_after_signing(&signed);
    let r = srv.upload(
        &format!("/api/v1/documents/{id}/versions"),
        Some(&clerk),
        None,
        Some(("them.pdf", "application/pdf", extended.clone())),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let report = signatures(
        &srv,
        &clerk,
        &format!("/api/v1/documents/{id}/versions/3/signatures"),
    );
    assert_eq!(report["all_valid"], false, "{report:#}");
    assert_eq!(report["revisions"], 3);
    let s = &report["signatures"][0];
    assert_eq!(s["status"], "modified_after_signing", "{s:#}");
    assert_eq!(s["intact"], true);
    assert_eq!(s["valid"], true);
    assert_eq!(s["trusted"], true);
    assert_eq!(s["coverage"], "earlier_revision");
    assert_eq!(s["signed_revision"], 2);
    assert_eq!(s["changes_after"], "other");
    assert!(!s["change_details"].as_array().unwrap().is_empty(), "{s:#}");

    // A stored file that is no longer a PDF (damaged storage): 422 with the reader's code.
    let other = pdfgen::table(2);
    let doc = srv.create_document(&clerk, &incoming("Tệp hỏng trong kho"), other.clone());
    let broken_id = doc_id(&doc);
    let key = doc["versions"][0]["sha256"].as_str().unwrap().to_string();
    let blob = docflow::storage::local_path(&srv.data_dir().join("blobs"), &key);
    assert!(blob.is_file(), "{}", blob.display());
    let mut perms = std::fs::metadata(&blob).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&blob, perms).unwrap();
    std::fs::write(&blob, b"this is not a PDF any more\n").unwrap();
    srv.get(
        &format!("/api/v1/documents/{broken_id}/signatures"),
        Some(&clerk),
    )
    .assert_problem(422, "pdf_not_pdf");
}

fn who_may_ask_and_what_does_not_exist(b: Backend) {
    let srv = TestServer::start(b);
    let (_unit, clerk, official) = srv.office("VP");
    let (_other_unit, other_clerk, _other_official) = srv.office("TP");
    let doc = srv.create_document(&clerk, &incoming("Quyết định nội bộ"), signed_pdf());
    let id = doc_id(&doc);
    let before = audit_actions(&srv, &id);
    for path in [
        format!("/api/v1/documents/{id}/signatures"),
        format!("/api/v1/documents/{id}/versions/1/signatures"),
    ] {
        // Neither the unit's official (not a clerk, not the author) nor another unit's clerk
        // may see the document: the same 404 as for a missing one, like the file itself.
        for token in [&official, &other_clerk] {
            srv.get(&path, Some(token.as_str()))
                .assert_problem(404, "not_found");
        }
        assert_eq!(srv.get(&path, None).status, 401, "no token: {path}");
    }
    srv.get(&format!("/api/v1/documents/{id}/file"), Some(&official))
        .assert_problem(404, "not_found");
    // Refusals leave no verification event.
    let after = audit_actions(&srv, &id);
    assert_eq!(
        after
            .iter()
            .filter(|a| *a == "document.signatures_verified")
            .count(),
        before
            .iter()
            .filter(|a| *a == "document.signatures_verified")
            .count(),
        "{after:?}"
    );
    // Unknown version, unknown document, not an id.
    let r = srv.get(
        &format!("/api/v1/documents/{id}/versions/2/signatures"),
        Some(&clerk),
    );
    r.assert_problem(404, "not_found");
    assert_eq!(r.json["detail"], "version not found");
    let missing = uuid::Uuid::new_v4();
    let r = srv.get(
        &format!("/api/v1/documents/{missing}/signatures"),
        Some(&clerk),
    );
    r.assert_problem(404, "not_found");
    assert_eq!(r.json["detail"], "document not found");
    srv.get("/api/v1/documents/not-an-id/signatures", Some(&clerk))
        .assert_problem(404, "not_found");
    // The owner still gets the report.
    let report = signatures(&srv, &clerk, &format!("/api/v1/documents/{id}/signatures"));
    assert_eq!(report["signatures"][0]["status"], "untrusted");

    // The report has a schema in the API document.
    let api = srv.get("/api/v1/openapi.json", None);
    assert_eq!(api.status, 200);
    let schemas = &api.json["components"]["schemas"];
    assert!(
        schemas["VerifyReport"]["properties"]["all_valid"].is_object(),
        "{schemas:#}"
    );
    // A plain string enum, or one entry per documented variant: either way the values.
    let status_schema = &schemas["SignatureStatus"];
    let mut statuses: Vec<Value> = status_schema["enum"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for variant in status_schema["oneOf"].as_array().into_iter().flatten() {
        statuses.extend(variant["enum"].as_array().cloned().unwrap_or_default());
    }
    assert_eq!(statuses.len(), 10, "{status_schema:#}");
    for s in [
        "valid",
        "untrusted",
        "digest_mismatch",
        "modified_after_signing",
    ] {
        assert!(statuses.contains(&json!(s)), "{statuses:?}");
    }
    let op = &api.json["paths"]["/api/v1/documents/{id}/signatures"]["get"];
    assert_eq!(
        op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/VerifyReport",
        "{op:#}"
    );
}

/// Files that cost an eager parser far more memory than their size (issue 11, item 1): the upload
/// check and the verification price them in one bounded pass and refuse them with 422
/// `pdf_too_complex` before parsing, instead of growing to many times the file (the measured
/// peaks are in docs/DOCUMENTS.md, `tests/bench/check_memory.sh`).
fn costly_files_are_refused_before_they_are_parsed(b: Backend) {
    let srv = TestServer::start(b);
    let (_unit, clerk, _official) = srv.office("VP");

    // Damaged: the page tree's /Kids is 1.2 million integers. The strict reader refuses the
    // object (more values than one object may hold); repairing it with lopdf would take about
    // 140 MB, over the check's budget.
    let kids = pdfgen::int_array(1_200_000);
    let mut pages = b"<< /Type /Pages /Count 1 /Kids ".to_vec();
    pages.extend_from_slice(&kids);
    pages.extend_from_slice(b" >>");
    let damaged = pdfgen::table_with(vec![(2, pages)]);
    let r = srv.upload(
        "/api/v1/documents",
        Some(&clerk),
        Some(&incoming("Tệp hỏng quá lớn")),
        Some(("costly.pdf", "application/pdf", damaged)),
    );
    r.assert_problem(422, "pdf_too_complex");
    assert!(
        r.json["detail"].as_str().unwrap_or("").contains("MB"),
        "{}",
        r.text
    );

    // Intact, with 1.5 million integers in an object nothing refers to: the upload check reads
    // only what it needs and accepts it; verifying would parse every object (about 360 MB).
    let intact = pdfgen::table_with(vec![(20, pdfgen::int_array(1_500_000))]);
    let doc = srv.create_document(&clerk, &incoming("Tệp lớn còn nguyên"), intact);
    assert_eq!(doc["versions"][0]["signable"], true, "{doc:#}");
    let id = doc_id(&doc);
    let r = srv.get(&format!("/api/v1/documents/{id}/signatures"), Some(&clerk));
    r.assert_problem(422, "pdf_too_complex");
}

both_backends!(
    costly_files_are_refused_before_they_are_parsed,
    signed_file_is_trusted_exactly_with_the_root,
    unsigned_tampered_extended_and_unreadable_files,
    who_may_ask_and_what_does_not_exist,
);

#[test]
fn a_trust_roots_path_that_is_not_a_bundle_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("roots.pem");
    std::fs::write(&bad, "-----BEGIN NOTHING-----\n").unwrap();
    let out = std::process::Command::new(TestServer::binary())
        .arg("serve")
        .env_remove("DOCFLOW_CONFIG")
        .env("DOCFLOW_DATA_DIR", dir.path().join("data"))
        .env("DOCFLOW_BIND", "127.0.0.1:0")
        .env("DOCFLOW_TRUST_ROOTS_PATH", &bad)
        .output()
        .expect("run docflow");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DOCFLOW_TRUST_ROOTS_PATH"), "{err}");
    assert!(err.contains("expected a PEM file"), "{err}");
}
