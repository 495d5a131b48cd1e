//! Issue 14's remaining pieces, on the journey's helpers and on both databases: a credential the
//! office's own CA issues signs a route; a CSC v2 service (our fake) signs, refuses and goes
//! down; the issued PDF reaches the recipients list's addresses by email; the digital report
//! counts the incoming electronic documents whose signatures verified at registration.

use super::*;
use crate::common::csc_v2::{Account, CscV2};
use crate::common::smtp::SmtpSink;
use crate::common::TestDb;
use docflow::signing::{sign_bytes, LocalKey, SignOptions, Signer};
use std::time::{Duration, Instant};

/// The CA's key and certificate in one PEM file, mode 0600, as `office_ca_path` wants it.
fn office_ca_file(ca: &Ca, dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("office-ca.pem");
    let mut pem = ca.key.private_key_to_pem_pkcs8().unwrap();
    pem.extend_from_slice(&ca.cert.to_pem().unwrap());
    std::fs::write(&path, pem).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn sha256_hex(bytes: &[u8]) -> String {
    docflow::audit::service::hex(&openssl::sha::sha256(bytes))
}

/// An admin issues the director a credential from the office CA (with the PIN handed over);
/// the director signs a route's sign stage with it and pyHanko judges the signature valid and
/// trusted. The refusals: not an admin, an unknown user, a weak PIN, an unknown field, a server
/// without an office CA, a CA file others can read.
fn office_ca_issues_a_credential_that_signs(b: Backend) {
    let ca = ca("docflow Office CA");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = office_ca_file(&ca, dir.path());
    let (roots, file) = (ca.pem.display().to_string(), ca_file.display().to_string());
    let srv = TestServer::start_with(b, move |c| {
        c.trust_roots_path = roots;
        c.office_ca_path = file;
    });
    let o = office_on(srv, ca);
    let path = format!("/api/v1/users/{}/signing-credentials", o.id("director"));
    let r = o
        .srv
        .post(&path, Some(&o.srv.admin_token), &json!({"pin": PIN}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["kind"], "server", "{}", r.text);
    let subject = r.json["subject"].as_str().unwrap().to_string();
    for part in [
        "Trần Văn Minh",
        "Giám đốc",
        "Sở Lao động - Thương binh và Xã hội",
    ] {
        assert!(subject.contains(part), "{part} not in {subject}");
    }
    assert!(
        r.json["issuer"]
            .as_str()
            .unwrap()
            .contains("docflow Office CA"),
        "{}",
        r.text
    );
    let cred = r.json["id"].as_str().unwrap().to_string();
    // A drafter of a division: the division is the unit, the department the organisation.
    let r = o.srv.post(
        &format!("/api/v1/users/{}/signing-credentials", o.id("drafter")),
        Some(&o.srv.admin_token),
        &json!({"pin": PIN, "label": "Chứng thư số"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let s = r.json["subject"].as_str().unwrap();
    assert!(
        s.contains("Phòng Việc làm") && s.contains("Sở Lao động"),
        "{s}"
    );

    // The refusals, each a clear 4xx.
    o.srv
        .post(&path, Some(o.tok("clerk")), &json!({"pin": PIN}))
        .assert_problem(403, "forbidden");
    o.srv
        .post(
            &format!("/api/v1/users/{}/signing-credentials", uuid::Uuid::new_v4()),
            Some(&o.srv.admin_token),
            &json!({"pin": PIN}),
        )
        .assert_problem(404, "not_found");
    o.srv
        .post(&path, Some(&o.srv.admin_token), &json!({"pin": "123"}))
        .assert_problem(422, "pin_too_weak");
    o.srv
        .post(
            &path,
            Some(&o.srv.admin_token),
            &json!({"pin": PIN, "password": "x"}),
        )
        .assert_problem(400, "invalid_field");

    // The holder sees it among their credentials and signs with it.
    let mine = o
        .srv
        .get("/api/v1/me/signing-credentials", Some(o.tok("director")));
    assert!(mine.text.contains(&cred), "{}", mine.text);
    let image = o.srv.send_raw(
        "PUT",
        "/api/v1/me/signature-image",
        Some(o.tok("director")),
        "image/png",
        png(240, 100, [20, 40, 200, 255]),
    );
    assert_eq!(image.status, 200, "{}", image.text);
    let doc = reviewed_draft(
        &o,
        "Quyết định ký bằng chứng thư của cơ quan",
        &["director"],
    );
    let t = task_id(&o, "director", &doc);
    act(
        &o,
        "director",
        &t,
        &json!({"action": "sign", "credential_id": cred, "pin": "000000"}),
        None,
    )
    .assert_problem(403, "signing_pin_wrong");
    let r = act(
        &o,
        "director",
        &t,
        &json!({"action": "sign", "credential_id": cred, "pin": PIN}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let pdf = latest_pdf(&o, &doc);
    let file = keep_dir().join(format!("office-ca-{b:?}.pdf"));
    std::fs::write(&file, &pdf).unwrap();
    assert_valid(&o, &pdf, &file, 1);

    // The audit chain names the issuance, never the PIN.
    let events = o.srv.get(
        "/api/v1/audit/events?limit=500&object_type=signing_credential",
        Some(&o.srv.admin_token),
    );
    assert!(
        events.text.contains("signing_credential.issued"),
        "{}",
        events.text
    );
    assert!(!events.text.contains(PIN), "{}", events.text);

    // A server without an office CA issues nothing: 409 with a stable code.
    let plain = TestServer::start(b);
    let unit = plain.create_unit("U", "Đơn vị", None);
    let user = plain.create_user("someone", PW, Some(&unit), &["official"]);
    plain
        .post(
            &format!("/api/v1/users/{user}/signing-credentials"),
            Some(&plain.admin_token),
            &json!({"pin": PIN}),
        )
        .assert_problem(409, "office_ca_not_configured");

    // A CA file others can read refuses the start, naming the setting.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ca_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cfg = docflow::config::Config {
        office_ca_path: ca_file.display().to_string(),
        ..Default::default()
    };
    let e = cfg.office_ca().unwrap_err().to_string();
    assert!(
        e.contains("DOCFLOW_OFFICE_CA_PATH") && e.contains("chmod 600"),
        "{e}"
    );
}

fn fake_account(o: &Office, password: &str) -> Account {
    let (key, cert) = identity(&o.ca, &CertSpec::leaf("Trần Văn Minh"));
    Account {
        username: "tvminh".into(),
        password: password.into(),
        credential_id: "cred-tvminh-01".into(),
        pin: PIN.into(),
        key,
        certificates: vec![cert, o.ca.cert.clone()],
    }
}

/// A `csc` credential at a CSC v2 service (`auth: basic`: `auth/login`, then the bearer token
/// on every call) signs a route's sign stage, pyHanko validates; the service's refusal is 422
/// `signing_service_refused`, the service down 503 `signing_service_unavailable`; nothing is
/// signed either way and the task stays open.
fn csc_v2_service_signs_refuses_and_goes_down(b: Backend) {
    let o = office(b, |_| {});
    let mut fake = CscV2::start(fake_account(&o, PIN));
    let r = o.srv.post(
        "/api/v1/me/signing-credentials",
        Some(o.tok("director")),
        &json!({"kind": "csc", "label": "Ký số từ xa v2", "base_url": fake.base_url(),
                "credential_id": "cred-tvminh-01", "api_version": "v2", "auth": "basic",
                "username": "tvminh"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let cred = r.json["id"].as_str().unwrap().to_string();
    // basic without a username, or a username without basic: 422 naming it.
    for body in [
        json!({"kind": "csc", "label": "x", "base_url": fake.base_url(), "credential_id": "c",
               "api_version": "v2", "auth": "basic"}),
        json!({"kind": "csc", "label": "x", "base_url": fake.base_url(), "credential_id": "c",
               "api_version": "v2", "auth": "none", "username": "tvminh"}),
    ] {
        let r = o.srv.post(
            "/api/v1/me/signing-credentials",
            Some(o.tok("director")),
            &body,
        );
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.json["field"], "username", "{}", r.text);
    }

    let doc = reviewed_draft(&o, "Công văn ký số từ xa (CSC v2)", &["director"]);
    let t = task_id(&o, "director", &doc);
    let sign = json!({"action": "sign", "credential_id": cred, "pin": PIN});
    let r = act(&o, "director", &t, &sign, None);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.json["signature"]["certificate_subject"]
            .as_str()
            .unwrap()
            .contains("Trần Văn Minh"),
        "{}",
        r.text
    );
    let pdf = latest_pdf(&o, &doc);
    let file = keep_dir().join(format!("csc-v2-{b:?}.pdf"));
    std::fs::write(&file, &pdf).unwrap();
    assert_valid(&o, &pdf, &file, 1);
    // What the service saw: a login, then every call with its bearer token.
    let calls = fake.calls();
    let paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/csc/v2/auth/login",
            "/csc/v2/credentials/info",
            "/csc/v2/credentials/authorize",
            "/csc/v2/signatures/signHash"
        ],
        "{calls:#?}"
    );
    assert!(calls.iter().all(|c| c.status == 200), "{calls:#?}");
    assert!(
        calls[1..].iter().all(|c| c
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer "))),
        "{calls:#?}"
    );

    // Refusals: a wrong PIN (the login's password) and the service's policy at signHash.
    let doc = reviewed_draft(&o, "Công văn bị từ chối", &["director"]);
    let t = task_id(&o, "director", &doc);
    act(
        &o,
        "director",
        &t,
        &json!({"action": "sign", "credential_id": cred, "pin": "999999"}),
        None,
    )
    .assert_problem(422, "signing_service_refused");
    fake.refuse_signing(true);
    act(&o, "director", &t, &sign, None).assert_problem(422, "signing_service_refused");
    assert_eq!(
        fake.calls().last().map(|c| (c.path.clone(), c.status)),
        Some(("/csc/v2/signatures/signHash".to_string(), 400))
    );
    assert_eq!(versions(&o, &doc), 1);
    // The service down: 503, nothing signed, the task still open.
    fake.stop();
    act(&o, "director", &t, &sign, None).assert_problem(503, "signing_service_unavailable");
    assert_eq!(versions(&o, &doc), 1);
    assert_eq!(task_id(&o, "director", &doc), t);
}

/// At issuance the drafter and every address of the recipients list get the issued PDF (bytes
/// equal to the latest version's), once each: a repeated address and the drafter's own are not
/// written twice, entries without an address get nothing. Through the real binary and SMTP.
fn issued_document_reaches_its_recipients(b: Backend) {
    let sink = SmtpSink::start();
    let ca = ca("docflow Route Signing Test CA");
    let db = TestDb::new(b);
    let data = db.dir.path().join("data");
    let srv = TestServer::spawn(
        db,
        data,
        &[
            ("DOCFLOW_TRUST_ROOTS_PATH", ca.pem.display().to_string()),
            ("DOCFLOW_SMTP_URL", sink.url()),
            ("DOCFLOW_SMTP_FROM", "docflow@so-ldtbxh.gov.vn".into()),
            ("DOCFLOW_NOTIFY_POLL_MS", "100".into()),
        ],
    );
    let o = office_on(srv, ca);
    seal(&o);
    let (cred, _) = credential(&o, "director", "Trần Văn Minh");
    let doc = o.srv.create_document(
        o.tok("drafter"),
        &json!({"kind": "outgoing", "type_code": "QĐ", "subject": "Quyết định gửi các nơi nhận",
                "issuer": "Sở Lao động - Thương binh và Xã hội", "issue_place": "Hà Nội",
                "recipients": ["UBND tỉnh", "Sở Tài chính <stc@example.gov.vn>",
                               "ubnd.huyen@example.gov.vn", "STC@example.gov.vn",
                               "drafter@example.gov.vn", "Lưu: VT"]}),
        pdfgen::table(1),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    start(&o, &doc, &["director"]);
    let t = task_id(&o, "head", &doc);
    assert_eq!(
        act(&o, "head", &t, &json!({"action": "approve"}), None).status,
        200
    );
    let t = task_id(&o, "director", &doc);
    let sign = json!({"action": "sign", "credential_id": cred, "pin": PIN});
    assert_eq!(act(&o, "director", &t, &sign, None).status, 200);
    let t = task_id(&o, "clerk", &doc);
    let issue = json!({"action": "issue", "register_id": o.register, "pin": SEAL_PIN});
    let r = act(&o, "clerk", &t, &issue, None);
    assert_eq!(r.status, 200, "{}", r.text);
    let issued_sha = sha256_hex(&latest_pdf(&o, &doc));
    // A classified document goes to no outside address (its file never leaves by email).
    let secret = o.srv.create_document(
        o.tok("drafter"),
        &json!({"kind": "outgoing", "type_code": "QĐ", "subject": "Quyết định mật",
                "issuer": "Sở Lao động - Thương binh và Xã hội", "issue_place": "Hà Nội",
                "confidentiality": "confidential",
                "recipients": ["Công an tỉnh <congan@example.gov.vn>"]}),
        pdfgen::table(1),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    start(&o, &secret, &["director"]);
    let t = task_id(&o, "head", &secret);
    assert_eq!(
        act(&o, "head", &t, &json!({"action": "approve"}), None).status,
        200
    );
    let t = task_id(&o, "director", &secret);
    assert_eq!(act(&o, "director", &t, &sign, None).status, 200);
    let t = task_id(&o, "clerk", &secret);
    let r = act(&o, "clerk", &t, &issue, None);
    assert_eq!(r.status, 200, "{}", r.text);

    // Wait until the outbox is empty: everything written is sent.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pending = o.srv.get(
            "/api/v1/notifications?state=pending",
            Some(&o.srv.admin_token),
        );
        assert_eq!(pending.status, 200, "{}", pending.text);
        if pending.json.as_array().is_some_and(|a| a.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "still pending: {}", pending.text);
        std::thread::sleep(Duration::from_millis(200));
    }
    let issued: Vec<_> = sink
        .messages()
        .into_iter()
        .filter(|m| m.subject.contains("Văn bản đã ban hành"))
        .collect();
    let to = |addr: &str| {
        issued
            .iter()
            .filter(|m| m.rcpt_tos.iter().any(|r| r.eq_ignore_ascii_case(addr)))
            .collect::<Vec<_>>()
    };
    for addr in [
        "stc@example.gov.vn",
        "ubnd.huyen@example.gov.vn",
        "drafter@example.gov.vn",
    ] {
        let got: Vec<_> = to(addr)
            .into_iter()
            .filter(|m| !m.attachments.is_empty())
            .collect();
        assert_eq!(got.len(), 1, "{addr}: {issued:#?}");
        let m = got[0];
        assert_eq!(m.attachments.len(), 1, "{m:?}");
        assert_eq!(m.attachments[0].content_type, "application/pdf");
        assert_eq!(m.attachments[0].sha256, issued_sha, "{addr}");
    }
    assert!(to("congan@example.gov.vn").is_empty(), "{issued:#?}");
    // The drafter hears of the classified one without its subject or file.
    let secret_mail: Vec<_> = to("drafter@example.gov.vn")
        .into_iter()
        .filter(|m| m.attachments.is_empty())
        .collect();
    assert_eq!(secret_mail.len(), 1, "{issued:#?}");
    assert!(!secret_mail[0].subject.contains("Quyết định mật"));
    assert_eq!(issued.len(), 4, "{issued:#?}");
    assert!(
        to("stc@example.gov.vn")[0].to.contains("Sở Tài chính")
            || to("stc@example.gov.vn")[0].raw_headers.contains("=?utf-8?"),
        "{:?}",
        to("stc@example.gov.vn")[0]
    );
    // The outbox shows the outside addresses without a user.
    let sent = o.srv.get(
        "/api/v1/notifications?state=sent&limit=500",
        Some(&o.srv.admin_token),
    );
    let outside: Vec<&Value> = sent
        .json
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["recipient_id"].is_null())
        .collect();
    assert_eq!(outside.len(), 2, "{}", sent.text);
}

/// A PDF signed by `key` / `cert` (chain: `chain`).
fn signed_pdf(
    key: openssl::pkey::PKey<openssl::pkey::Private>,
    cert: openssl::x509::X509,
    chain: Vec<openssl::x509::X509>,
) -> Vec<u8> {
    let signer = Signer::new(cert, chain, Box::new(LocalKey::new(key).unwrap()));
    sign_bytes(&pdfgen::table(1), &signer, &SignOptions::default())
        .unwrap()
        .0
}

/// Registration checks the signatures of an incoming electronic document and keeps the
/// outcome; the digital report counts those that verified (JSON and CSV): one trusted and
/// valid, one signed by a CA the office does not trust, one unsigned, one on paper.
fn digital_report_counts_verified_incoming(b: Backend) {
    let o = office(b, |_| {});
    let incoming = o
        .srv
        .create_register(o.tok("clerk"), "incoming", "Sổ văn bản đến 2026");
    let (key, cert) = identity(&o.ca, &CertSpec::leaf("UBND tỉnh"));
    let valid = signed_pdf(key, cert, vec![o.ca.cert.clone()]);
    let stranger = ca("Some Other CA");
    let (key, cert) = identity(&stranger, &CertSpec::leaf("Ai đó"));
    let untrusted = signed_pdf(key, cert, vec![stranger.cert.clone()]);
    let mut ids = Vec::new();
    for (i, (channel, pdf)) in [
        ("lgsp", valid),
        ("email", untrusted),
        ("Điện tử", pdfgen::table(1)),
        ("paper", pdfgen::table(1)),
    ]
    .into_iter()
    .enumerate()
    {
        let d = o.srv.create_document(
            o.tok("clerk"),
            &json!({"kind": "incoming", "type_code": "CV", "subject": format!("Công văn {i} qua {channel}"),
                    "number_symbol": format!("{}/UBND", i + 10), "issue_date": "2026-11-20",
                    "issuer": "UBND tỉnh", "received_channel": channel}),
            pdf,
        );
        let id = d["id"].as_str().unwrap().to_string();
        let r = o.srv.post(
            &format!("/api/v1/documents/{id}/register"),
            Some(o.tok("clerk")),
            &json!({"register_id": incoming}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let d = o
            .srv
            .get(&format!("/api/v1/documents/{id}"), Some(o.tok("clerk")));
        let expected = ["valid", "invalid", "unsigned"].get(i).copied();
        assert_eq!(d.json["signatures_check"].as_str(), expected, "{}", d.text);
        assert_eq!(
            d.json["signatures_checked_at"].is_string(),
            expected.is_some()
        );
        ids.push(id);
    }
    let today = docflow::vntime::local_date(chrono::Utc::now().naive_utc());
    let path = format!(
        "/api/v1/reports/digital?unit={}&from={today}&to={today}",
        o.so
    );
    let r = o.srv.get(&path, Some(o.tok("clerk")));
    assert_eq!(r.status, 200, "{}", r.text);
    let line = r.json["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["unit_id"] == o.so.as_str())
        .unwrap_or_else(|| panic!("no line for the department: {}", r.text))
        .clone();
    assert_eq!(line["incoming_received"], 4, "{}", r.text);
    assert_eq!(line["incoming_electronic"], 3, "{}", r.text);
    assert_eq!(line["incoming_paper"], 1, "{}", r.text);
    assert_eq!(line["incoming_signatures_verified"], 1, "{}", r.text);
    let share = line["signatures_verified_share"].as_f64().unwrap();
    assert!((share - 1.0 / 3.0).abs() < 1e-9, "{}", r.text);
    let csv = o
        .srv
        .get(&format!("{path}&format=csv"), Some(o.tok("clerk")));
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(
        csv.text.starts_with("unit_code,unit_name,outgoing_issued,issued_digitally,digital_share,incoming_received,incoming_electronic,incoming_paper,incoming_signatures_verified,signatures_verified_share,late_rate\r\n"),
        "{}",
        csv.text
    );
    assert!(
        csv.text
            .contains("SLDTBXH,Sở Lao động - Thương binh và Xã hội,0,0,,4,3,1,1,0.3333,"),
        "{}",
        csv.text
    );
    // Each registration's event names what the check found.
    let events = o.srv.get(
        "/api/v1/audit/events?limit=500&object_type=document",
        Some(&o.srv.admin_token),
    );
    for (id, check) in ids.iter().zip(["valid", "invalid", "unsigned"]) {
        let e = events
            .json
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "document.registered" && e["object_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no registration event for {id}: {}", events.text))
            .clone();
        let details: Value = serde_json::from_str(e["details"].as_str().unwrap()).unwrap();
        assert_eq!(details["signatures_check"], check, "{e}");
    }
}

crate::both_backends!(
    office_ca_issues_a_credential_that_signs,
    csc_v2_service_signs_refuses_and_goes_down,
    issued_document_reaches_its_recipients,
    digital_report_counts_verified_incoming,
);
