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
    // On PostgreSQL the events wait to be chained; a read of the log chains them, so the
    // rows below are in their places before the tests tamper with them.
    let r = srv.get("/api/v1/audit/events?limit=1", Some(&srv.admin_token));
    assert_eq!(r.status, 200, "{}", r.text);
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

/// Many changes at once, each its own transaction on its own connection, with chainers running
/// beside them (the server's own and two more): every committed event is chained exactly once,
/// each writer's events in the order it made them, a rolled-back change leaves no event, and
/// the chain verifies. On SQLite the same calls append directly.
fn concurrent_changes_are_chained_once_each_in_order(b: Backend) {
    use docflow::audit::{service, Action, AuditContext};
    use docflow::db::DbConn;
    let srv = TestServer::start(b);
    let before = service::verify_chain(&mut srv.db.connect()).unwrap().events;
    const WRITERS: usize = 6;
    const EACH: usize = 30;
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut conn = srv.db.connect();
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    service::chain_pending(&mut conn).unwrap();
                }
            });
        }
        crate::common::race(WRITERS, |w| {
            let mut conn = srv.db.connect();
            for i in 0..EACH {
                let record = |conn: &mut DbConn, kind: &str| {
                    service::record(
                        conn,
                        &AuditContext::system(),
                        Action::UnitCreated,
                        kind,
                        Some(&format!("{w}-{i}")),
                        json!({"writer": w, "i": i}),
                    )
                };
                docflow::db::write_tx(&mut conn, |c| record(c, "test")).unwrap();
                // A change that fails after recording: its event goes with it.
                let failed: Result<(), diesel::result::Error> =
                    docflow::db::write_tx(&mut conn, |c| {
                        record(c, "rolled_back")?;
                        Err(diesel::result::Error::RollbackTransaction)
                    });
                assert!(failed.is_err());
            }
        });
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let mut conn = srv.db.connect();
    let report = service::verify_chain(&mut conn).unwrap();
    assert!(report.intact, "{report:?}");
    assert_eq!(
        report.events,
        before + (WRITERS * EACH) as i64,
        "{report:?}"
    );
    let events = service::list_events(
        &mut conn,
        &service::EventQuery {
            after: before,
            limit: 10_000,
            object_type: None,
            object_id: None,
        },
    )
    .unwrap();
    assert!(events.iter().all(|e| e.object_type == "test"));
    let mut next = [0usize; WRITERS];
    for e in &events {
        let d: serde_json::Value = serde_json::from_str(&e.details).unwrap();
        let (w, i) = (
            d["writer"].as_u64().unwrap() as usize,
            d["i"].as_u64().unwrap() as usize,
        );
        assert_eq!(i, next[w], "writer {w}'s events out of order or twice");
        next[w] += 1;
    }
    assert_eq!(next, [EACH; WRITERS]);
}

/// On PostgreSQL a change's event waits in `audit_pending` and the server's chainer places it
/// without anyone reading the log; a server stopped with events waiting leaves them for the next
/// one (or any read of the chain).
fn the_chainer_places_waiting_events(b: Backend) {
    use docflow::db::schema::audit_pending;
    let srv = TestServer::start(b);
    srv.create_unit("VP", "Văn phòng", None);
    let mut conn = srv.db.connect();
    let waiting = |conn: &mut docflow::db::DbConn| -> i64 {
        audit_pending::table.count().get_result(conn).unwrap()
    };
    crate::common::wait_until(
        "the chainer empties audit_pending",
        std::time::Duration::from_secs(10),
        || waiting(&mut conn) == 0,
    );
    // Events written while no server runs (the command line, or a node that stopped) wait…
    let db = crate::common::TestDb::new(b);
    let mut conn = db.connect();
    docflow::db::migrate(&mut conn).unwrap();
    docflow::db::write_tx(&mut conn, |c| {
        docflow::audit::record(
            c,
            &docflow::audit::AuditContext::system(),
            docflow::audit::Action::UnitCreated,
            "unit",
            None,
            json!({}),
        )
    })
    .unwrap();
    let expected = if b == Backend::Postgres { 1 } else { 0 };
    assert_eq!(waiting(&mut conn), expected);
    // …and the next verification places them.
    let report = docflow::audit::verify_chain(&mut conn).unwrap();
    assert!(report.intact, "{report:?}");
    assert_eq!(waiting(&mut conn), 0);
}

both_backends!(
    concurrent_changes_are_chained_once_each_in_order,
    the_chainer_places_waiting_events,
    row_appended_outside_the_writer_is_caught,
    changes_write_events_and_chain_verifies,
    altered_row_is_named,
    removed_row_is_named,
    removed_last_row_is_caught,
    reordered_rows_are_caught,
);
