//! Changing a `server` credential's PIN, proved by signing in a route (the old PIN refused, the
//! new one signs, pyHanko validates); and deputies signing TL. (thừa lệnh) and TUQ. (thừa ủy
//! quyền) with their own credentials: the capacity line, their own position, both people kept.

use super::*;

const NEW_PIN: &str = "975310";

fn change_pin(o: &Office, who: &str, credential: &str, pin: &str, new_pin: &str) -> Resp {
    o.srv.send(
        "PUT",
        &format!("/api/v1/me/signing-credentials/{credential}/pin"),
        Some(o.tok(who)),
        Some(&json!({"pin": pin, "new_pin": new_pin})),
    )
}

/// The stored (salt, nonce, ciphertext) of a credential.
fn stored_key(o: &Office, credential: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut conn = o.srv.db.connect();
    let row = docflow::credentials::queries::find(&mut conn, credential)
        .unwrap()
        .expect("the credential's row");
    (
        row.key_salt.expect("salt"),
        row.key_nonce.expect("nonce"),
        row.key_ciphertext.expect("ciphertext"),
    )
}

fn events(o: &Office, object_type: &str) -> Vec<Value> {
    let r = o.srv.get(
        &format!("/api/v1/audit/events?limit=500&object_type={object_type}"),
        Some(&o.srv.admin_token),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.json.as_array().unwrap().clone()
}

fn pin_change_reseals_the_key(b: Backend) {
    let o = office(b, |_| {});
    let (cred, _) = credential(&o, "director", "Trần Văn Minh");
    let (token, _) = token_credential(&o, "director", "Trần Văn Minh");
    let before = stored_key(&o, &cred);

    // Someone else's credential and a guessed id are not there; a token keeps no PIN here.
    change_pin(&o, "deputy", &cred, PIN, NEW_PIN).assert_problem(404, "not_found");
    change_pin(&o, "director", "no-such-credential", PIN, NEW_PIN).assert_problem(404, "not_found");
    change_pin(&o, "director", &token, PIN, NEW_PIN).assert_problem(422, "credential_has_no_pin");
    // The new PIN is judged as at creation, before the old one is tried.
    change_pin(&o, "director", &cred, PIN, "12345").assert_problem(422, "pin_too_weak");
    let r = change_pin(&o, "director", &cred, PIN, PIN);
    r.assert_problem(422, "validation_failed");
    assert!(r.text.contains("new_pin"), "{}", r.text);
    let long = "9".repeat(300);
    change_pin(&o, "director", &cred, PIN, &long).assert_problem(422, "validation_failed");
    // A wrong current PIN is refused and counted.
    let r = change_pin(&o, "director", &cred, "000000", NEW_PIN);
    r.assert_problem(403, "signing_pin_wrong");
    assert!(r.text.contains("4 more"), "{}", r.text);
    assert_eq!(
        stored_key(&o, &cred),
        before,
        "nothing refused changed the key"
    );

    let r = change_pin(&o, "director", &cred, PIN, NEW_PIN);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["id"], cred.as_str(), "{}", r.text);
    assert_eq!(r.json["kind"], "server", "{}", r.text);
    let after = stored_key(&o, &cred);
    assert_ne!(after.0, before.0, "a new salt");
    assert_ne!(after.1, before.1, "a new nonce");
    assert_ne!(after.2, before.2, "a new ciphertext");
    // The old PIN no longer opens it.
    change_pin(&o, "director", &cred, PIN, "112233").assert_problem(403, "signing_pin_wrong");

    // In a route: the old PIN is refused, nothing signed; the new one signs.
    let doc = reviewed_draft(&o, "Quyết định sau khi đổi PIN", &["director"]);
    let t = task_id(&o, "director", &doc);
    let sign = |pin: &str| {
        act(
            &o,
            "director",
            &t,
            &json!({"action": "sign", "credential_id": cred, "pin": pin}),
            None,
        )
    };
    sign(PIN).assert_problem(403, "signing_pin_wrong");
    assert_eq!(versions(&o, &doc), 1, "the old PIN signed nothing");
    let r = sign(NEW_PIN);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["task"]["status"], "approved", "{}", r.text);
    assert_eq!(versions(&o, &doc), 2);
    let pdf = latest_pdf(&o, &doc);
    let path = keep_dir().join(format!("after-pin-change-{b:?}.pdf"));
    std::fs::write(&path, &pdf).unwrap();
    assert_valid(&o, &pdf, &path, 1);

    // The change is audited, without a PIN.
    let all = events(&o, "signing_credential");
    let changed: Vec<&Value> = all
        .iter()
        .filter(|e| e["action"] == "signing_credential.pin_changed")
        .collect();
    assert_eq!(changed.len(), 1, "{all:#?}");
    assert_eq!(changed[0]["object_id"], cred.as_str());
    assert_eq!(changed[0]["actor_id"], o.id("director"));
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains(PIN) && !text.contains(NEW_PIN), "{text}");

    // Five wrong current PINs lock the credential: then even the right one is 429, at a PIN
    // change and at signing alike.
    let (deputy_cred, _) = credential(&o, "deputy", "Lê Thị Hoa");
    for i in 1..=5 {
        let r = change_pin(&o, "deputy", &deputy_cred, "000000", NEW_PIN);
        r.assert_problem(403, "signing_pin_wrong");
        if i == 5 {
            assert!(r.text.contains("now locked"), "{}", r.text);
        }
    }
    let r = change_pin(&o, "deputy", &deputy_cred, PIN, NEW_PIN);
    r.assert_problem(429, "signing_pin_locked");
    assert!(!r.header("retry-after").is_empty(), "{:?}", r.headers);
    let locked = events(&o, "signing_credential");
    assert!(
        locked
            .iter()
            .any(|e| e["action"] == "signing_credential.locked"
                && e["object_id"] == deputy_cred.as_str()),
        "{locked:#?}"
    );
    deputy_signs_for_director(&o);
    let doc = reviewed_draft(&o, "Công văn khi bị khóa", &["director"]);
    let t = task_id(&o, "director", &doc);
    act(
        &o,
        "deputy",
        &t,
        &json!({"action": "sign", "credential_id": deputy_cred, "pin": PIN}),
        None,
    )
    .assert_problem(429, "signing_pin_locked");
    assert_eq!(versions(&o, &doc), 1);
}

/// Adds an official of the department (and signs them in).
fn add_official(o: &mut Office, who: &'static str, full_name: &str, position: &str) {
    let r = o.srv.post(
        "/api/v1/users",
        Some(&o.srv.admin_token),
        &json!({"username": who, "password": PW, "full_name": full_name,
                "position_title": position, "email": format!("{who}@example.gov.vn"),
                "unit_id": o.so, "roles": ["official"]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    o.ids
        .insert(who, r.json["id"].as_str().unwrap().to_string());
    let token = o.srv.login(who, PW);
    o.tokens.insert(who, token);
}

fn tl_and_tuq_deputies_sign_in_their_capacity(b: Backend) {
    let mut o = office(b, |_| {});
    add_official(&mut o, "chief", "Nguyễn Văn Tâm", "Chánh Văn phòng");
    add_official(&mut o, "legal", "Hoàng Thị Mai", "Trưởng phòng Pháp chế");
    let ends = (chrono::Utc::now() + chrono::Duration::days(3))
        .naive_utc()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    for (deputy, capacity) in [("chief", "tl"), ("legal", "tuq")] {
        let r = o.srv.post(
            "/api/v1/substitutions",
            Some(o.tok("director")),
            &json!({"deputy_id": o.id(deputy), "capacity": capacity, "ends_at": ends}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let dir = keep_dir();
    let cases = [
        (
            "chief",
            "Nguyễn Văn Tâm",
            "tl",
            "TL. GIÁM ĐỐC",
            "CHÁNH VĂN PHÒNG",
        ),
        (
            "legal",
            "Hoàng Thị Mai",
            "tuq",
            "TUQ. GIÁM ĐỐC",
            "TRƯỞNG PHÒNG PHÁP CHẾ",
        ),
    ];
    for (deputy, name, capacity, line, position) in cases {
        let (cred, cert) = credential(&o, deputy, name);
        let doc = reviewed_draft(&o, &format!("Thông báo ký {line}"), &["director"]);
        let t = task_id(&o, "director", &doc);
        let r = act(
            &o,
            deputy,
            &t,
            &json!({"action": "sign", "credential_id": cred, "pin": PIN}),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["task"]["capacity"], capacity, "{}", r.text);
        assert_eq!(
            r.json["task"]["assignee"]["id"],
            o.id("director"),
            "{}",
            r.text
        );
        assert_eq!(
            r.json["task"]["acting_user"]["id"],
            o.id(deputy),
            "{}",
            r.text
        );
        let pdf = latest_pdf(&o, &doc);
        let path = dir.join(format!("{capacity}-{b:?}.pdf"));
        std::fs::write(&path, &pdf).unwrap();
        assert_valid(&o, &pdf, &path, 1);
        let text = pdftotext(&path);
        for needle in [line, position, name] {
            assert!(
                text.contains(needle),
                "{needle:?} not in the page text:\n{text}"
            );
        }
        assert!(!text.contains("KT."), "no KT. line for {capacity}:\n{text}");
        // The capacity line comes before the signer's own position, as Decree 30 lays it out.
        assert!(
            text.find(line).unwrap() < text.find(position).unwrap(),
            "{text}"
        );
        let png = render(&path);
        eprintln!(
            "{capacity} file {} and render {}",
            path.display(),
            png.display()
        );

        // The record keeps both people: who signed, for whom, in which capacity, with which
        // certificate.
        let all = events(&o, "task");
        let e = all
            .iter()
            .find(|e| e["action"] == "task.signed" && e["object_id"] == t.as_str())
            .unwrap_or_else(|| panic!("no task.signed event for {t}: {all:#?}"));
        assert_eq!(e["actor_id"], o.id(deputy), "{e}");
        assert_eq!(e["on_behalf_of"], o.id("director"), "{e}");
        let details: Value = serde_json::from_str(e["details"].as_str().unwrap()).unwrap();
        assert_eq!(details["capacity"], capacity, "{details}");
        assert_eq!(details["assignee_id"], o.id("director"), "{details}");
        let cert_sha = docflow::audit::service::hex(&openssl::sha::sha256(&cert.to_der().unwrap()));
        assert!(details.to_string().contains(&cert_sha), "{details}");
    }
}

crate::both_backends!(
    pin_change_reseals_the_key,
    tl_and_tuq_deputies_sign_in_their_capacity,
);
