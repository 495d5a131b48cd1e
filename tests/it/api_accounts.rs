//! Accounts over HTTP, on both databases: login, tokens, units, users, roles, throttling,
//! and the HTTP conventions every endpoint keeps.

use crate::common;
use crate::common::{Backend, TestServer, ADMIN_PASSWORD};
use serde_json::json;

fn login_me_logout(b: Backend) {
    let srv = TestServer::start(b);
    let r = srv.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": "admin", "password": ADMIN_PASSWORD}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.json["token"].as_str().unwrap().to_string();
    assert!(token.len() >= 64, "token is long and random: {token}");
    assert!(r.json["expires_at"].as_str().is_some());

    let me = srv.get("/api/v1/me", Some(&token));
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json["username"], "admin");
    assert_eq!(me.json["roles"], json!(["admin"]));
    assert!(
        me.json.get("password_hash").is_none(),
        "the hash never leaves the server"
    );

    // The token is stored only as a hash.
    {
        use diesel::prelude::*;
        let mut conn = srv.db.connect();
        let hashes: Vec<String> = docflow::db::schema::sessions::table
            .select(docflow::db::schema::sessions::token_hash)
            .load(&mut conn)
            .unwrap();
        assert!(!hashes.is_empty());
        assert!(hashes
            .iter()
            .all(|h| h != &token && !h.contains(&token[4..])));
    }

    let out = srv.send("POST", "/api/v1/auth/logout", Some(&token), None);
    assert_eq!(out.status, 204, "{}", out.text);
    srv.get("/api/v1/me", Some(&token))
        .assert_problem(401, "unauthorized");
    srv.get("/api/v1/me", None)
        .assert_problem(401, "unauthorized");
    srv.get("/api/v1/me", Some("dft_not-a-real-token"))
        .assert_problem(401, "unauthorized");
}

fn wrong_password_is_401_and_repeated_failures_lock(b: Backend) {
    let srv = TestServer::start_with(b, |c| {
        c.login_max_failures = 3;
        c.login_lockout_minutes = 5;
    });
    srv.create_user("clerk1", "clerk-password-1", None, &["clerk"]);
    for _ in 0..2 {
        srv.post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "clerk1", "password": "wrong-password"}),
        )
        .assert_problem(401, "invalid_credentials");
    }
    // Unknown users get the same answer as wrong passwords.
    srv.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": "nobody", "password": "wrong-password"}),
    )
    .assert_problem(401, "invalid_credentials");
    // Third failure for the account reaches the limit: now even the right password is refused.
    srv.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": "clerk1", "password": "wrong-password"}),
    )
    .assert_problem(401, "invalid_credentials");
    let locked = srv.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": "clerk1", "password": "clerk-password-1"}),
    );
    locked.assert_problem(429, "too_many_requests");
    let retry: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 300, "retry-after {retry}");
    // Other accounts from the same address still work (addresses get more room).
    srv.login("admin", ADMIN_PASSWORD);
}

fn units_form_a_tree(b: Backend) {
    let srv = TestServer::start(b);
    let t = srv.admin_token.clone();
    let dept = srv.create_unit("SLDTBXH", "Sở Lao động - Thương binh và Xã hội", None);
    let div = srv.create_unit("VP", "Văn phòng", Some(&dept));
    let got = srv.get(&format!("/api/v1/units/{div}"), Some(&t));
    assert_eq!(got.status, 200);
    assert_eq!(got.json["parent_id"], dept.as_str());
    assert_eq!(got.json["name"], "Văn phòng");

    // Duplicate code.
    srv.post(
        "/api/v1/units",
        Some(&t),
        &json!({"code": "VP", "name": "x"}),
    )
    .assert_problem(409, "unit_code_taken");
    // A cycle is refused.
    srv.patch(
        &format!("/api/v1/units/{dept}"),
        Some(&t),
        &json!({"parent_id": div}),
    )
    .assert_problem(422, "validation_failed");
    // Unknown parent.
    let r = srv.post(
        "/api/v1/units",
        Some(&t),
        &json!({"code": "X", "name": "x", "parent_id": uuid::Uuid::new_v4().to_string()}),
    );
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.json["field"], "parent_id");
    // Deactivating a unit with an active sub-unit is refused; the sub-unit first works.
    srv.patch(
        &format!("/api/v1/units/{dept}"),
        Some(&t),
        &json!({"active": false}),
    )
    .assert_problem(409, "unit_in_use");
    let r = srv.patch(
        &format!("/api/v1/units/{div}"),
        Some(&t),
        &json!({"active": false}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["active"], false);
    // Moving to the top: parent_id null.
    let r = srv.patch(
        &format!("/api/v1/units/{div}"),
        Some(&t),
        &json!({"parent_id": null}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["parent_id"].is_null());
    let list = srv.get("/api/v1/units", Some(&t));
    assert_eq!(list.json.as_array().unwrap().len(), 2);
    srv.get(&format!("/api/v1/units/{}", uuid::Uuid::new_v4()), Some(&t))
        .assert_problem(404, "not_found");
}

fn users_roles_and_deactivation(b: Backend) {
    let srv = TestServer::start(b);
    let t = srv.admin_token.clone();
    let unit = srv.create_unit("PHC", "Phòng Hành chính", None);
    let id = srv.create_user(
        "duc.nv",
        "official-pass-1",
        Some(&unit),
        &["official", "clerk"],
    );
    let tok = srv.login("duc.nv", "official-pass-1");
    let me = srv.get("/api/v1/me", Some(&tok));
    assert_eq!(me.json["full_name"], "Nguyễn Văn Đức");
    assert_eq!(me.json["position_title"], "Phó Giám đốc");
    assert_eq!(me.json["unit"]["code"], "PHC");
    assert_eq!(me.json["roles"], json!(["clerk", "official"]));

    // Non-admins cannot manage accounts, and cannot see other accounts.
    srv.post(
        "/api/v1/units",
        Some(&tok),
        &json!({"code": "Z", "name": "z"}),
    )
    .assert_problem(403, "forbidden");
    srv.get("/api/v1/users", Some(&tok))
        .assert_problem(403, "forbidden");
    let admin_id = srv.get("/api/v1/me", Some(&t)).json["id"]
        .as_str()
        .unwrap()
        .to_string();
    srv.get(&format!("/api/v1/users/{admin_id}"), Some(&tok))
        .assert_problem(404, "not_found");
    assert_eq!(
        srv.get(&format!("/api/v1/users/{id}"), Some(&tok)).status,
        200
    );

    // Duplicate username.
    let r = srv.post(
        "/api/v1/users",
        Some(&t),
        &json!({"username": "duc.nv", "password": "another-pass-1", "full_name": "X", "email": "x@example.gov.vn"}),
    );
    r.assert_problem(409, "username_taken");
    // Validation names the field.
    let r = srv.post(
        "/api/v1/users",
        Some(&t),
        &json!({"username": "Bad Name", "password": "another-pass-1", "full_name": "X", "email": "x@example.gov.vn"}),
    );
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.json["field"], "username");
    let r = srv.post(
        "/api/v1/users",
        Some(&t),
        &json!({"username": "short", "password": "short", "full_name": "X", "email": "x@example.gov.vn"}),
    );
    assert_eq!(r.json["field"], "password");
    let r = srv.post(
        "/api/v1/users",
        Some(&t),
        &json!({"username": "mail", "password": "long-enough-1", "full_name": "X", "email": "not-an-email"}),
    );
    assert_eq!(r.json["field"], "email");

    // Change roles and title.
    let r = srv.patch(
        &format!("/api/v1/users/{id}"),
        Some(&t),
        &json!({"roles": ["archivist"], "position_title": "Chuyên viên"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["roles"], json!(["archivist"]));
    assert_eq!(r.json["position_title"], "Chuyên viên");
    // Deactivation ends sessions and blocks login.
    let r = srv.patch(
        &format!("/api/v1/users/{id}"),
        Some(&t),
        &json!({"active": false}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    srv.get("/api/v1/me", Some(&tok))
        .assert_problem(401, "unauthorized");
    srv.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": "duc.nv", "password": "official-pass-1"}),
    )
    .assert_problem(401, "invalid_credentials");
    // Password reset by the admin, after reactivation.
    let r = srv.patch(
        &format!("/api/v1/users/{id}"),
        Some(&t),
        &json!({"active": true, "password": "brand-new-pass-1"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    srv.login("duc.nv", "brand-new-pass-1");

    // The last administrator cannot be removed.
    srv.patch(
        &format!("/api/v1/users/{admin_id}"),
        Some(&t),
        &json!({"active": false}),
    )
    .assert_problem(409, "last_admin");
    srv.patch(
        &format!("/api/v1/users/{admin_id}"),
        Some(&t),
        &json!({"roles": ["clerk"]}),
    )
    .assert_problem(409, "last_admin");
    // ...and the refused change left nothing behind.
    assert_eq!(
        srv.get("/api/v1/me", Some(&t)).json["roles"],
        json!(["admin"])
    );

    let list = srv.get(&format!("/api/v1/users?unit_id={unit}"), Some(&t));
    assert_eq!(list.status, 200);
    assert_eq!(list.json.as_array().unwrap().len(), 1);
}

fn bad_input_gets_clear_4xx(b: Backend) {
    let srv = TestServer::start_with(b, |c| c.max_json_bytes = 4096);
    let t = srv.admin_token.clone();
    // Malformed JSON.
    srv.send_raw(
        "POST",
        "/api/v1/units",
        Some(&t),
        "application/json",
        b"{\"code\": ".to_vec(),
    )
    .assert_problem(400, "malformed_json");
    // Trailing garbage.
    srv.send_raw(
        "POST",
        "/api/v1/units",
        Some(&t),
        "application/json",
        b"{\"code\":\"A\",\"name\":\"b\"} x".to_vec(),
    )
    .assert_problem(400, "malformed_json");
    // Wrong type names the field.
    let r = srv.post("/api/v1/units", Some(&t), &json!({"code": 12, "name": "x"}));
    r.assert_problem(400, "invalid_field");
    assert_eq!(r.json["field"], "code");
    // Unknown enum value names the field and the allowed values.
    let r = srv.post(
        "/api/v1/users",
        Some(&t),
        &json!({"username": "abc", "password": "long-enough-1", "full_name": "X", "email": "x@example.gov.vn", "roles": ["boss"]}),
    );
    r.assert_problem(400, "invalid_field");
    assert_eq!(r.json["field"], "roles[0]");
    assert!(
        r.json["detail"].as_str().unwrap().contains("official"),
        "{}",
        r.text
    );
    // Missing and unknown fields.
    let r = srv.post("/api/v1/units", Some(&t), &json!({"name": "x"}));
    r.assert_problem(400, "invalid_field");
    assert!(
        r.json["detail"].as_str().unwrap().contains("code"),
        "{}",
        r.text
    );
    let r = srv.post(
        "/api/v1/units",
        Some(&t),
        &json!({"code": "A", "name": "x", "colour": "red"}),
    );
    r.assert_problem(400, "invalid_field");
    assert!(
        r.json["detail"].as_str().unwrap().contains("colour"),
        "{}",
        r.text
    );
    // Oversize body.
    let big = json!({"code": "A", "name": "x".repeat(10_000)});
    srv.post("/api/v1/units", Some(&t), &big)
        .assert_problem(413, "payload_too_large");
    // Not JSON.
    srv.send_raw(
        "POST",
        "/api/v1/units",
        Some(&t),
        "text/plain",
        b"hello".to_vec(),
    )
    .assert_problem(415, "unsupported_media_type");
    // Unknown route, and a bad query parameter.
    srv.get("/api/v1/nothing-here", Some(&t))
        .assert_problem(404, "route_not_found");
    // A path that exists with another method: 405, and Allow names the methods it has.
    let r = srv.send("DELETE", "/api/v1/units", Some(&t), None);
    r.assert_problem(405, "method_not_allowed");
    assert_eq!(r.header("allow"), "GET, POST");
    let r = srv.send(
        "PUT",
        &format!("/api/v1/users/{}", uuid::Uuid::new_v4()),
        Some(&t),
        None,
    );
    r.assert_problem(405, "method_not_allowed");
    assert_eq!(r.header("allow"), "GET, PATCH");
    let r = srv.send("POST", "/healthz", None, None);
    r.assert_problem(405, "method_not_allowed");
    assert_eq!(r.header("allow"), "GET");
    srv.get("/api/v1/users?unit=1", Some(&t))
        .assert_problem(400, "invalid_query");
    srv.get("/api/v1/audit/events?limit=abc", Some(&t))
        .assert_problem(400, "invalid_query");
    // Empty strings after trimming.
    let r = srv.post(
        "/api/v1/units",
        Some(&t),
        &json!({"code": "A", "name": "   "}),
    );
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.json["field"], "name");
    // None of the refused requests left a unit behind.
    assert_eq!(srv.get("/api/v1/units", Some(&t)).json, json!([]));
}

fn health_ready_and_request_id(b: Backend) {
    let srv = TestServer::start(b);
    let h = srv.get("/healthz", None);
    assert_eq!(h.status, 200);
    assert_eq!(h.json["status"], "ok");
    let r = srv.get("/readyz", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json["status"], "ready");
    let id = h.headers["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "generated UUID request id: {id}");
    // A sane incoming id is kept; errors carry one too.
    let resp = reqwest::blocking::Client::new()
        .get(srv.url("/api/v1/me"))
        .header("x-request-id", "abc-123")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["x-request-id"], "abc-123");
    let resp = reqwest::blocking::Client::new()
        .get(srv.url("/healthz"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .unwrap();
    assert_ne!(resp.headers()["x-request-id"], "bad id with spaces");
}

/// Issue 11, items 3, 4 and 8: control characters and NUL are refused at the edge, naming
/// the field, the same on both databases (NUL was a 500 on PostgreSQL); `bearer` in any case;
/// date-times with `Z` or an offset.
fn characters_bearer_case_and_date_times(b: Backend) {
    let srv = TestServer::start_with(b, |c| c.notify_clock = "manual".into());
    let t = srv.admin_token.clone();
    let unit = srv.create_unit("VP", "Văn phòng", None);
    let user = |full_name: &str, position: &str| {
        json!({
            "username": "nguyen.a", "password": "password-for-a-1", "full_name": full_name,
            "position_title": position, "email": "a@example.gov.vn", "unit_id": unit,
            "roles": ["official"]
        })
    };
    // A line break in a name would end a mail header: 422 naming the field.
    for (name, position, field) in [
        ("A\nB", "Chuyên viên", "full_name"),
        ("A\r\nBcc: x@evil.example", "Chuyên viên", "full_name"),
        ("Nguyễn Văn A", "Chuyên\tviên", "position_title"),
        ("\u{202E}Nguyễn", "Chuyên viên", "full_name"),
    ] {
        let r = srv.post("/api/v1/users", Some(&t), &user(name, position));
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.json["field"], field, "{}", r.text);
    }
    // NUL anywhere: 400 naming the field, never a database error.
    let r = srv.post(
        "/api/v1/users",
        Some(&t),
        &user("Nguyễn\u{0}Văn A", "Chuyên viên"),
    );
    r.assert_problem(400, "invalid_character");
    assert_eq!(r.json["field"], "full_name", "{}", r.text);
    let r = srv.post(
        "/api/v1/units",
        Some(&t),
        &json!({"code": "PC", "name": "Phòng\u{0}Chính sách"}),
    );
    r.assert_problem(400, "invalid_character");
    assert_eq!(r.json["field"], "name", "{}", r.text);
    let r = srv.post(
        "/api/v1/units",
        Some(&t),
        &json!({"code": "PC", "name": "Phòng\u{2066}Chính sách"}),
    );
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.json["field"], "name", "{}", r.text);
    let r = srv.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": "admin\u{0}", "password": "x"}),
    );
    r.assert_problem(400, "invalid_character");
    assert_eq!(r.json["field"], "username", "{}", r.text);
    let r = srv.get("/api/v1/users?unit_id=%00", Some(&t));
    r.assert_problem(400, "invalid_character");
    assert_eq!(r.json["field"], "unit_id", "{}", r.text);
    // Nothing was stored; a good name still goes through.
    let users = srv.get("/api/v1/users", Some(&t));
    assert_eq!(users.json.as_array().unwrap().len(), 1, "{}", users.text);
    let r = srv.post(
        "/api/v1/users",
        Some(&t),
        &user("Nguyễn Văn A", "Chuyên viên"),
    );
    assert_eq!(r.status, 201, "{}", r.text);

    // RFC 9110: the authentication scheme is case-insensitive.
    for scheme in ["bearer", "BEARER", "Bearer", "bEaReR"] {
        let r = reqwest::blocking::Client::new()
            .get(srv.url("/api/v1/me"))
            .header("authorization", format!("{scheme} {t}"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{scheme}");
    }
    let r = reqwest::blocking::Client::new()
        .get(srv.url("/api/v1/me"))
        .header("authorization", format!("Basic {t}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);

    // `format: date-time`: Z and offsets are accepted and read as UTC; answers carry `Z`.
    for (sent, want) in [
        ("2026-12-01T08:00:00Z", "2026-12-01T08:00:00Z"),
        ("2026-12-01T15:30:00+07:00", "2026-12-01T08:30:00Z"),
        ("2026-12-01T09:00:00", "2026-12-01T09:00:00Z"),
    ] {
        let r = srv.send(
            "PUT",
            "/api/v1/notifications/clock",
            Some(&t),
            Some(&json!({ "now": sent })),
        );
        assert_eq!(r.status, 200, "{sent}: {}", r.text);
        assert_eq!(r.json["now"], want, "{sent}");
    }
    let r = srv.send(
        "PUT",
        "/api/v1/notifications/clock",
        Some(&t),
        Some(&json!({ "now": "1 December" })),
    );
    r.assert_problem(400, "invalid_field");
    assert_eq!(r.json["field"], "now");
}

/// Failures from one address lock that address out of the account, not the owner at theirs;
/// the account's own count (the slowdown) still grows with every address's failures.
fn failures_lock_the_address_not_the_account(b: Backend) {
    let srv = TestServer::start_with(b, |c| {
        c.login_max_failures = 3;
        c.login_lockout_minutes = 5;
    });
    srv.create_user("clerk1", "clerk-password-1", None, &["clerk"]);
    let attacker: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let owner: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    for _ in 0..3 {
        srv.login_from(attacker, "clerk1", "wrong-password")
            .assert_problem(401, "invalid_credentials");
    }
    // The attacker's address is locked out of the account, even with the right password…
    srv.login_from(attacker, "clerk1", "clerk-password-1")
        .assert_problem(429, "too_many_requests");
    // …the owner at their own address is not.
    let ok = srv.login_from(owner, "clerk1", "clerk-password-1");
    assert_eq!(ok.status, 200, "{}", ok.text);
    // A failure from the owner's address after the attacker's: the account-wide count (what
    // the slowdown grows with) saw all four.
    srv.login_from(owner, "clerk1", "wrong-password")
        .assert_problem(401, "invalid_credentials");
    use diesel::prelude::*;
    use docflow::db::schema::login_throttle as lt;
    let mut conn = srv.db.connect();
    let counts: Vec<(String, i32)> = lt::table
        .select((lt::key, lt::failures))
        .order(lt::key.asc())
        .load(&mut conn)
        .unwrap();
    assert!(
        counts.contains(&("user:clerk1".to_string(), 1)),
        "the owner's success cleared the account count, the new failure counts: {counts:?}"
    );
    assert!(
        counts.contains(&("user:clerk1|ip:127.0.0.2".to_string(), 3)),
        "{counts:?}"
    );
}

/// Simultaneous first failures on a fresh name all answer 401 (PostgreSQL used to collide on
/// the throttle row's primary key and answer 409), and simultaneous creations of one unit
/// code or one username answer their documented codes, never an index name.
fn simultaneous_writes_answer_domain_codes(b: Backend) {
    let srv = TestServer::start_with(b, |c| {
        c.db_pool_size = 8;
        c.login_max_failures = 100;
    });
    let t = srv.admin_token.clone();
    let no_index_name = |r: &crate::common::Resp| {
        assert!(
            !r.text.contains("constraint") && !r.text.contains("_key") && !r.text.contains("pkey"),
            "an internal name in {}",
            r.text
        );
    };
    for round in 0..6 {
        let name = format!("nobody{round}");
        for r in common::race(4, |_| {
            srv.post(
                "/api/v1/auth/login",
                None,
                &json!({"username": name, "password": "wrong-password"}),
            )
        }) {
            r.assert_problem(401, "invalid_credentials");
        }
        let code = format!("U{round}");
        let units = common::race(4, |i| {
            srv.post(
                "/api/v1/units",
                Some(&t),
                &json!({"code": code, "name": format!("Đơn vị {i}")}),
            )
        });
        assert_eq!(units.iter().filter(|r| r.status == 201).count(), 1);
        for r in units.iter().filter(|r| r.status != 201) {
            r.assert_problem(409, "unit_code_taken");
            no_index_name(r);
        }
        let username = format!("user{round}");
        let users = common::race(4, |i| {
            srv.post(
                "/api/v1/users",
                Some(&t),
                &json!({"username": username, "password": "a-password-123", "full_name": format!("Người {i}"), "email": format!("u{i}@example.gov.vn"), "roles": ["clerk"]}),
            )
        });
        assert_eq!(users.iter().filter(|r| r.status == 201).count(), 1);
        for r in users.iter().filter(|r| r.status != 201) {
            r.assert_problem(409, "username_taken");
            no_index_name(r);
        }
    }
}

/// `/readyz` says not ready when the database does not answer (PostgreSQL: a lock holds the
/// probe; it used to wait without end, or `db_timeout_secs` for a connection) and when the
/// database has lost docflow's schema (an empty database).
fn readyz_knows_a_database_that_hangs_or_is_empty(b: Backend) {
    use diesel::connection::SimpleConnection;
    let srv = TestServer::start(b);
    assert_eq!(srv.get("/readyz", None).status, 200);
    if b == Backend::Postgres {
        let mut holder = srv.db.connect();
        holder
            .batch_execute("BEGIN; LOCK TABLE audit_head IN ACCESS EXCLUSIVE MODE;")
            .unwrap();
        srv.get("/readyz", None)
            .assert_problem(503, "service_unavailable");
        holder.batch_execute("ROLLBACK").unwrap();
        assert_eq!(srv.get("/readyz", None).status, 200);
    }
    let mut conn = srv.db.connect();
    conn.batch_execute("DROP TABLE audit_head").unwrap();
    srv.get("/readyz", None)
        .assert_problem(503, "service_unavailable");
}

/// A user changes their own password (issue 15, also noticed: the generated admin password said
/// "sign in and change it" with no way to): the current one is checked, the policy applies, the
/// session asking stays and every other one ends; wrong current passwords count as failed logins.
fn own_password_change(b: Backend) {
    let srv = TestServer::start_with(b, |c| c.login_max_failures = 3);
    let id = srv.create_user("duc.nv", "a-long-password-1", None, &["official"]);
    let asking = srv.login("duc.nv", "a-long-password-1");
    let other = srv.login("duc.nv", "a-long-password-1");
    let put = |token: Option<&str>, body: serde_json::Value| {
        srv.send("PUT", "/api/v1/me/password", token, Some(&body))
    };

    put(
        None,
        json!({"current_password": "a-long-password-1", "new_password": "x"}),
    )
    .assert_problem(401, "unauthorized");
    let r = put(
        Some(&asking),
        json!({"current_password": "not-my-password", "new_password": "another-long-pass-2"}),
    );
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.json["field"], "current_password", "{}", r.text);
    let r = put(
        Some(&asking),
        json!({"current_password": "a-long-password-1", "new_password": "a-long-password-1"}),
    );
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.json["field"], "new_password", "{}", r.text);
    let r = put(
        Some(&asking),
        json!({"current_password": "a-long-password-1", "new_password": "short"}),
    );
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.json["field"], "new_password", "{}", r.text);
    let r = put(
        Some(&asking),
        json!({"current_password": "a-long-password-1", "new_password": "x", "role": "admin"}),
    );
    assert_eq!(r.status, 400, "unknown fields are refused: {}", r.text);

    let r = put(
        Some(&asking),
        json!({"current_password": "a-long-password-1", "new_password": "another-long-pass-2"}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        srv.get("/api/v1/me", Some(&asking)).status,
        200,
        "the asking session stays"
    );
    srv.get("/api/v1/me", Some(&other))
        .assert_problem(401, "unauthorized");
    srv.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": "duc.nv", "password": "a-long-password-1"}),
    )
    .assert_problem(401, "invalid_credentials");
    let fresh = srv.login("duc.nv", "another-long-pass-2");
    let r = srv.get(
        &format!("/api/v1/audit/events?object_type=user&object_id={id}&limit=100"),
        Some(&srv.admin_token),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let events = r.json.as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "user.password_changed"),
        "{}",
        r.text
    );
    assert!(
        !r.text.contains("another-long-pass-2"),
        "no password in the audit log"
    );

    // Wrong current passwords are failed logins: the third locks this address out (429).
    for _ in 0..2 {
        put(
            Some(&fresh),
            json!({"current_password": "guess", "new_password": "yet-another-pass-3"}),
        )
        .assert_problem(422, "validation_failed");
    }
    let r = put(
        Some(&fresh),
        json!({"current_password": "guess", "new_password": "yet-another-pass-3"}),
    );
    assert!(
        r.status == 422 || r.status == 429,
        "third failure: {} {}",
        r.status,
        r.text
    );
    let r = put(
        Some(&fresh),
        json!({"current_password": "another-long-pass-2", "new_password": "yet-another-pass-3"}),
    );
    r.assert_problem(429, "too_many_requests");
}

/// A password an admin sets for someone else is a reset (issue 15): its holder may only change
/// it, see themselves and sign out until they do; an admin changing their own password, and
/// the holder's own change, set no such mark. The generated first admin password is marked too.
fn admin_reset_forces_a_change(b: Backend) {
    let srv = TestServer::start(b);
    let id = srv.create_user("lan.tt", "first-long-password", None, &["official"]);
    let before = srv.login("lan.tt", "first-long-password");
    assert_eq!(srv.get("/api/v1/documents", Some(&before)).status, 200);
    let me = srv.get("/api/v1/me", Some(&before));
    assert_eq!(me.json["must_change_password"], false, "{}", me.text);

    let r = srv.patch(
        &format!("/api/v1/users/{id}"),
        Some(&srv.admin_token),
        &json!({"password": "reset-by-the-admin-1"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["must_change_password"], true, "{}", r.text);
    let t = srv.login("lan.tt", "reset-by-the-admin-1");
    for path in ["/api/v1/documents", "/api/v1/tasks", "/api/v1/units"] {
        srv.get(path, Some(&t))
            .assert_problem(403, "password_change_required");
    }
    let me = srv.get("/api/v1/me", Some(&t));
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json["must_change_password"], true, "{}", me.text);
    let r = srv.send(
        "PUT",
        "/api/v1/me/password",
        Some(&t),
        Some(&json!({"current_password": "reset-by-the-admin-1", "new_password": "my-own-choice-22"})),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(srv.get("/api/v1/documents", Some(&t)).status, 200);
    assert_eq!(
        srv.get("/api/v1/me", Some(&t)).json["must_change_password"],
        false
    );

    // An admin setting their own password is not a reset.
    let admin = srv.get("/api/v1/me", Some(&srv.admin_token));
    let admin_id = admin.json["id"].as_str().unwrap().to_string();
    let r = srv.patch(
        &format!("/api/v1/users/{admin_id}"),
        Some(&srv.admin_token),
        &json!({"password": "admins-own-new-pass-3"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["must_change_password"], false, "{}", r.text);
}

both_backends!(
    admin_reset_forces_a_change,
    own_password_change,
    readyz_knows_a_database_that_hangs_or_is_empty,
    failures_lock_the_address_not_the_account,
    simultaneous_writes_answer_domain_codes,
    login_me_logout,
    wrong_password_is_401_and_repeated_failures_lock,
    units_form_a_tree,
    users_roles_and_deactivation,
    bad_input_gets_clear_4xx,
    health_ready_and_request_id,
    characters_bearer_case_and_date_times,
);
