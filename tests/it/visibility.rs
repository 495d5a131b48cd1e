//! Who sees what, walked as a matrix on both databases: each role × own/other unit ×
//! classified or not × each document endpoint, plus guessed ids. Whatever a user may not
//! see answers 404 exactly like a document that does not exist.

use crate::common::{fixture, Backend, TestServer};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

struct People {
    tokens: BTreeMap<&'static str, String>,
    ids: BTreeMap<&'static str, String>,
}

fn people(srv: &TestServer) -> People {
    let a = srv.create_unit("A", "Phòng A", None);
    let b = srv.create_unit("B", "Phòng B", None);
    let mut tokens = BTreeMap::new();
    let mut ids = BTreeMap::new();
    for (name, unit, role) in [
        ("clerk_a", &a, "clerk"),
        ("clerk_a2", &a, "clerk"),
        ("clerk_b", &b, "clerk"),
        ("drafter_a", &a, "official"),
        ("official_a", &a, "official"),
        ("official_b", &b, "official"),
        ("archivist_a", &a, "archivist"),
    ] {
        let username = name.replace('_', ".");
        ids.insert(
            name,
            srv.create_user(&username, "password-for-tests", Some(unit), &[role]),
        );
        tokens.insert(name, srv.login(&username, "password-for-tests"));
    }
    tokens.insert("admin", srv.admin_token.clone());
    ids.insert(
        "admin",
        srv.get("/api/v1/me", Some(&srv.admin_token)).json["id"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    People { tokens, ids }
}

fn read_paths(id: &str) -> Vec<String> {
    vec![
        format!("/api/v1/documents/{id}"),
        format!("/api/v1/documents/{id}/file"),
        format!("/api/v1/documents/{id}/versions/1/file"),
    ]
}

/// Asserts every endpoint of `id` answers 404 `not_found` to `token`, changing nothing.
fn assert_hidden(srv: &TestServer, who: &str, token: &str, id: &str, label: &str) {
    for p in read_paths(id) {
        let r = srv.get(&p, Some(token));
        assert_eq!(
            (r.status, r.json["code"].as_str()),
            (404, Some("not_found")),
            "{who} GET {p} ({label}): {}",
            r.text
        );
    }
    let posts = [
        (
            "register",
            json!({"register_id": uuid::Uuid::new_v4().to_string()}),
        ),
        ("return", json!({"reason": "không đúng địa chỉ"})),
        (
            "grants",
            json!({"user_id": uuid::Uuid::new_v4().to_string()}),
        ),
    ];
    for (verb, body) in posts {
        if verb == "grants" && who == "admin" {
            // Admins manage grants of any document (they see none by role).
            continue;
        }
        let r = srv.post(
            &format!("/api/v1/documents/{id}/{verb}"),
            Some(token),
            &body,
        );
        assert_eq!(r.status, 404, "{who} POST {verb} ({label}): {}", r.text);
    }
    let r = srv.send(
        "POST",
        &format!("/api/v1/documents/{id}/acknowledge"),
        Some(token),
        None,
    );
    assert_eq!(r.status, 404, "{who} acknowledge ({label}): {}", r.text);
    for part in ["versions", "attachments"] {
        let r = srv.upload(
            &format!("/api/v1/documents/{id}/{part}"),
            Some(token),
            None,
            Some(("x.pdf", "application/pdf", fixture("valid-minimal.pdf"))),
        );
        assert_eq!(r.status, 404, "{who} POST {part} ({label}): {}", r.text);
    }
    if who != "admin" {
        let r = srv.get(&format!("/api/v1/documents/{id}/grants"), Some(token));
        assert_eq!(r.status, 404, "{who} grants ({label}): {}", r.text);
    }
}

fn assert_visible(srv: &TestServer, who: &str, token: &str, id: &str, label: &str) {
    for p in read_paths(id) {
        let r = srv.get(&p, Some(token));
        assert_eq!(r.status, 200, "{who} GET {p} ({label}): {}", r.text);
    }
}

fn listed(srv: &TestServer, token: &str) -> BTreeSet<String> {
    let r = srv.get("/api/v1/documents?limit=200", Some(token));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

fn matrix(b: Backend) {
    let srv = TestServer::start(b);
    let p = people(&srv);
    let t = |n: &str| p.tokens[n].clone();
    let meta = |conf: &str, subject: &str| json!({"kind": "incoming", "type_code": "CV", "subject": subject, "confidentiality": conf, "issuer": "Bộ Nội vụ"});
    let normal = srv.create_document(
        &t("clerk_a"),
        &meta("normal", "Thường"),
        fixture("valid-minimal.pdf"),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = srv.create_document(
        &t("clerk_a"),
        &meta("top_secret", "Tuyệt mật"),
        fixture("valid-minimal.pdf"),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let draft = srv.create_document(
        &t("drafter_a"),
        &json!({"kind": "outgoing", "type_code": "TTr", "subject": "Dự thảo"}),
        fixture("valid-minimal.pdf"),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let guessed = uuid::Uuid::new_v4().to_string();

    // (document, who sees it) before any grant.
    let expected: Vec<(&str, &String, Vec<&str>)> = vec![
        (
            "normal incoming, unit A",
            &normal,
            vec!["clerk_a", "clerk_a2"],
        ),
        ("top secret incoming, unit A", &secret, vec!["clerk_a"]),
        (
            "draft of drafter_a, unit A",
            &draft,
            vec!["clerk_a", "clerk_a2", "drafter_a"],
        ),
        ("guessed id", &guessed, vec![]),
    ];
    let everyone: Vec<&str> = p.tokens.keys().copied().collect();
    for (label, id, seers) in &expected {
        for who in &everyone {
            if seers.contains(who) {
                assert_visible(&srv, who, &t(who), id, label);
            } else {
                assert_hidden(&srv, who, &t(who), id, label);
            }
        }
    }
    for junk in [
        "not-a-uuid",
        "..%2F..%2Fetc",
        "00000000-0000-0000-0000-000000000000",
    ] {
        srv.get(&format!("/api/v1/documents/{junk}"), Some(&t("clerk_a")))
            .assert_problem(404, "not_found");
        let r = srv.get(
            &format!("/api/v1/documents/{junk}/file"),
            Some(&t("clerk_a")),
        );
        assert_eq!(r.status, 404, "{junk}: {}", r.text);
    }
    // Listings show exactly what each one may open.
    for who in &everyone {
        let want: BTreeSet<String> = expected
            .iter()
            .filter(|(_, _, seers)| seers.contains(who))
            .map(|(_, id, _)| id.to_string())
            .collect();
        assert_eq!(listed(&srv, &t(who)), want, "{who}'s list");
    }
    // Searching does not reveal a classified subject either.
    let r = srv.get("/api/v1/documents?q=tuyet%20mat", Some(&t("clerk_a2")));
    assert!(r.json["items"].as_array().unwrap().is_empty(), "{}", r.text);

    // Whoever cannot see a document cannot act on it either.
    let r = srv.post(
        &format!("/api/v1/documents/{normal}/register"),
        Some(&t("drafter_a")),
        &json!({"register_id": guessed}),
    );
    assert_eq!(r.status, 404, "{}", r.text);

    // Grants: a clerk who sees the document, or an admin; the grantee then sees it.
    let r = srv.post(
        &format!("/api/v1/documents/{secret}/grants"),
        Some(&t("clerk_a")),
        &json!({"user_id": p.ids["official_b"]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_visible(&srv, "official_b", &t("official_b"), &secret, "granted");
    let r = srv.post(
        &format!("/api/v1/documents/{secret}/grants"),
        Some(&t("admin")),
        &json!({"user_id": p.ids["clerk_a2"]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_visible(
        &srv,
        "clerk_a2",
        &t("clerk_a2"),
        &secret,
        "granted by admin",
    );
    let grants = srv.get(
        &format!("/api/v1/documents/{secret}/grants"),
        Some(&t("clerk_a")),
    );
    assert_eq!(grants.json.as_array().unwrap().len(), 3, "{}", grants.text);
    // The grantee from another unit reads but does not manage grants.
    srv.get(
        &format!("/api/v1/documents/{secret}/grants"),
        Some(&t("official_b")),
    )
    .assert_problem(403, "forbidden");
    // Withdrawn: hidden again.
    let r = srv.send(
        "DELETE",
        &format!("/api/v1/documents/{secret}/grants/{}", p.ids["official_b"]),
        Some(&t("clerk_a")),
        None,
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert_hidden(
        &srv,
        "official_b",
        &t("official_b"),
        &secret,
        "grant withdrawn",
    );

    // Archivists see a document once it is archived (archiving itself is a later issue).
    {
        use diesel::prelude::*;
        use docflow::db::schema::documents;
        let mut conn = srv.db.connect();
        diesel::update(documents::table.find(&normal))
            .set(documents::status.eq("archived"))
            .execute(&mut conn)
            .unwrap();
    }
    assert_visible(&srv, "archivist_a", &t("archivist_a"), &normal, "archived");
    assert_hidden(
        &srv,
        "archivist_a",
        &t("archivist_a"),
        &secret,
        "classified, not granted",
    );

    // Registers are managed by their unit's clerks only.
    let reg = srv.create_register(&t("clerk_a"), "incoming", "Sổ đến");
    for who in ["clerk_b", "official_a", "archivist_a"] {
        let r = srv.get(&format!("/api/v1/registers/{reg}"), Some(&t(who)));
        assert_eq!(r.status, 404, "{who}: {}", r.text);
    }
    assert_eq!(
        srv.get(&format!("/api/v1/registers/{reg}"), Some(&t("admin")))
            .status,
        200
    );
    srv.post(
        "/api/v1/registers",
        Some(&t("official_a")),
        &json!({"kind": "incoming", "name": "x"}),
    )
    .assert_problem(403, "forbidden");
    let unit_b = srv.get("/api/v1/me", Some(&t("clerk_b"))).json["unit"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    srv.post(
        "/api/v1/registers",
        Some(&t("clerk_a")),
        &json!({"kind": "incoming", "name": "x", "unit_id": unit_b}),
    )
    .assert_problem(403, "forbidden");
}

both_backends!(matrix);
