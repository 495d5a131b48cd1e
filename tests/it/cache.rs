//! Sessions and inboxes from memory (src/cache): a node that answers from its cache answers
//! what the database says.
//!
//! Two `docflow serve` processes (the real binary, so neither sees the other's writes but
//! through the database) share one seeded office: `cached` (the default, `read_cache =
//! true`) and `direct` (`read_cache = false`, every answer read from the database). Random
//! work goes through either server, or straight into the database as a tool would; after
//! each step every person's inbox on `cached` must equal the one on `direct`:
//! - **at once** when the step went through `cached` (one reads one's own writes),
//! - **within two seconds** otherwise (the change feed's delay; measured and printed).
//!
//! A token signed out on either server stops working on `cached` the same way, and an inbox
//! whose task deadline passes shows it overdue without any write. On PostgreSQL the feed's
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
    let r = srv.get("/api/v1/tasks", Some(token));
    let hit = r
        .headers
        .get("cache-status")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "docflow; hit");
    (r.status, r.json, hit)
}

/// Every person's inbox on both servers: (person, cached, direct) where they differ.
fn differences(cached: &TestServer, direct: &TestServer, tokens: &[String]) -> Vec<String> {
    tokens
        .iter()
        .filter_map(|t| {
            let (sa, a, _) = inbox(cached, t);
            let (sb, b, _) = inbox(direct, t);
            (sa != sb || a != b).then(|| format!("{t}: cached {sa} {a}\n  direct {sb} {b}"))
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
    let hits = tokens.iter().filter(|t| inbox(&cached, t).2).count();
    assert!(
        hits >= tokens.len() / 2,
        "only {hits} of {} inboxes read twice were answered from memory",
        tokens.len()
    );

    let mut rng = 0x5eed_u64;
    let mut next = |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    let mut lags = Vec::new();
    let mut acted = 0;
    for step in 0..48 {
        let through_cached = step % 2 == 0;
        // The person whose inbox the step surely changed: read first, at once.
        let mut touched = None;
        let srv = if through_cached { &cached } else { &direct };
        let who = next(tokens.len());
        let what = match step % 8 {
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
            // A tool writes to the database directly: a document's subject, a task's
            // deadline.
            6 => {
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
        if through_cached && step % 8 < 6 {
            if let Some(p) = touched {
                let (_, now_cached, _) = inbox(&cached, &tokens[p]);
                let (_, now_direct, _) = inbox(&direct, &tokens[p]);
                assert_eq!(
                    now_cached, now_direct,
                    "step {step} ({what}): the person's own inbox, read at once"
                );
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
        tokens.len()
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
