//! Sessions, inboxes and listings from memory (src/cache): a node that answers from its
//! cache answers what the database says.
//!
//! Two `docflow serve` processes (the real binary, so neither sees the other's writes but
//! through the database) share one seeded office: `cached` (the default, `read_cache =
//! true`) and `direct` (`read_cache = false`, every answer read from the database). Random
//! work goes through either server, or straight into the database as a tool would; after
//! each step every person's inbox, first page of the document listing and a search on
//! `cached` must equal those on `direct`:
//! - **at once** when the step went through `cached` (one reads one's own writes),
//! - **within two seconds** otherwise (the change feed's delay; measured and printed).
//!
//! A token signed out on either server stops working on `cached` the same way, an inbox
//! whose task deadline passes shows it overdue without any write, and a deputy's term that
//! begins later shows in their inbox and listing when it begins. On PostgreSQL the feed's
//! connection is cut in the middle: `cached` must not serve what changed meanwhile.

use crate::common::{wait_until, Backend, TestServer};
use diesel::prelude::*;
use docflow::db::schema::sessions;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A session row for `user_id` with a token of our own, as a sign-in would write it.
fn session_for(conn: &mut docflow::db::DbConn, user_id: &str, n: usize) -> String {
    let token = format!("cache-test-token-{n}-{user_id}");
    let now = chrono::Utc::now().naive_utc();
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(format!("cache-test-session-{n}-{user_id}")),
            sessions::token_hash.eq(docflow::accounts::service::token_hash(&token)),
            sessions::user_id.eq(user_id),
            sessions::created_at.eq(now),
            sessions::expires_at.eq(now + chrono::Duration::hours(2)),
        ))
        .execute(conn)
        .expect("insert session");
    token
}

fn inbox(srv: &TestServer, token: &str) -> (u16, Value, bool) {
    read(srv, "/api/v1/tasks", token)
}

/// The reads compared: the inbox, the listing's first page, and a search sorted by the last
/// change (the seeded subjects are Vietnamese: "ve" is "về", in most of them).
const READS: [&str; 3] = [
    "/api/v1/tasks",
    "/api/v1/documents?limit=20",
    "/api/v1/documents?q=ve&sort=-updated_at&limit=10",
];

/// Status, body, and whether the node answered from memory.
fn read(srv: &TestServer, path: &str, token: &str) -> (u16, Value, bool) {
    let r = srv.get(path, Some(token));
    let hit = r
        .headers
        .get("cache-status")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "docflow; hit");
    (r.status, r.json, hit)
}

/// Every person's [`READS`] on both servers: (person, read, cached, direct) where they
/// differ.
fn differences(cached: &TestServer, direct: &TestServer, tokens: &[String]) -> Vec<String> {
    tokens
        .iter()
        .flat_map(|t| READS.iter().map(move |path| (t, path)))
        .filter_map(|(t, path)| {
            let (sa, a, _) = read(cached, path, t);
            let (sb, b, _) = read(direct, path, t);
            (sa != sb || a != b).then(|| format!("{t} {path}: cached {sa} {a}\n  direct {sb} {b}"))
        })
        .collect()
}

fn caches_serve_what_the_database_says(b: Backend) {
    let (db, mut conn, people) = crate::visibility::seeded_office(b, 300, 16, 11);
    let dir = db.dir.path().to_path_buf();
    let cached = TestServer::spawn(db.shared(), dir.join("node-cached"), &[]);
    let direct = TestServer::spawn(
        db.shared(),
        dir.join("node-direct"),
        &[("DOCFLOW_READ_CACHE", "false".to_string())],
    );
    let tokens: Vec<String> = people
        .iter()
        .enumerate()
        .map(|(i, p)| session_for(&mut conn, &p.id, i))
        .collect();
    let admin = cached.admin_token.clone();

    // Nothing changes: the second round is answered from memory, and equal.
    assert!(differences(&cached, &direct, &tokens).is_empty());
    // (Within a few seconds: the server's first deadline scan and its senders write at the
    // start, and after each write of its own a node reads from the database until its feed
    // confirms the write.)
    for path in READS {
        wait_until(
            &format!("half the people's {path}, read again, answered from memory"),
            Duration::from_secs(5),
            || tokens.iter().filter(|t| read(&cached, path, t).2).count() >= tokens.len() / 2,
        );
    }
    let clerks: Vec<usize> = (0..people.len())
        .filter(|&i| people[i].has(docflow::accounts::Role::Clerk))
        .collect();
    assert!(!clerks.is_empty(), "the seeded office has clerks");

    let mut rng = 0x5eed_u64;
    let mut next = |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    let mut lags = Vec::new();
    let mut acted = 0;
    for step in 0..72 {
        let through_cached = step % 2 == 0;
        // A tool's write (straight into the database) is never read at once.
        let mut by_tool = false;
        // The person whose inbox the step surely changed: read first, at once.
        let mut touched = None;
        let srv = if through_cached { &cached } else { &direct };
        let who = next(tokens.len());
        let what = match step % 12 {
            // A person acts on their first open task.
            0..=3 => {
                // The first person from `who` on with a review task open (held as a deputy
                // or their own).
                let Some((holder, task)) = (0..tokens.len()).find_map(|k| {
                    let p = (who + k) % tokens.len();
                    let (_, items, _) = inbox(&direct, &tokens[p]);
                    items
                        .as_array()?
                        .iter()
                        .find(|i| i["task"]["stage_kind"] == "review")
                        .and_then(|i| i["task"]["id"].as_str())
                        .map(|t| (p, t.to_string()))
                }) else {
                    continue;
                };
                let r = srv.post(
                    &format!("/api/v1/tasks/{task}/actions"),
                    Some(&tokens[holder]),
                    &json!({"action": "approve", "comment": "đồng ý"}),
                );
                if r.status == 200 {
                    acted += 1;
                }
                touched = Some(holder);
                format!("approve {task}: {} {}", r.status, r.text)
            }
            // Someone is away for a while: a deputy holds their tasks.
            4 => {
                let deputy = (who + 1 + next(tokens.len() - 1)) % tokens.len();
                let ends = (chrono::Utc::now() + chrono::Duration::days(2))
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string();
                let r = srv.post(
                    "/api/v1/substitutions",
                    Some(&tokens[who]),
                    &json!({"deputy_id": people[deputy].id, "capacity": "tl", "ends_at": ends}),
                );
                // 201, or a 4xx when the seed already gave them one for those days.
                assert!(
                    r.status == 201 || (400..500).contains(&r.status),
                    "{}",
                    r.text
                );
                touched = Some(deputy);
                format!("substitution {who} → {deputy}: {}", r.status)
            }
            // The admin renames a person (shown on the tasks they hold).
            5 => {
                let r = srv.patch(
                    &format!("/api/v1/users/{}", people[who].id),
                    Some(&admin),
                    &json!({"full_name": format!("Nguyễn Văn Đổi {step}")}),
                );
                assert_eq!(r.status, 200, "{}", r.text);
                format!("rename {who}")
            }
            // A paper of a clerk's unit: every other time the clerk registers one that came
            // in, else someone else of the unit drafts one (the clerk's listing changes by
            // their unit alone).
            8 => {
                let clerk = clerks[who % clerks.len()];
                let drafter = (0..people.len()).find(|&i| {
                    i != clerk
                        && people[i].unit_id == people[clerk].unit_id
                        && !people[i].has(docflow::accounts::Role::Clerk)
                });
                let (author, meta) = match drafter {
                    Some(d) if (step / 12) % 2 == 1 => (
                        d,
                        json!({
                            "kind": "outgoing", "type_code": "TTr",
                            "subject": format!("Tờ trình về việc thử bộ nhớ đệm {step}"),
                            "recipients": ["UBND tỉnh"], "urgency": "normal",
                        }),
                    ),
                    _ => (
                        clerk,
                        json!({
                            "kind": "incoming", "type_code": "CV",
                            "subject": format!("Công văn về việc thử bộ nhớ đệm {step}"),
                            "number_symbol": format!("{step}/UBND-VP"),
                            "issue_date": "2026-11-20",
                            "issuer": "Ủy ban nhân dân tỉnh Hà Giang",
                            "recipients": ["Lưu: VT"], "urgency": "normal",
                            "confidentiality": "normal", "received_channel": "post",
                        }),
                    ),
                };
                let r = srv.upload(
                    "/api/v1/documents",
                    Some(&tokens[author]),
                    Some(&meta),
                    Some((
                        "van-ban.pdf",
                        "application/pdf",
                        crate::common::fixture("valid-minimal.pdf"),
                    )),
                );
                assert_eq!(r.status, 201, "{}", r.text);
                touched = Some(author);
                format!("new document by {author} (a clerk: {clerk})")
            }
            // A clerk grants someone a document of their unit (that person's listing).
            9 => {
                let clerk = clerks[who % clerks.len()];
                let (_, page, _) = read(srv, "/api/v1/documents?limit=20", &tokens[clerk]);
                let doc = page["items"]
                    .as_array()
                    .and_then(|a| {
                        a.iter()
                            .find(|d| d["unit_id"].as_str() == people[clerk].unit_id.as_deref())
                    })
                    .and_then(|d| d["id"].as_str())
                    .expect("the clerk sees a document of their unit")
                    .to_string();
                let r = srv.post(
                    &format!("/api/v1/documents/{doc}/grants"),
                    Some(&tokens[clerk]),
                    &json!({"user_id": people[who].id}),
                );
                // 201, or 409 when already granted.
                assert!(r.status == 201 || r.status == 409, "{}", r.text);
                touched = Some(who);
                format!("grant {doc} to {who}: {}", r.status)
            }
            // A tool archives one document, classifies another and renumbers a third
            // (archivists', clerks' and everyone's listings).
            10 => {
                by_tool = true;
                for sql in [
                    "UPDATE documents SET status = 'archived' WHERE id IN \
                     (SELECT id FROM documents WHERE status <> 'archived' ORDER BY id LIMIT 1)",
                    "UPDATE documents SET confidentiality = 'confidential' WHERE id IN \
                     (SELECT id FROM documents WHERE confidentiality = 'normal' \
                      ORDER BY created_at DESC, id LIMIT 1)",
                    "UPDATE document_registrations SET symbol = symbol || '-S' WHERE \
                     document_id IN (SELECT document_id FROM document_registrations \
                     ORDER BY registered_at DESC, document_id LIMIT 1)",
                ] {
                    diesel::sql_query(sql)
                        .execute(&mut conn)
                        .expect("tool's update");
                }
                "tool: archive, classify, renumber".to_string()
            }
            // A tool writes to the database directly: a document's subject, a task's
            // deadline.
            6 | 11 => {
                by_tool = true;
                let n = diesel::sql_query(
                    "UPDATE documents SET subject = subject || ' (sửa)' WHERE id IN \
                     (SELECT document_id FROM workflow_tasks WHERE status = 'pending' \
                      ORDER BY id LIMIT 3)",
                )
                .execute(&mut conn)
                .expect("update subjects");
                format!("tool: {n} subjects")
            }
            _ => {
                by_tool = true;
                let n = diesel::sql_query(
                    "UPDATE workflow_tasks SET deadline = NULL WHERE id IN \
                     (SELECT id FROM workflow_tasks WHERE status = 'pending' \
                      AND deadline IS NOT NULL ORDER BY id LIMIT 2)",
                )
                .execute(&mut conn)
                .expect("update deadlines");
                format!("tool: {n} deadlines")
            }
        };
        if through_cached && !by_tool {
            if let Some(p) = touched {
                for path in READS {
                    let (_, now_cached, _) = read(&cached, path, &tokens[p]);
                    let (_, now_direct, _) = read(&direct, path, &tokens[p]);
                    assert_eq!(
                        now_cached, now_direct,
                        "step {step} ({what}): the person's own {path}, read at once"
                    );
                }
            }
            let diff = differences(&cached, &direct, &tokens);
            assert!(
                diff.is_empty(),
                "step {step} ({what}) went through the cached server, which then answered \
                 otherwise than the database:\n{}",
                diff.join("\n")
            );
        } else {
            let start = Instant::now();
            wait_until(
                &format!("step {step} ({what}) to reach the cached server"),
                Duration::from_secs(2),
                || differences(&cached, &direct, &tokens).is_empty(),
            );
            lags.push(start.elapsed());
        }
    }
    assert!(acted >= 12, "only {acted} of 24 approvals went through");
    lags.sort();
    println!(
        "changes not made through the cached server: equal there after {} steps, median {:?}, max {:?} \
         (each time including one full comparison, 2 × {} requests)",
        lags.len(),
        lags[lags.len() / 2],
        lags[lags.len() - 1],
        READS.len() * tokens.len()
    );

    // A deadline passes with no write: the inbox shows the task overdue.
    let holder = tokens
        .iter()
        .find(|t| {
            inbox(&direct, t)
                .1
                .as_array()
                .is_some_and(|a| !a.is_empty())
        })
        .expect("someone has an open task")
        .clone();
    let (_, items, _) = inbox(&direct, &holder);
    let task = items[0]["task"]["id"].as_str().unwrap().to_string();
    let soon = chrono::Utc::now().naive_utc() + chrono::Duration::milliseconds(1500);
    diesel::update(docflow::db::schema::workflow_tasks::table.find(&task))
        .set(docflow::db::schema::workflow_tasks::deadline.eq(Some(soon)))
        .execute(&mut conn)
        .expect("set deadline");
    wait_until(
        "the new deadline reaches the cached server",
        Duration::from_secs(2),
        || differences(&cached, &direct, std::slice::from_ref(&holder)).is_empty(),
    );
    let overdue = |srv: &TestServer| {
        let (_, items, _) = inbox(srv, &holder);
        items
            .as_array()
            .and_then(|a| a.iter().find(|i| i["task"]["id"] == task.as_str()))
            .map(|i| i["task"]["overdue"].clone())
    };
    assert_eq!(overdue(&cached), Some(json!(false)));
    assert!(inbox(&cached, &holder).2, "read twice: from memory");
    std::thread::sleep(Duration::from_millis(1600));
    assert_eq!(overdue(&cached), Some(json!(true)), "the deadline passed");

    // A deputy's term that begins later, with no write when it begins: from then on the
    // deputy's inbox holds the open tasks of the person they stand in for, and their listing
    // those documents.
    let mut tried = Vec::new();
    let (principal, deputy, starts) = (0..tokens.len())
        .filter(|&p| {
            inbox(&direct, &tokens[p]).1.as_array().is_some_and(|a| {
                a.iter()
                    .any(|i| i["task"]["assignee"]["id"] == people[p].id.as_str())
            })
        })
        .find_map(|p| {
            // Someone else: their inbox gains these tasks when the term begins.
            let d = (p + 1) % tokens.len();
            // Whole seconds: the time the server keeps.
            let starts = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp() + 5, 0)?;
            let r = cached.post(
                "/api/v1/substitutions",
                Some(&admin),
                &json!({
                    "user_id": people[p].id, "deputy_id": people[d].id, "capacity": "tl",
                    "starts_at": starts.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    "ends_at": (starts + chrono::Duration::days(1))
                        .format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                }),
            );
            tried.push(format!("{p} → {d}: {} {}", r.status, r.text));
            (r.status == 201).then_some((p, d, starts))
        })
        .unwrap_or_else(|| {
            panic!(
                "a person with open tasks of their own gets a deputy from later on: {tried:#?} {:#?}",
                tokens.iter().map(|t| inbox(&direct, t).1).collect::<Vec<_>>()
            )
        });
    // Besides the usual reads, all the deputy sees (the office is small).
    let reads: Vec<&str> = READS
        .iter()
        .copied()
        .chain(["/api/v1/documents?limit=200"])
        .collect();
    let before: Vec<Value> = reads
        .iter()
        .map(|path| read(&cached, path, &tokens[deputy]).1)
        .collect();
    for path in reads.iter().copied() {
        wait_until(
            &format!("{path} of the deputy, before the term, from memory"),
            Duration::from_secs(2),
            || read(&cached, path, &tokens[deputy]).2,
        );
        assert_eq!(
            read(&cached, path, &tokens[deputy]).1,
            read(&direct, path, &tokens[deputy]).1,
            "{path} before the term"
        );
    }
    assert!(
        chrono::Utc::now() < starts,
        "the term had not begun while the above was read"
    );
    let wait = starts - chrono::Utc::now() + chrono::Duration::milliseconds(50);
    std::thread::sleep(wait.to_std().unwrap_or_default());
    for (path, before) in reads.iter().zip(&before) {
        let (_, a, _) = read(&cached, path, &tokens[deputy]);
        assert_eq!(
            a,
            read(&direct, path, &tokens[deputy]).1,
            "{path} of the deputy ({deputy} for {principal}) once the term began"
        );
        if path.starts_with("/api/v1/tasks") {
            assert_ne!(
                &a, before,
                "the deputy's inbox holds the tasks once the term began"
            );
        }
    }

    // Signing out: on the cached server at once, from the other within the feed's delay.
    let (_, _, _) = inbox(&cached, &tokens[0]);
    assert_eq!(
        cached
            .post("/api/v1/auth/logout", Some(&tokens[0]), &json!({}))
            .status,
        204
    );
    assert_eq!(inbox(&cached, &tokens[0]).0, 401);
    assert_eq!(inbox(&cached, &tokens[1]).0, 200);
    assert_eq!(
        direct
            .post("/api/v1/auth/logout", Some(&tokens[1]), &json!({}))
            .status,
        204
    );
    wait_until(
        "a sign-out on the other server reaches the cached one",
        Duration::from_secs(2),
        || inbox(&cached, &tokens[1]).0 == 401,
    );
    // The admin disables a person: their token stops working.
    assert_eq!(inbox(&cached, &tokens[2]).0, 200);
    let r = direct.patch(
        &format!("/api/v1/users/{}", people[2].id),
        Some(&direct.admin_token),
        &json!({"active": false}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    wait_until(
        "a disabled account reaches the cached server",
        Duration::from_secs(2),
        || inbox(&cached, &tokens[2]).0 == 401,
    );

    if b == Backend::Postgres {
        // The feed's connection is cut; what changes meanwhile must not be served stale.
        let live = &tokens[3..];
        assert!(differences(&cached, &direct, live).is_empty());
        let killed: Vec<Killed> = diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity \
             WHERE application_name = '{}' AND datname = current_database()",
            docflow::cache::feed::APPLICATION_NAME
        ))
        .load(&mut conn)
        .expect("terminate the feed");
        assert!(
            killed.iter().any(|k| k.t),
            "the cached server's feed connection was found and cut"
        );
        diesel::sql_query(
            "UPDATE documents SET subject = subject || ' (khi mất kết nối)' WHERE id IN \
             (SELECT document_id FROM workflow_tasks WHERE status = 'pending')",
        )
        .execute(&mut conn)
        .expect("update while the feed is cut");
        wait_until(
            "the cached server after its feed was cut",
            Duration::from_secs(3),
            || differences(&cached, &direct, live).is_empty(),
        );
    }
}

#[derive(QueryableByName)]
struct Killed {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    t: bool,
}

both_backends!(caches_serve_what_the_database_says);
