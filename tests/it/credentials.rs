//! Signing credentials over HTTP, on both databases: adding `server` (PKCS#12 / PEM), `token`
//! and `csc` credentials, the checks on certificates and keys, unlocking with the PIN and its
//! lockout, deleting, the signature image, the unit seal, the KEK file, and what the database
//! holds (never the key in plain).

use crate::common::testca::*;
use crate::common::{self, Backend, TestServer};
use docflow::accounts::{UnitId, UserId};
use docflow::credentials::crypto::Kek;
use docflow::credentials::service;
use docflow::credentials::CredentialId;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use serde_json::{json, Value};

const PIN: &str = "246810";
const P12_PASSWORD: &str = "p12-password";

fn p12(key: &PKey<Private>, cert: &X509, ca: &Ca) -> Vec<u8> {
    pkcs12_of(key, cert, ca, P12_PASSWORD)
}

/// A PKCS#12 with RC2-40 encryption made by the openssl command (its legacy provider); None,
/// with a note, where that command cannot make one.
fn legacy_p12(key: &PKey<Private>, cert: &X509) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let (k, c, out) = (
        dir.path().join("k.pem"),
        dir.path().join("c.pem"),
        dir.path().join("l.p12"),
    );
    std::fs::write(&k, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    std::fs::write(&c, cert.to_pem().unwrap()).unwrap();
    let pass = format!("pass:{P12_PASSWORD}");
    let made = std::process::Command::new("openssl")
        .args(["pkcs12", "-export", "-legacy", "-inkey"])
        .arg(&k)
        .arg("-in")
        .arg(&c)
        .arg("-out")
        .arg(&out)
        .args(["-passout", &pass])
        .output()
        .is_ok_and(|o| o.status.success());
    if !made {
        eprintln!("SKIPPED: the legacy PKCS#12 case (the openssl command cannot write one here)");
        return None;
    }
    std::fs::read(&out).ok()
}

fn server_meta(label: &str, pin: &str, password: &str) -> Value {
    json!({"kind": "server", "label": label, "pin": pin, "password": password})
}

fn add(srv: &TestServer, token: &str, meta: &Value, file: Vec<u8>) -> common::Resp {
    srv.upload(
        "/api/v1/me/signing-credentials",
        Some(token),
        Some(meta),
        Some(("chu-ky.p12", "application/x-pkcs12", file)),
    )
}

/// A server whose trust roots are `ca`'s certificate.
fn server(b: Backend, ca: &Ca) -> TestServer {
    let roots = ca.pem.display().to_string();
    TestServer::start_with(b, move |c| c.trust_roots_path = roots)
}

fn kek_of(srv: &TestServer) -> Kek {
    Kek::load(&srv.data_dir().join("signing.kek")).expect("the generated KEK")
}

fn user(srv: &TestServer, name: &str) -> (String, String) {
    let id = srv.create_user(name, "user-password-1", None, &["official"]);
    (id, srv.login(name, "user-password-1"))
}

fn pdf_fixture() -> Vec<u8> {
    common::fixture("valid-minimal.pdf")
}

fn server_credential_is_listed_without_key_material(b: Backend) {
    let ca = ca("docflow Credentials Test CA");
    let srv = server(b, &ca);
    let (_uid, token) = user(&srv, "giamdoc");
    let (key, cert) = identity(&ca, &CertSpec::leaf("Nguyễn Văn Đức"));
    let r = add(
        &srv,
        &token,
        &server_meta("Chữ ký số của tôi", PIN, P12_PASSWORD),
        p12(&key, &cert, &ca),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let sha = docflow::audit::service::hex(&openssl::sha::sha256(&cert.to_der().unwrap()));
    assert_eq!(r.json["kind"], "server");
    assert_eq!(r.json["status"], "active");
    assert_eq!(r.json["label"], "Chữ ký số của tôi");
    assert_eq!(r.json["certificate_sha256"], sha.as_str());
    assert!(
        r.json["subject"]
            .as_str()
            .unwrap()
            .contains("CN=Nguyễn Văn Đức"),
        "{}",
        r.text
    );
    assert!(r.json["issuer"]
        .as_str()
        .unwrap()
        .contains("docflow Credentials Test CA"));
    assert!(r.json["not_after"].as_str().is_some());

    let list = srv.get("/api/v1/me/signing-credentials", Some(&token));
    assert_eq!(list.status, 200, "{}", list.text);
    let items = list.json.as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], r.json["id"]);
    let keys: Vec<&String> = items[0].as_object().unwrap().keys().collect();
    for k in &keys {
        assert!(
            !k.contains("key") && !k.contains("pin") && !k.contains("salt") && !k.contains("nonce"),
            "no key material in the listing: {keys:?}"
        );
    }
    // Another user sees none of it.
    let (_, other) = user(&srv, "chuyenvien");
    let theirs = srv.get("/api/v1/me/signing-credentials", Some(&other));
    assert_eq!(theirs.json, json!([]));

    // The database holds no plaintext key: neither the PKCS#8 DER nor the raw private scalar.
    let pkcs8 = key.private_key_to_pkcs8().unwrap();
    let scalar = key.ec_key().unwrap().private_key().to_vec();
    assert_no_plaintext_key(&srv, &[&pkcs8, &scalar]);

    // The audit chain records the addition, without the PIN or the password.
    let events = srv.get(
        "/api/v1/audit/events?object_type=signing_credential&limit=500",
        Some(&srv.admin_token),
    );
    assert_eq!(events.status, 200, "{}", events.text);
    assert!(
        events.text.contains("signing_credential.added"),
        "{}",
        events.text
    );
    assert!(!events.text.contains(PIN) && !events.text.contains(P12_PASSWORD));
}

/// Looks for `needles` in everything the database stores: the SQLite file (and its WAL) byte
/// for byte, or every PostgreSQL row of every table as text (bytea as hex).
fn assert_no_plaintext_key(srv: &TestServer, needles: &[&[u8]]) {
    match srv.db.backend {
        Backend::Sqlite => {
            let path = srv.db.url.trim_start_matches("sqlite://").to_string();
            let mut bytes = std::fs::read(&path).unwrap();
            if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
                bytes.extend_from_slice(&wal);
            }
            assert!(bytes.len() > 4096);
            for n in needles {
                assert!(
                    !bytes.windows(n.len()).any(|w| w == *n),
                    "the SQLite file holds a plaintext key"
                );
            }
        }
        Backend::Postgres => {
            use diesel::prelude::*;
            #[derive(QueryableByName)]
            struct Dump {
                #[diesel(sql_type = diesel::sql_types::Text)]
                dump: String,
            }
            let mut conn = srv.db.connect();
            let tables: Vec<Dump> = diesel::sql_query(
                "SELECT tablename::text AS dump FROM pg_tables WHERE schemaname = 'public'",
            )
            .load(&mut conn)
            .unwrap();
            let mut all = String::new();
            for t in &tables {
                let rows: Vec<Dump> = diesel::sql_query(format!(
                    "SELECT row_to_json(t)::text AS dump FROM {} t",
                    t.dump
                ))
                .load(&mut conn)
                .unwrap();
                for r in rows {
                    all.push_str(&r.dump);
                }
            }
            assert!(
                all.contains("signing_credentials") || all.contains("\\\\x"),
                "dumped"
            );
            for n in needles {
                let hex: String = n.iter().map(|b| format!("{b:02x}")).collect();
                assert!(
                    !all.contains(&hex),
                    "a PostgreSQL row holds a plaintext key"
                );
            }
        }
    }
}

fn unlock_signs_and_wrong_pins_lock(b: Backend) {
    let ca = ca("docflow Unlock Test CA");
    let srv = server(b, &ca);
    let (uid, token) = user(&srv, "pgd");
    let (key, cert) = identity(&ca, &CertSpec::leaf("Trần Thị Bình"));
    let r = add(
        &srv,
        &token,
        &server_meta("Ký số", PIN, P12_PASSWORD),
        p12(&key, &cert, &ca),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let id = CredentialId(r.json["id"].as_str().unwrap().to_string());
    let uid = UserId(uid);
    let kek = kek_of(&srv);
    let mut conn = srv.db.connect();
    let now = docflow::db::now();

    // The right PIN gives a signer whose signature verifies against the office's CA.
    let signer = service::unlock(&mut conn, &kek, &id, &uid, PIN, now).expect("unlock");
    assert_eq!(
        signer.certificate().to_der().unwrap(),
        cert.to_der().unwrap()
    );
    let mut pdf = pdf_fixture();
    docflow::signing::sign_vec(&mut pdf, &signer, &docflow::signing::SignOptions::default())
        .expect("sign");
    let report =
        docflow::signing::verify::verify_pdf(&pdf, std::slice::from_ref(&ca.cert)).unwrap();
    assert_eq!(report.signatures.len(), 1);
    let s = &report.signatures[0];
    assert!(s.intact && s.valid && s.trusted, "{s:#?}");

    // Someone else's user id does not reach it.
    let stranger = UserId(srv.create_user("nguoila", "user-password-1", None, &[]));
    let e = service::unlock(&mut conn, &kek, &id, &stranger, PIN, now)
        .err()
        .unwrap();
    assert_eq!(e.code(), "not_found");

    // Four wrong PINs: 403 each; the fifth still 403 and locks; then 429 even with the right PIN.
    for i in 0..5 {
        let e = service::unlock(&mut conn, &kek, &id, &uid, "135790", now)
            .err()
            .unwrap();
        assert_eq!(e.code(), "signing_pin_wrong", "attempt {i}: {e}");
        assert_eq!(actix_web::ResponseError::status_code(&e).as_u16(), 403);
    }
    let e = service::unlock(&mut conn, &kek, &id, &uid, PIN, now)
        .err()
        .unwrap();
    assert_eq!(e.code(), "signing_pin_locked", "{e}");
    assert_eq!(actix_web::ResponseError::status_code(&e).as_u16(), 429);
    match &e {
        docflow::error::ApiError::Locked { retry_after, .. } => {
            assert!((890..=900).contains(retry_after), "{retry_after}")
        }
        other => panic!("{other:?}"),
    }
    let resp = actix_web::ResponseError::error_response(&e);
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0);
    // The listing shows the lock.
    let list = srv.get("/api/v1/me/signing-credentials", Some(&token));
    assert!(
        list.json[0]["locked_until"].as_str().is_some(),
        "{}",
        list.text
    );
    // The lock is audited.
    let events = srv.get(
        "/api/v1/audit/events?object_type=signing_credential&limit=500",
        Some(&srv.admin_token),
    );
    assert!(
        events.text.contains("signing_credential.locked") && events.text.contains(&id.0),
        "{}",
        events.text
    );

    // After 15 minutes the right PIN works again and the count starts afresh.
    let later = now + chrono::Duration::minutes(16);
    service::unlock(&mut conn, &kek, &id, &uid, PIN, later).expect("unlock after the lock");
    for _ in 0..4 {
        let e = service::unlock(&mut conn, &kek, &id, &uid, "000000", later)
            .err()
            .unwrap();
        assert_eq!(e.code(), "signing_pin_wrong");
    }
    // A right PIN resets the count: four more wrong ones do not lock.
    service::unlock(&mut conn, &kek, &id, &uid, PIN, later).expect("right PIN resets");
    for _ in 0..4 {
        let e = service::unlock(&mut conn, &kek, &id, &uid, "000000", later)
            .err()
            .unwrap();
        assert_eq!(e.code(), "signing_pin_wrong");
    }
    service::unlock(&mut conn, &kek, &id, &uid, PIN, later).expect("still not locked");

    // Another KEK opens nothing, and is not counted as a wrong PIN.
    let other = Kek::from_bytes(&[9u8; 32]).unwrap();
    let e = service::unlock(&mut conn, &other, &id, &uid, PIN, later)
        .err()
        .unwrap();
    assert_eq!(e.code(), "internal_error");

    // At use the certificate is checked again: past its end it is refused.
    let e = service::unlock(
        &mut conn,
        &kek,
        &id,
        &uid,
        PIN,
        now + chrono::Duration::days(400),
    )
    .err()
    .unwrap();
    assert_eq!(e.code(), "certificate_expired");
}

fn concurrent_wrong_pins_are_counted_one_by_one(b: Backend) {
    let ca = ca("docflow Race Test CA");
    let srv = server(b, &ca);
    let (uid, token) = user(&srv, "duadua");
    let (key, cert) = identity(&ca, &CertSpec::leaf("Hoàng Văn G"));
    let r = add(
        &srv,
        &token,
        &server_meta("Ký số", PIN, P12_PASSWORD),
        p12(&key, &cert, &ca),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let id = CredentialId(r.json["id"].as_str().unwrap().to_string());
    let uid = UserId(uid);
    let kek = kek_of(&srv);
    let now = docflow::db::now();
    // Eight wrong PINs at the same moment: five are counted (the fifth locks), three meet the lock.
    let codes = common::race(8, |_| {
        let mut conn = srv.db.connect();
        service::unlock(&mut conn, &kek, &id, &uid, "111111", now)
            .err()
            .map(|e| e.code().as_str().to_string())
            .unwrap_or_default()
    });
    let wrong = codes.iter().filter(|c| *c == "signing_pin_wrong").count();
    let locked = codes.iter().filter(|c| *c == "signing_pin_locked").count();
    assert_eq!((wrong, locked), (5, 3), "{codes:?}");
    let mut conn = srv.db.connect();
    let e = service::unlock(&mut conn, &kek, &id, &uid, PIN, now)
        .err()
        .unwrap();
    assert_eq!(e.code(), "signing_pin_locked");
    let events = srv.get(
        "/api/v1/audit/events?object_type=signing_credential&limit=500",
        Some(&srv.admin_token),
    );
    assert_eq!(
        events.text.matches("signing_credential.locked").count(),
        1,
        "{}",
        events.text
    );
}

fn certificates_and_keys_are_checked(b: Backend) {
    let ca = ca("docflow Checks Test CA");
    let srv = server(b, &ca);
    let (_, token) = user(&srv, "kiemtra");
    let meta = server_meta("Ký số", PIN, P12_PASSWORD);
    let (key, cert) = identity(&ca, &CertSpec::leaf("Lê Văn Cường"));

    // Wrong PKCS#12 password, or not a PKCS#12 at all.
    add(
        &srv,
        &token,
        &server_meta("Ký số", PIN, "wrong"),
        p12(&key, &cert, &ca),
    )
    .assert_problem(422, "pkcs12_unreadable");
    add(&srv, &token, &meta, b"not a pkcs12 file".to_vec())
        .assert_problem(422, "pkcs12_unreadable");
    // A legacy (RC2-40) PKCS#12, as older tools export: refused with words that say so.
    if let Some(legacy) = legacy_p12(&key, &cert) {
        let r = add(&srv, &token, &meta, legacy);
        r.assert_problem(422, "pkcs12_unreadable");
        assert!(
            r.json["detail"].as_str().unwrap().contains("legacy"),
            "{}",
            r.text
        );
    }
    // A weak PIN.
    add(
        &srv,
        &token,
        &server_meta("Ký số", "12345", P12_PASSWORD),
        p12(&key, &cert, &ca),
    )
    .assert_problem(422, "pin_too_weak");
    // Expired, not yet valid, not for signing.
    let expired = CertSpec {
        from_days: -30,
        to_days: -1,
        ..CertSpec::leaf("Hết hạn")
    };
    let (k, c) = identity(&ca, &expired);
    add(&srv, &token, &meta, p12(&k, &c, &ca)).assert_problem(422, "certificate_expired");
    let future = CertSpec {
        from_days: 10,
        to_days: 30,
        ..CertSpec::leaf("Chưa hiệu lực")
    };
    let (k, c) = identity(&ca, &future);
    add(&srv, &token, &meta, p12(&k, &c, &ca)).assert_problem(422, "certificate_not_yet_valid");
    let encipher = CertSpec {
        signing_usage: Some(false),
        ..CertSpec::leaf("Chỉ mã hóa")
    };
    let (k, c) = identity(&ca, &encipher);
    add(&srv, &token, &meta, p12(&k, &c, &ca)).assert_problem(422, "certificate_not_for_signing");
    // Issued by a CA the office does not trust.
    let stranger = self::ca("Unknown CA");
    let (k, c) = identity(&stranger, &CertSpec::leaf("Người lạ"));
    add(&srv, &token, &meta, p12(&k, &c, &stranger)).assert_problem(422, "certificate_untrusted");
    // PEM: a key with somebody else's certificate; then the right pair is accepted.
    let other = p256();
    let mut pem = other.private_key_to_pem_pkcs8().unwrap();
    pem.extend_from_slice(&cert.to_pem().unwrap());
    pem.extend_from_slice(&ca.cert.to_pem().unwrap());
    add(&srv, &token, &server_meta("Ký số", PIN, ""), pem)
        .assert_problem(422, "key_certificate_mismatch");
    let mut pem = ca.cert.to_pem().unwrap();
    pem.extend_from_slice(&key.private_key_to_pem_pkcs8().unwrap());
    pem.extend_from_slice(&cert.to_pem().unwrap());
    let r = add(&srv, &token, &server_meta("PEM", PIN, ""), pem);
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        r.json["subject"].as_str().unwrap().contains("Lê Văn Cường"),
        "the matching certificate is the signer's: {}",
        r.text
    );
    // Nothing refused was stored.
    let list = srv.get("/api/v1/me/signing-credentials", Some(&token));
    assert_eq!(list.json.as_array().unwrap().len(), 1, "{}", list.text);
}

fn token_and_csc_credentials(b: Backend) {
    let ca = ca("docflow Token Test CA");
    let srv = server(b, &ca);
    let (_, token) = user(&srv, "usbtoken");
    let (_, cert) = identity(&ca, &CertSpec::leaf("Phạm Thị Dung"));
    let der = cert.to_der().unwrap();
    // JSON with base64 DER.
    let r = srv.post(
        "/api/v1/me/signing-credentials",
        Some(&token),
        &json!({"kind": "token", "label": "USB token", "certificate": openssl::base64::encode_block(&der)}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["kind"], "token");
    // Multipart with the PEM.
    let r = srv.upload(
        "/api/v1/me/signing-credentials",
        Some(&token),
        Some(&json!({"kind": "token", "label": "USB token PEM"})),
        Some(("cert.pem", "application/x-pem-file", cert.to_pem().unwrap())),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    // Not a certificate; an expired one; base64 garbage.
    srv.post(
        "/api/v1/me/signing-credentials",
        Some(&token),
        &json!({"kind": "token", "label": "x", "certificate": openssl::base64::encode_block(b"nope")}),
    )
    .assert_problem(422, "certificate_unreadable");
    let (_, old) = identity(
        &ca,
        &CertSpec {
            from_days: -9,
            to_days: -2,
            ..CertSpec::leaf("Cũ")
        },
    );
    srv.post(
        "/api/v1/me/signing-credentials",
        Some(&token),
        &json!({"kind": "token", "label": "x", "certificate": openssl::base64::encode_block(&old.to_der().unwrap())}),
    )
    .assert_problem(422, "certificate_expired");
    srv.post(
        "/api/v1/me/signing-credentials",
        Some(&token),
        &json!({"kind": "token", "label": "x", "certificate": "%%%"}),
    )
    .assert_problem(422, "validation_failed");
    // A token takes no PIN here.
    srv.upload(
        "/api/v1/me/signing-credentials",
        Some(&token),
        Some(&json!({"kind": "token", "label": "x", "pin": "123456"})),
        Some(("cert.der", "application/pkix-cert", der.clone())),
    )
    .assert_problem(422, "validation_failed");

    // CSC: the settings are stored and listed.
    let csc = json!({"kind": "csc", "label": "SmartCA", "base_url": "https://csc.example.vn/api",
        "credential_id": "cred-42", "api_version": "v2", "auth": "oauth2"});
    let r = srv.post("/api/v1/me/signing-credentials", Some(&token), &csc);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["csc"]["api_version"], "v2");
    assert_eq!(r.json["csc"]["credential_id"], "cred-42");
    let mut plain = csc.clone();
    plain["base_url"] = json!("http://csc.example.vn");
    srv.post("/api/v1/me/signing-credentials", Some(&token), &plain)
        .assert_problem(422, "validation_failed");
    let mut v3 = csc.clone();
    v3["api_version"] = json!("v3");
    srv.post("/api/v1/me/signing-credentials", Some(&token), &v3)
        .assert_problem(400, "invalid_field");
    srv.post(
        "/api/v1/me/signing-credentials",
        Some(&token),
        &json!({"kind": "hsm", "label": "x"}),
    )
    .assert_problem(400, "invalid_field");

    let list = srv.get("/api/v1/me/signing-credentials", Some(&token));
    let kinds: Vec<&str> = list
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["token", "token", "csc"], "{}", list.text);
    // Neither kind can be unlocked here.
    let mut conn = srv.db.connect();
    let me = srv.get("/api/v1/me", Some(&token));
    let e = service::unlock(
        &mut conn,
        &kek_of(&srv),
        &CredentialId(list.json[0]["id"].as_str().unwrap().into()),
        &UserId(me.json["id"].as_str().unwrap().into()),
        PIN,
        docflow::db::now(),
    )
    .err()
    .unwrap();
    assert_eq!(e.code(), "credential_not_usable");
}

fn attackers_inputs_get_clear_4xx(b: Backend) {
    let ca = ca("docflow Input Test CA");
    let srv = server(b, &ca);
    let (_, token) = user(&srv, "dauvao");
    let (key, cert) = identity(&ca, &CertSpec::leaf("Võ Văn E"));
    let file = p12(&key, &cert, &ca);
    // NUL in the label: 400; another control character: 422.
    add(
        &srv,
        &token,
        &server_meta("ký\u{0}số", PIN, P12_PASSWORD),
        file.clone(),
    )
    .assert_problem(400, "invalid_character");
    add(
        &srv,
        &token,
        &server_meta("ký\u{7}số", PIN, P12_PASSWORD),
        file.clone(),
    )
    .assert_problem(422, "validation_failed");
    // A CR/LF (a header-injection attempt) and a bidi override (a label that reads backwards).
    for label in ["ký\r\nBcc: x@y", "ký\u{202e}gnp.exe"] {
        add(
            &srv,
            &token,
            &server_meta(label, PIN, P12_PASSWORD),
            file.clone(),
        )
        .assert_problem(422, "validation_failed");
    }
    add(
        &srv,
        &token,
        &server_meta(&"a".repeat(201), PIN, P12_PASSWORD),
        file.clone(),
    )
    .assert_problem(422, "validation_failed");
    // Huge metadata, a file over 64 KiB.
    let huge = json!({"kind": "server", "label": "x".repeat(20_000), "pin": PIN, "password": P12_PASSWORD});
    add(&srv, &token, &huge, file.clone()).assert_problem(413, "payload_too_large");
    add(
        &srv,
        &token,
        &server_meta("x", PIN, P12_PASSWORD),
        vec![0u8; 64 * 1024 + 1],
    )
    .assert_problem(413, "payload_too_large");
    // Missing parts, an unknown part, unknown metadata fields, metadata that is not JSON.
    srv.upload(
        "/api/v1/me/signing-credentials",
        Some(&token),
        None,
        Some(("a.p12", "application/x-pkcs12", file.clone())),
    )
    .assert_problem(400, "invalid_field");
    srv.upload(
        "/api/v1/me/signing-credentials",
        Some(&token),
        Some(&server_meta("x", PIN, P12_PASSWORD)),
        None,
    )
    .assert_problem(400, "invalid_field");
    let mut extra = server_meta("x", PIN, P12_PASSWORD);
    extra["key"] = json!("raw");
    add(&srv, &token, &extra, file.clone()).assert_problem(400, "invalid_field");
    let boundary = "XyZ";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--{boundary}--\r\n"
    );
    srv.send_raw(
        "POST",
        "/api/v1/me/signing-credentials",
        Some(&token),
        &format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
    .assert_problem(400, "multipart_invalid");
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\nnot json\r\n--{boundary}--\r\n"
    );
    srv.send_raw(
        "POST",
        "/api/v1/me/signing-credentials",
        Some(&token),
        &format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
    .assert_problem(400, "malformed_json");
    // A multipart body cut before its closing boundary.
    let mut cut = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.p12\"\r\n\r\n"
    )
    .into_bytes();
    cut.extend_from_slice(&file[..100]);
    srv.send_raw(
        "POST",
        "/api/v1/me/signing-credentials",
        Some(&token),
        &format!("multipart/form-data; boundary={boundary}"),
        cut,
    )
    .assert_problem(400, "multipart_invalid");
    // Neither multipart nor JSON; no token.
    srv.send_raw(
        "POST",
        "/api/v1/me/signing-credentials",
        Some(&token),
        "text/plain",
        b"hi".to_vec(),
    )
    .assert_problem(415, "unsupported_media_type");
    srv.get("/api/v1/me/signing-credentials", None)
        .assert_problem(401, "unauthorized");
    // A PIN or password far too long.
    add(
        &srv,
        &token,
        &server_meta("x", &"9".repeat(300), P12_PASSWORD),
        file.clone(),
    )
    .assert_problem(422, "validation_failed");
    let list = srv.get("/api/v1/me/signing-credentials", Some(&token));
    assert_eq!(list.json, json!([]), "nothing was stored: {}", list.text);
}

fn only_own_credentials_are_deleted(b: Backend) {
    let ca = ca("docflow Delete Test CA");
    let srv = server(b, &ca);
    let (_, owner) = user(&srv, "chu");
    let (_, other) = user(&srv, "khach");
    let (key, cert) = identity(&ca, &CertSpec::leaf("Đặng Văn F"));
    let r = add(
        &srv,
        &owner,
        &server_meta("Ký số", PIN, P12_PASSWORD),
        p12(&key, &cert, &ca),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/me/signing-credentials/{id}");
    srv.send("DELETE", &path, Some(&other), None)
        .assert_problem(404, "not_found");
    srv.send("DELETE", &path, Some(&srv.admin_token), None)
        .assert_problem(404, "not_found");
    srv.send(
        "DELETE",
        "/api/v1/me/signing-credentials/no-such-id",
        Some(&owner),
        None,
    )
    .assert_problem(404, "not_found");
    let list = srv.get("/api/v1/me/signing-credentials", Some(&owner));
    assert_eq!(
        list.json.as_array().unwrap().len(),
        1,
        "still there: {}",
        list.text
    );

    let d = srv.send("DELETE", &path, Some(&owner), None);
    assert_eq!(d.status, 204, "{}", d.text);
    let list = srv.get("/api/v1/me/signing-credentials", Some(&owner));
    assert_eq!(list.json, json!([]));
    srv.send("DELETE", &path, Some(&owner), None)
        .assert_problem(404, "not_found");
    // The row stays for the record, its encrypted key is gone.
    {
        use diesel::prelude::*;
        use docflow::db::schema::signing_credentials as t;
        let mut conn = srv.db.connect();
        let (status, key, deleted): (String, Option<Vec<u8>>, Option<chrono::NaiveDateTime>) =
            t::table
                .find(&id)
                .select((t::status, t::key_ciphertext, t::deleted_at))
                .first(&mut conn)
                .unwrap();
        assert_eq!(status, "deleted");
        assert!(key.is_none());
        assert!(deleted.is_some());
    }
    let events = srv.get(
        "/api/v1/audit/events?object_type=signing_credential&limit=500",
        Some(&srv.admin_token),
    );
    assert!(
        events.text.contains("signing_credential.deleted") && events.text.contains(&id),
        "{}",
        events.text
    );
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        let mut px = vec![0u8; (width * height * 4) as usize];
        for p in px.chunks_mut(4) {
            p.copy_from_slice(&[0, 0, 200, 128]);
        }
        w.write_image_data(&px).unwrap();
    }
    out
}

fn signature_image(b: Backend) {
    let srv = TestServer::start(b);
    let (_, token) = user(&srv, "anhky");
    let path = "/api/v1/me/signature-image";
    srv.get(path, Some(&token)).assert_problem(404, "not_found");
    srv.send_raw(
        "PUT",
        path,
        Some(&token),
        "image/png",
        b"\x89PNG\r\n\x1a\nnot really".to_vec(),
    )
    .assert_problem(422, "signature_image_invalid");
    let mut truncated = png(40, 20);
    truncated.truncate(truncated.len() - 20);
    srv.send_raw("PUT", path, Some(&token), "image/png", truncated)
        .assert_problem(422, "signature_image_invalid");
    srv.send_raw("PUT", path, Some(&token), "image/png", png(2001, 1))
        .assert_problem(422, "signature_image_invalid");
    srv.send_raw(
        "PUT",
        path,
        Some(&token),
        "image/png",
        vec![7u8; 512 * 1024 + 1],
    )
    .assert_problem(413, "payload_too_large");
    srv.send_raw("PUT", path, Some(&token), "image/jpeg", png(4, 4))
        .assert_problem(415, "unsupported_media_type");
    srv.get(path, Some(&token)).assert_problem(404, "not_found");

    let image = png(300, 120);
    let r = srv.send_raw("PUT", path, Some(&token), "image/png", image.clone());
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["width"], 300);
    assert_eq!(r.json["height"], 120);
    let g = srv.get(path, Some(&token));
    assert_eq!(g.status, 200, "{}", g.text);
    assert_eq!(g.content_type(), "image/png");
    assert_eq!(g.bytes, image);
    // A second one replaces the first.
    let second = png(200, 80);
    let r = srv.send_raw("PUT", path, Some(&token), "image/png", second.clone());
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(srv.get(path, Some(&token)).bytes, second);
    // Each user has their own.
    let (_, other) = user(&srv, "nguoikhac");
    srv.get(path, Some(&other)).assert_problem(404, "not_found");
}

/// The answer to a seal upload.
struct SealResp {
    status: u16,
    text: String,
    json: Value,
}

fn seal_form(
    srv: &TestServer,
    token: &str,
    unit: &str,
    meta: &Value,
    file: Vec<u8>,
    image: Vec<u8>,
) -> SealResp {
    use reqwest::blocking::multipart::{Form, Part};
    let form = Form::new()
        .part(
            "metadata",
            Part::text(meta.to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part("file", Part::bytes(file).file_name("seal.p12"))
        .part(
            "image",
            Part::bytes(image)
                .file_name("seal.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let r = reqwest::blocking::Client::new()
        .put(srv.url(&format!("/api/v1/units/{unit}/seal")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = r.text().unwrap();
    let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status >= 400 {
        assert_eq!(ct, "application/problem+json", "{text}");
    }
    SealResp { status, text, json }
}

fn unit_seal_is_for_its_clerks(b: Backend) {
    let ca = ca("docflow Seal Test CA");
    let srv = server(b, &ca);
    let (unit, clerk_token, official_token) = srv.office("SLDTBXH");
    let (other_unit, _, _) = srv.office("SYT");
    let (key, cert) = identity(&ca, &CertSpec::leaf("Sở Lao động - Thương binh và Xã hội"));
    let meta = json!({"password": P12_PASSWORD, "pin": PIN});
    let image = png(400, 400);

    let r = seal_form(
        &srv,
        &official_token,
        &unit,
        &meta,
        p12(&key, &cert, &ca),
        image.clone(),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    let r = seal_form(
        &srv,
        &srv.admin_token,
        "no-such-unit",
        &meta,
        p12(&key, &cert, &ca),
        image.clone(),
    );
    assert_eq!(r.status, 404, "{}", r.text);
    let r = seal_form(
        &srv,
        &srv.admin_token,
        &unit,
        &meta,
        p12(&key, &cert, &ca),
        b"bad".to_vec(),
    );
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (422, Some("signature_image_invalid")),
        "{}",
        r.text
    );
    let weak = json!({"password": P12_PASSWORD, "pin": "1"});
    let r = seal_form(
        &srv,
        &srv.admin_token,
        &unit,
        &weak,
        p12(&key, &cert, &ca),
        image.clone(),
    );
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (422, Some("pin_too_weak")),
        "{}",
        r.text
    );

    let r = seal_form(
        &srv,
        &srv.admin_token,
        &unit,
        &meta,
        p12(&key, &cert, &ca),
        image.clone(),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["credential"]["kind"], "server");
    assert_eq!(r.json["image"]["width"], 400);
    let first = r.json["credential"]["id"].as_str().unwrap().to_string();

    let kek = kek_of(&srv);
    let mut conn = srv.db.connect();
    let now = docflow::db::now();
    let me = |t: &str| {
        UserId(
            srv.get("/api/v1/me", Some(t)).json["id"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    };
    let clerk = me(&clerk_token);
    let official = me(&official_token);
    let unit_id = UnitId(unit.clone());
    let signer = service::unlock_seal(&mut conn, &kek, &[], &unit_id, &clerk, PIN, now)
        .expect("clerk unlocks the seal");
    let mut pdf = pdf_fixture();
    docflow::signing::sign_vec(&mut pdf, &signer, &docflow::signing::SignOptions::default())
        .unwrap();
    let report =
        docflow::signing::verify::verify_pdf(&pdf, std::slice::from_ref(&ca.cert)).unwrap();
    assert!(report.signatures[0].trusted && report.signatures[0].valid);
    // Not a clerk, or a clerk of another unit: 403; a wrong PIN: 403 signing_pin_wrong.
    let e = service::unlock_seal(&mut conn, &kek, &[], &unit_id, &official, PIN, now)
        .err()
        .unwrap();
    assert_eq!(e.code(), "forbidden");
    let e = service::unlock_seal(
        &mut conn,
        &kek,
        &[],
        &UnitId(other_unit.clone()),
        &clerk,
        PIN,
        now,
    )
    .err()
    .unwrap();
    assert_eq!(e.code(), "forbidden");
    let e = service::unlock_seal(&mut conn, &kek, &[], &unit_id, &clerk, "999999", now)
        .err()
        .unwrap();
    assert_eq!(e.code(), "signing_pin_wrong");
    // The seal is not one of the clerk's own credentials.
    let list = srv.get("/api/v1/me/signing-credentials", Some(&clerk_token));
    assert_eq!(list.json, json!([]));

    // A new seal replaces the old one, in one step.
    let (key2, cert2) = identity(&ca, &CertSpec::leaf("Sở LĐTBXH (con dấu mới)"));
    let r = seal_form(
        &srv,
        &srv.admin_token,
        &unit,
        &meta,
        p12(&key2, &cert2, &ca),
        png(300, 300),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    {
        use diesel::prelude::*;
        use docflow::db::schema::signing_credentials as t;
        let rows: Vec<(String, String)> = t::table
            .filter(t::owner_unit_id.eq(&unit))
            .select((t::id, t::status))
            .load(&mut conn)
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert!(
            rows.contains(&(first.clone(), "deleted".to_string())),
            "{rows:?}"
        );
    }
    let signer = service::unlock_seal(&mut conn, &kek, &[], &unit_id, &clerk, PIN, now).unwrap();
    assert_eq!(
        signer.certificate().to_der().unwrap(),
        cert2.to_der().unwrap()
    );
    let events = srv.get(
        "/api/v1/audit/events?object_type=unit&limit=500",
        Some(&srv.admin_token),
    );
    assert!(
        events.text.contains("unit.seal_set") && events.text.contains(&first),
        "the replacement names the old seal: {}",
        events.text
    );
}

fn a_bad_kek_file_refuses_the_start(b: Backend) {
    let db = common::TestDb::new(b);
    let dir = tempfile::tempdir().unwrap();
    let run = |path: &std::path::Path| {
        std::process::Command::new(TestServer::binary())
            .arg("serve")
            .env_remove("DOCFLOW_CONFIG")
            .env("DATABASE_URL", &db.url)
            .env("DOCFLOW_DATA_DIR", dir.path().join("data"))
            .env("DOCFLOW_BIND", "127.0.0.1:0")
            .env("DOCFLOW_ADMIN_PASSWORD", common::ADMIN_PASSWORD)
            .env("DOCFLOW_SIGNING_KEK_PATH", path)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    use std::os::unix::fs::PermissionsExt;
    let kek = dir.path().join("signing.kek");
    std::fs::write(&kek, [1u8; 31]).unwrap();
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(&kek);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("DOCFLOW_SIGNING_KEK_PATH") && err.contains("31 bytes"),
        "{err}"
    );

    std::fs::write(&kek, [1u8; 32]).unwrap();
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&kek);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("chmod 600"), "{err}");

    let out = run(&dir.path().join("missing.kek"));
    assert!(!out.status.success());

    // A good one: the server starts with it, and none is generated in the data folder.
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).unwrap();
    let data = dir.path().join("data2");
    let srv = TestServer::spawn(
        db.shared(),
        data.clone(),
        &[("DOCFLOW_SIGNING_KEK_PATH", kek.display().to_string())],
    );
    assert_eq!(srv.get("/healthz", None).status, 200);
    assert!(!data.join("signing.kek").exists());
    drop(srv);

    // The embedded default: generated with mode 0600, and the log says to keep it elsewhere.
    let data = dir.path().join("data3");
    let srv = TestServer::spawn(db.shared(), data.clone(), &[]);
    let meta = std::fs::metadata(data.join("signing.kek")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 32);
    let logs = srv.logs.lock().unwrap().join("\n");
    assert!(
        logs.contains("signing_kek_path") && logs.contains("production"),
        "{logs}"
    );
}

both_backends!(
    server_credential_is_listed_without_key_material,
    unlock_signs_and_wrong_pins_lock,
    concurrent_wrong_pins_are_counted_one_by_one,
    certificates_and_keys_are_checked,
    token_and_csc_credentials,
    attackers_inputs_get_clear_4xx,
    only_own_credentials_are_deleted,
    signature_image,
    unit_seal_is_for_its_clerks,
    a_bad_kek_file_refuses_the_start,
);
