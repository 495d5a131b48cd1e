//! The audit log: every change writes an event; `docflow audit verify` catches rows that were
//! altered, removed or reordered directly in the database.

use crate::common::{Backend, TestServer};
use diesel::prelude::*;
use diesel::sql_query;
use serde_json::json;
use std::process::Command;

fn verify_cli(srv: &TestServer) -> (bool, String) {
    let out = Command::new(TestServer::binary())
        .args(["audit", "verify"])
        .env("DATABASE_URL", &srv.db.url)
        .env("DOCFLOW_DATA_DIR", srv.db.dir.path())
        .output()
        .expect("run docflow audit verify");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// A server with a few events: admin bootstrap, login, a unit, a user, a login.
fn server_with_events(b: Backend) -> TestServer {
    let srv = TestServer::start(b);
    let unit = srv.create_unit("VP", "Văn phòng", None);
    srv.create_user("clerk1", "clerk-password-1", Some(&unit), &["clerk"]);
    srv.login("clerk1", "clerk-password-1");
    srv
}

fn changes_write_events_and_chain_verifies(b: Backend) {
    let srv = server_with_events(b);
    let r = srv.get("/api/v1/audit/events?limit=500", Some(&srv.admin_token));
    assert_eq!(r.status, 200, "{}", r.text);
    let events = r.json.as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "user.created",
            "auth.login",
            "unit.created",
            "user.created",
            "auth.login"
        ],
        "{}",
        r.text
    );
    // Who, what, which object, from where.
    let unit_event = &events[2];
    assert!(unit_event["actor_id"].as_str().is_some());
    assert_eq!(unit_event["object_type"], "unit");
    assert_eq!(unit_event["client_ip"], "127.0.0.1");
    assert_eq!(events[0]["prev_hash"], "0".repeat(64));
    for w in events.windows(2) {
        assert_eq!(w[1]["prev_hash"], w[0]["hash"]);
        assert_eq!(
            w[1]["seq"].as_i64().unwrap(),
            w[0]["seq"].as_i64().unwrap() + 1
        );
    }
    let (ok, text) = verify_cli(&srv);
    assert!(ok, "{text}");
    assert!(text.contains("intact: 5 events"), "{text}");
    let r = srv.get("/api/v1/audit/verify", Some(&srv.admin_token));
    assert_eq!(r.json["intact"], true, "{}", r.text);
    // A failed login is recorded too.
    srv.post(
        "/api/v1/auth/login",
        None,
        &json!({"username": "clerk1", "password": "nope-nope-nope"}),
    );
    let r = srv.get("/api/v1/audit/events?after=5", Some(&srv.admin_token));
    assert_eq!(r.json[0]["action"], "auth.login_failed");
    // Non-admins cannot read the log.
    let tok = srv.login("clerk1", "clerk-password-1");
    srv.get("/api/v1/audit/events", Some(&tok))
        .assert_problem(403, "forbidden");
}

fn altered_row_is_named(b: Backend) {
    let srv = server_with_events(b);
    let mut conn = srv.db.connect();
    sql_query("UPDATE audit_events SET details = '{\"code\":\"HACKED\"}' WHERE seq = 3")
        .execute(&mut conn)
        .unwrap();
    let (ok, text) = verify_cli(&srv);
    assert!(!ok, "{text}");
    assert!(text.contains("event #3 was altered"), "{text}");
}

fn removed_row_is_named(b: Backend) {
    let srv = server_with_events(b);
    let mut conn = srv.db.connect();
    sql_query("DELETE FROM audit_events WHERE seq = 2")
        .execute(&mut conn)
        .unwrap();
    let (ok, text) = verify_cli(&srv);
    assert!(!ok, "{text}");
    assert!(text.contains("event #2 is missing"), "{text}");
}

fn removed_last_row_is_caught(b: Backend) {
    let srv = server_with_events(b);
    let mut conn = srv.db.connect();
    sql_query("DELETE FROM audit_events WHERE seq = 5")
        .execute(&mut conn)
        .unwrap();
    let (ok, text) = verify_cli(&srv);
    assert!(!ok, "{text}");
    assert!(text.contains("BROKEN at event #5"), "{text}");
}

fn reordered_rows_are_caught(b: Backend) {
    let srv = server_with_events(b);
    let mut conn = srv.db.connect();
    // Swap the positions of rows 3 and 4 (through a free number).
    for q in [
        "UPDATE audit_events SET seq = 1000 WHERE seq = 3",
        "UPDATE audit_events SET seq = 3 WHERE seq = 4",
        "UPDATE audit_events SET seq = 4 WHERE seq = 1000",
    ] {
        sql_query(q).execute(&mut conn).unwrap();
    }
    let (ok, text) = verify_cli(&srv);
    assert!(!ok, "{text}");
    assert!(text.contains("BROKEN at event #3"), "{text}");
}

fn row_appended_outside_the_writer_is_caught(b: Backend) {
    use docflow::audit::model::AuditEvent;
    use docflow::db::schema::audit_events;
    let srv = server_with_events(b);
    let mut conn = srv.db.connect();
    // A perfectly chained row, but written behind docflow's back (the head is not moved).
    let last: AuditEvent = audit_events::table
        .order(audit_events::seq.desc())
        .select(AuditEvent::as_select())
        .first(&mut conn)
        .unwrap();
    let mut forged = AuditEvent {
        seq: last.seq + 1,
        prev_hash: last.hash.clone(),
        action: "user.created".into(),
        ..last
    };
    forged.hash = docflow::audit::service::chain_hash(&forged);
    diesel::insert_into(audit_events::table)
        .values(&forged)
        .execute(&mut conn)
        .unwrap();
    let (ok, text) = verify_cli(&srv);
    assert!(!ok, "{text}");
    assert!(text.contains("event #6 was added outside"), "{text}");
}

both_backends!(
    row_appended_outside_the_writer_is_caught,
    changes_write_events_and_chain_verifies,
    altered_row_is_named,
    removed_row_is_named,
    removed_last_row_is_caught,
    reordered_rows_are_caught,
);
