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

/// A seeded office (`docflow dev seed`'s own code) and its users as viewers, ordered by
/// username.
pub(crate) fn seeded_office(
    b: Backend,
    documents: u64,
    users: u64,
    seed: u64,
) -> (
    crate::common::TestDb,
    docflow::db::DbConn,
    Vec<docflow::documents::access::Viewer>,
) {
    use diesel::prelude::*;
    use docflow::db::schema::users as u;
    let db = crate::common::TestDb::new(b);
    let mut conn = db.connect();
    docflow::db::migrate(&mut conn).expect("migrate");
    let opts = docflow::devseed::SeedOptions {
        documents,
        users,
        seed,
        force: false,
    };
    docflow::devseed::run(&mut conn, &opts, (&"ab".repeat(32), 1000)).expect("seed");
    let people = u::table
        .order(u::username)
        .select((u::id, u::unit_id))
        .load::<(String, Option<String>)>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|(id, unit_id)| docflow::documents::access::Viewer {
            roles: docflow::accounts::queries::roles_of(&mut conn, &id).unwrap(),
            id,
            unit_id,
        })
        .collect();
    (db, conn, people)
}

/// Every user of a seeded office, clerks and archivists (whose listing asks each row it meets)
/// and officials (whose listing is one set on PostgreSQL) alike: the listing holds
/// exactly the documents the single-document rule (`documents::service::visible_document`,
/// which the document endpoints use) lets them open, newest first. Beside the seeder's
/// authors, units and tasks, every other way of seeing is added by hand: grants, a deputy's
/// acting, substitutions in force, revoked, ended and not yet begun.
fn the_listing_is_what_the_single_document_rule_shows_every_user(b: Backend) {
    use diesel::prelude::*;
    use docflow::accounts::Role;
    use docflow::db::schema::{document_grants, documents, substitutions, workflow_tasks};
    use docflow::documents::{access::Viewer, queries, service};
    let (_db, mut conn, people) = seeded_office(b, 300, 16, 11);
    let with_role = |role: Role| people.iter().filter(move |v| v.has(role));
    let clerk = with_role(Role::Clerk).next().expect("a clerk").clone();
    let archivist = with_role(Role::Archivist)
        .next()
        .expect("an archivist")
        .clone();
    let official = with_role(Role::Official)
        .find(|v| !v.has(Role::Clerk) && !v.has(Role::Archivist))
        .expect("an official")
        .clone();
    // Documents of other units than `unit`, newest first: classified ones first.
    let foreign = |conn: &mut docflow::db::DbConn, unit: &Option<String>| -> Vec<String> {
        documents::table
            .filter(documents::unit_id.nullable().ne(unit.clone()))
            .order((documents::confidentiality.desc(), documents::id))
            .select(documents::id)
            .load(conn)
            .unwrap()
    };
    let now = docflow::db::now();
    let hour = chrono::Duration::hours(1);
    let sees = |conn: &mut docflow::db::DbConn, v: &Viewer, doc: &str| {
        service::visible_document(conn, v, doc).is_ok()
    };
    // Grants, on classified documents of other units the grantee did not see.
    let mut added: Vec<(&Viewer, String)> = Vec::new();
    for v in [&clerk, &official, &archivist] {
        let doc = foreign(&mut conn, &v.unit_id)
            .into_iter()
            .find(|d| !sees(&mut conn, v, d) && !added.iter().any(|(_, a)| a == d))
            .expect("a hidden document");
        diesel::insert_into(document_grants::table)
            .values((
                document_grants::document_id.eq(&doc),
                document_grants::user_id.eq(&v.id),
                document_grants::granted_at.eq(now),
            ))
            .execute(&mut conn)
            .unwrap();
        added.push((v, doc));
    }
    // A deputy acted on someone's task, of a document they did not see: the clerk and the
    // official.
    let tasks: Vec<(String, String, String)> = workflow_tasks::table
        .order(workflow_tasks::id)
        .select((
            workflow_tasks::id,
            workflow_tasks::assignee_id,
            workflow_tasks::document_id,
        ))
        .load(&mut conn)
        .unwrap();
    for v in [&clerk, &official] {
        let (task, _, doc) = tasks
            .iter()
            .find(|(_, _, doc)| !sees(&mut conn, v, doc) && !added.iter().any(|(_, a)| a == doc))
            .expect("a task on a hidden document");
        diesel::update(workflow_tasks::table.find(task))
            .set(workflow_tasks::acting_user_id.eq(&v.id))
            .execute(&mut conn)
            .unwrap();
        added.push((v, doc.clone()));
    }
    // Substitutions, each of someone with an open task on a document the deputy does not
    // see: the clerk and the official stand in for one now each; the archivist's are revoked,
    // ended and not yet begun.
    let open_of = |conn: &mut docflow::db::DbConn, user: &str| -> Vec<String> {
        workflow_tasks::table
            .filter(workflow_tasks::assignee_id.eq(user))
            .filter(workflow_tasks::status.eq("pending"))
            .select(workflow_tasks::document_id)
            .load(conn)
            .unwrap()
    };
    let in_force = (now - hour, now + hour);
    let ended = (now - hour * 48, now - hour);
    let not_begun = (now + hour, now + hour * 48);
    let mut stood_in: Vec<(&Viewer, String, bool)> = Vec::new();
    let mut used: Vec<String> = Vec::new();
    for (deputy, (from, to), revoked) in [
        (&clerk, in_force, false),
        (&official, in_force, false),
        (&archivist, in_force, true),
        (&archivist, ended, false),
        (&archivist, not_begun, false),
    ] {
        let user = people
            .iter()
            .map(|v| &v.id)
            .filter(|id| ![&clerk.id, &official.id, &archivist.id].contains(id))
            .filter(|id| !used.contains(id))
            .find(|id| {
                open_of(&mut conn, id)
                    .iter()
                    .any(|d| !sees(&mut conn, deputy, d))
            })
            .expect("someone with an open task the deputy does not see")
            .clone();
        let hidden: Vec<String> = open_of(&mut conn, &user)
            .into_iter()
            .filter(|d| !sees(&mut conn, deputy, d))
            .collect();
        diesel::insert_into(substitutions::table)
            .values((
                substitutions::id.eq(uuid::Uuid::new_v4().to_string()),
                substitutions::user_id.eq(&user),
                substitutions::deputy_id.eq(&deputy.id),
                substitutions::capacity.eq("kt"),
                substitutions::starts_at.eq(from),
                substitutions::ends_at.eq(to),
                substitutions::created_at.eq(now),
                substitutions::revoked_at.eq(revoked.then_some(now)),
            ))
            .execute(&mut conn)
            .unwrap();
        let counts = (from, to) == in_force && !revoked;
        for d in hidden {
            stood_in.push((deputy, d, counts));
        }
        used.push(user);
    }

    let all: Vec<(String, String)> = documents::table
        .order((documents::created_at.desc(), documents::id.desc()))
        .select((documents::id, documents::subject_search))
        .load(&mut conn)
        .unwrap();
    // A search too (its plans differ): one query, and a walk of 100 rows then the trigram
    // indexes.
    let word = "ong";
    let mut listings = BTreeMap::new();
    for v in &people {
        let want: Vec<&(String, String)> = all
            .iter()
            .filter(|(id, _)| service::visible_document(&mut conn, v, id).is_ok())
            .collect();
        let listed = |conn: &mut docflow::db::DbConn, text: Option<&str>, walk_rows: i64| {
            let f = queries::ListFilter {
                limit: 10_000,
                text: text.map(str::to_string),
                walk_rows,
                ..Default::default()
            };
            queries::list(conn, v, &f)
                .unwrap()
                .into_iter()
                .map(|d| d.id)
                .collect::<Vec<String>>()
        };
        let got = listed(&mut conn, None, 0);
        let ids = |rows: Vec<&&(String, String)>| -> Vec<String> {
            rows.into_iter().map(|(id, _)| id.clone()).collect()
        };
        assert_eq!(
            got,
            ids(want.iter().collect()),
            "the listing of {} ({:?})",
            v.id,
            v.roles
        );
        let found = ids(want.iter().filter(|(_, s)| s.contains(word)).collect());
        assert!(
            found.len() < got.len() || got.is_empty(),
            "the search filters"
        );
        for walk_rows in [0, 100] {
            assert_eq!(
                listed(&mut conn, Some(word), walk_rows),
                found,
                "the search of {} ({:?}), walk {walk_rows}",
                v.id,
                v.roles
            );
        }
        listings.insert(v.id.clone(), got);
    }
    // What was added by hand (hidden before) is seen by those it was added for.
    let seen = |v: &Viewer, doc: &str| listings[&v.id].iter().any(|d| d == doc);
    assert_eq!(added.len(), 5);
    for (v, doc) in &added {
        assert!(seen(v, doc), "{} was granted or acted on {doc}", v.id);
    }
    // A substitution in force shows the deputy the open tasks' documents; one revoked,
    // ended or not yet begun shows nothing.
    for (deputy, doc, counts) in &stood_in {
        assert_eq!(
            seen(deputy, doc),
            *counts,
            "{} standing in: {doc}",
            deputy.id
        );
    }
    assert!(stood_in.iter().any(|(_, _, counts)| *counts));
    assert!(stood_in
        .iter()
        .any(|(v, _, counts)| !*counts && v.id == archivist.id));
}

both_backends!(the_listing_is_what_the_single_document_rule_shows_every_user);

/// A listing's first page costs what the page needs, not what the viewer ever saw: a clerk's
/// is found by walking the newest documents, asking each whether a task of theirs is on it,
/// without first reading every task they ever had (29,895 for the seeded clerk at 1,000,000
/// documents); an official's is looked up from the few documents they see, without walking
/// the many they do not (40,000 rows for a page at 100,000). On PostgreSQL the rows each page
/// reads are counted from its statistics; on both, each page is the first of the full listing.
fn a_first_page_reads_what_the_page_needs(b: Backend) {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use docflow::accounts::Role;
    use docflow::db::schema::{documents, workflow_tasks};
    use docflow::documents::{access::Viewer, queries};
    let (_db, mut conn, people) = seeded_office(b, 16_000, 1_000, 5);
    let tasks_of = |conn: &mut docflow::db::DbConn, v: &Viewer| -> i64 {
        workflow_tasks::table
            .filter(workflow_tasks::assignee_id.eq(&v.id))
            .count()
            .get_result(conn)
            .unwrap()
    };
    let clerk = people
        .iter()
        .filter(|v| v.has(Role::Clerk) && v.unit_id.is_some())
        .max_by_key(|v| tasks_of(&mut conn, v))
        .expect("a clerk");
    // The official whose first page reaches furthest back: a walk of the date index reads
    // every document down to their page's last one.
    let first_page = queries::ListFilter {
        limit: 20,
        ..Default::default()
    };
    let (walk, official) = people
        .iter()
        .filter(|v| v.roles == [Role::Official])
        .filter_map(|v| {
            let page = queries::list(&mut conn, v, &first_page).unwrap();
            let last = page.get(19)?.created_at;
            let walk: i64 = documents::table
                .filter(documents::created_at.ge(last))
                .count()
                .get_result(&mut conn)
                .unwrap();
            Some((walk, v))
        })
        .max_by_key(|(walk, _)| *walk)
        .expect("an official with a full page");
    assert!(
        walk >= 4_000,
        "the furthest first page spans {walk} documents"
    );
    let clerk_tasks = tasks_of(&mut conn, clerk);
    assert!(clerk_tasks >= 400, "the clerk holds {clerk_tasks} tasks");
    let total: i64 = documents::table.count().get_result(&mut conn).unwrap();
    let pg = b == Backend::Postgres;
    if pg {
        conn.batch_execute("ANALYZE").expect("analyze");
    }
    // Rows of `table` read so far, through its indexes or by sequential scans.
    let read = |c: &mut docflow::db::DbConn, table: &str| -> i64 {
        let (seq, idx) = crate::common::pg_rows_read(c, table);
        seq + idx
    };
    for (v, table, bound) in [
        (clerk, "workflow_tasks", clerk_tasks / 2),
        (official, "documents", walk / 4),
    ] {
        let all = queries::list(
            &mut conn,
            v,
            &queries::ListFilter {
                limit: 100_000,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(all.len() >= 20, "{} sees {} documents", v.id, all.len());
        let before = if pg { read(&mut conn, table) } else { 0 };
        let page = queries::list(&mut conn, v, &first_page).unwrap();
        let used = if pg {
            read(&mut conn, table) - before
        } else {
            0
        };
        let ids = |rows: &[docflow::documents::model::DocumentRow]| -> Vec<String> {
            rows.iter().map(|d| d.id.clone()).collect()
        };
        assert_eq!(ids(&page), ids(&all[..20]), "{}'s first page", v.id);
        if pg {
            assert!(
                used < bound,
                "{}'s first page read {used} rows of {table} (the viewer sees {} of {total} \
                 documents; the clerk holds {clerk_tasks} tasks)",
                v.id,
                all.len()
            );
        }
    }
}

both_backends!(a_first_page_reads_what_the_page_needs);
