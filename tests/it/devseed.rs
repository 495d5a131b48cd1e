//! `docflow dev seed`: the same seed gives the same office, a second run is a no-op, a
//! database with real data is refused without `--force`, and what it wrote is what the API
//! shows (a seeded official's inbox, a clerk's listing and search).

use crate::common::{Backend, TestDb, TestServer};
use diesel::prelude::*;
use std::collections::HashMap;
use std::process::{Command, Output};

fn seed(db: &TestDb, args: &[&str]) -> Output {
    Command::new(TestServer::binary())
        .arg("dev")
        .arg("seed")
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("DOCFLOW_DATA_DIR", db.dir.path().join("data"))
        .env_remove("DOCFLOW_CONFIG")
        .output()
        .expect("run docflow dev seed")
}

fn ok(out: &Output) -> HashMap<String, String> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Everything the seed decides, as text: users, documents, registrations, routes, tasks.
fn snapshot(db: &TestDb) -> String {
    use docflow::db::schema::*;
    let mut c = db.connect();
    let users: Vec<(String, String, String, String)> = users::table
        .filter(users::username.ne("admin"))
        .order(users::id)
        .select((
            users::id,
            users::username,
            users::full_name,
            users::password_hash,
        ))
        .load(&mut c)
        .unwrap();
    let docs: Vec<(String, String, Option<String>, String)> = documents::table
        .order(documents::id)
        .select((
            documents::id,
            documents::subject,
            documents::number_symbol,
            documents::status,
        ))
        .load(&mut c)
        .unwrap();
    let regs: Vec<(String, i64, String)> = document_registrations::table
        .order(document_registrations::document_id)
        .select((
            document_registrations::document_id,
            document_registrations::number,
            document_registrations::symbol,
        ))
        .load(&mut c)
        .unwrap();
    let routes: Vec<(String, String, i32)> = workflow_routes::table
        .order(workflow_routes::id)
        .select((
            workflow_routes::id,
            workflow_routes::status,
            workflow_routes::current_stage,
        ))
        .load(&mut c)
        .unwrap();
    let tasks: Vec<(String, String, String)> = workflow_tasks::table
        .order(workflow_tasks::id)
        .select((
            workflow_tasks::id,
            workflow_tasks::assignee_id,
            workflow_tasks::status,
        ))
        .load(&mut c)
        .unwrap();
    format!("{users:?}\n{docs:?}\n{regs:?}\n{routes:?}\n{tasks:?}")
}

fn same_seed_same_office_and_a_second_run_is_a_no_op(b: Backend) {
    let args = ["--documents", "300", "--users", "40", "--seed", "7"];
    let first = TestDb::new(b);
    let facts = ok(&seed(&first, &args));
    assert_eq!(facts["password"], "docflow-seed");
    let before = snapshot(&first);
    assert!(
        before.contains("SLĐTBXH"),
        "outgoing symbols name the department"
    );

    let again = seed(&first, &args);
    ok(&again);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already seeded"));
    assert_eq!(snapshot(&first), before, "a second run changes nothing");

    let twin = TestDb::new(b);
    ok(&seed(&twin, &args));
    assert_eq!(
        snapshot(&twin),
        before,
        "same seed, same data (ids included)"
    );

    let other = TestDb::new(b);
    ok(&seed(
        &other,
        &["--documents", "300", "--users", "40", "--seed", "8"],
    ));
    assert_ne!(snapshot(&other), before, "another seed, other data");

    // Every route state the issue names is there.
    let mut c = first.connect();
    use docflow::db::schema::workflow_routes as r;
    let states: Vec<String> = r::table.select(r::status).distinct().load(&mut c).unwrap();
    for s in ["active", "completed", "returned", "rejected", "recalled"] {
        assert!(states.iter().any(|x| x == s), "{s} in {states:?}");
    }
}

fn a_database_with_real_users_is_refused_without_force(b: Backend) {
    let db = TestDb::new(b);
    let out = Command::new(TestServer::binary())
        .args([
            "user",
            "add",
            "--username",
            "lan.vt",
            "--full-name",
            "Trần Thị Lan",
        ])
        .args(["--email", "lan@example.vn", "--role", "clerk"])
        .env("DATABASE_URL", &db.url)
        .env("DOCFLOW_DATA_DIR", db.dir.path().join("data"))
        .env("DOCFLOW_NEW_PASSWORD", "a-long-password-1")
        .env_remove("DOCFLOW_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let refused = seed(&db, &["--documents", "50", "--users", "12"]);
    assert_eq!(refused.status.code(), Some(3));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("--force") && err.contains("1 user"), "{err}");
    use docflow::db::schema::documents;
    let n: i64 = documents::table
        .count()
        .get_result(&mut db.connect())
        .unwrap();
    assert_eq!(n, 0, "nothing written when refused");

    ok(&seed(
        &db,
        &["--documents", "50", "--users", "12", "--force"],
    ));
    let n: i64 = documents::table
        .count()
        .get_result(&mut db.connect())
        .unwrap();
    assert_eq!(n, 50);
}

fn the_seeded_office_is_what_the_api_shows(b: Backend) {
    let db = TestDb::new(b);
    let facts = ok(&seed(
        &db,
        &["--documents", "400", "--users", "30", "--seed", "3"],
    ));
    // A pending review task and its assignee: the seeded route must be one the engine accepts.
    let (review, reviewer): (String, String) = {
        use docflow::db::schema::{users, workflow_stages as st, workflow_tasks as t};
        t::table
            .inner_join(st::table.on(st::id.nullable().eq(t::stage_id)))
            .inner_join(users::table.on(users::id.eq(t::assignee_id)))
            .filter(t::status.eq("pending"))
            .filter(st::kind.eq("review"))
            .select((t::id, users::username))
            .first(&mut db.connect())
            .unwrap()
    };
    let data = db.dir.path().join("data");
    let srv = TestServer::spawn(db, data, &[]);
    let password = &facts["password"];

    let official = srv.login(&facts["official"], password);
    let inbox = srv.get("/api/v1/tasks", Some(&official));
    assert_eq!(inbox.status, 200, "{}", inbox.text);
    let items = inbox.json.as_array().expect("inbox list");
    assert!(!items.is_empty(), "the typical official has open tasks");

    let clerk = srv.login(&facts["clerk"], password);
    let page = srv.get("/api/v1/documents?limit=20", Some(&clerk));
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.json["items"].as_array().unwrap().len(), 20);

    let found = srv.get("/api/v1/documents?q=nguoi%20co%20cong", Some(&clerk));
    assert_eq!(found.status, 200, "{}", found.text);
    let hits = found.json["items"].as_array().unwrap();
    assert!(
        !hits.is_empty(),
        "accent-insensitive search finds seeded subjects"
    );
    for h in hits {
        let s = h["subject"].as_str().unwrap();
        assert!(s.contains("người có công"), "{s}");
    }

    let token = srv.login(&reviewer, password);
    let r = srv.post(
        &format!("/api/v1/tasks/{review}/actions"),
        Some(&token),
        &serde_json::json!({"action": "approve"}),
    );
    assert_eq!(r.status, 200, "approving a seeded review task: {}", r.text);

    // A seeded file is there to download.
    let id = hits[0]["id"].as_str().unwrap();
    let file = srv.get(
        &format!("/api/v1/documents/{id}/versions/1/file"),
        Some(&clerk),
    );
    assert_eq!(file.status, 200, "{}", file.text);
}

both_backends!(
    same_seed_same_office_and_a_second_run_is_a_no_op,
    a_database_with_real_users_is_refused_without_force,
    the_seeded_office_is_what_the_api_shows,
);
