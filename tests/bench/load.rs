//! Speed under load: a seeded office (`docflow dev seed`) served by the release binary, and
//! the load generator `oha` on the same machine, side by side in one run with the same
//! concurrency: `/healthz`, a typical official's inbox (`GET /api/v1/tasks`), a clerk's
//! document listing (`GET /api/v1/documents`), the same official's listing (the documents
//! routed to them or granted) and a clerk's search (`?q=nguoi co cong`), at 2, 8
//! and 32 clients; then approvals (`POST /api/v1/tasks/{id}/actions`, each a different
//! pending review task) by 32 clients, alone, then with 8 clients reading the inbox
//! meanwhile, then with 8 clients reading the clerk's listing meanwhile. SQLite, and PostgreSQL when `TEST_DATABASE_URL` is set
//! (a fresh database, dropped at the end).
//!
//! `cargo bench --bench load`; `DOCFLOW_BENCH_DOCS` documents (default 10000),
//! `DOCFLOW_BENCH_USERS` users (default 1000), `DOCFLOW_BENCH_SECS` seconds per measurement
//! (default 4), `DOCFLOW_BENCH_POOL` database connections of the server (default 8, the
//! configuration's default), `DOCFLOW_BENCH_BASELINE` another `docflow` binary (an older build)
//! served from the same seeded database and measured cell by cell beside this one.
//! `DOCFLOW_BENCH_ONLY=approvals` measures the approvals alone (no read cells, no `oha`).
//! Measuring starts once the server's first deadline scan has written the seeded office's due
//! notices (the count of the outbox stops growing); its senders then send them during the
//! cells at `notify_rate`, which the server takes from the environment like every setting.
//! `oha` is installed with `cargo install --locked oha` if missing.
//! Figures, not assertions: see docs/OPERATIONS.md, "Speed under load".

#[allow(unused_macros)]
#[path = "../common/mod.rs"]
mod common;

use common::{Backend, TestDb, TestServer};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `oha` from PATH or ~/.cargo/bin, installed from crates.io if neither has it.
fn oha() -> PathBuf {
    let home = PathBuf::from(std::env::var("HOME").unwrap_or_default());
    let cargo_bin = home.join(".cargo/bin/oha");
    for candidate in [PathBuf::from("oha"), cargo_bin.clone()] {
        if Command::new(&candidate).arg("--version").output().is_ok() {
            return candidate;
        }
    }
    let status = Command::new("cargo")
        .args(["install", "--locked", "oha"])
        .status()
        .expect("run cargo install --locked oha");
    assert!(status.success(), "cargo install --locked oha failed");
    cargo_bin
}

/// One measurement: requests per second, p50 and p99 in milliseconds, non-2xx answers.
#[derive(Clone, Copy, Default)]
struct Figures {
    rps: f64,
    p50: f64,
    p99: f64,
    errors: u64,
}

fn measure(oha: &PathBuf, url: &str, token: Option<&str>, clients: usize, secs: u64) -> Figures {
    let mut cmd = Command::new(oha);
    cmd.args(["--no-tui", "--output-format", "json", "-c"])
        .arg(clients.to_string())
        .arg("-z")
        .arg(format!("{secs}s"));
    if let Some(t) = token {
        cmd.arg("-H").arg(format!("Authorization: Bearer {t}"));
    }
    let out = cmd.arg(url).output().expect("run oha");
    assert!(
        out.status.success(),
        "oha: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("oha JSON");
    let ms = |p: &str| v["latencyPercentiles"][p].as_f64().unwrap_or(f64::NAN) * 1000.0;
    let errors = v["statusCodeDistribution"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(code, _)| !code.starts_with('2'))
                .map(|(_, n)| n.as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
        + v["errorDistribution"]
            .as_object()
            .map(|m| {
                // `-z` cuts the requests in flight when the time is up: not the server's errors.
                m.iter()
                    .filter(|(e, _)| !e.contains("aborted due to deadline"))
                    .map(|(_, n)| n.as_u64().unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0);
    Figures {
        rps: v["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0),
        p50: ms("p50"),
        p99: ms("p99"),
        errors,
    }
}

/// Seeds `db` with the release binary; answers its `key=value` lines.
fn seed(db: &TestDb, docs: u64, users: u64) -> HashMap<String, String> {
    let started = Instant::now();
    let out = Command::new(TestServer::binary())
        .args(["dev", "seed", "--documents", &docs.to_string()])
        .args(["--users", &users.to_string(), "--seed", "1"])
        .env("DATABASE_URL", &db.url)
        .env("DOCFLOW_DATA_DIR", db.dir.path().join("data"))
        .env_remove("DOCFLOW_CONFIG")
        .output()
        .expect("run docflow dev seed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "  {} (wall {:.1} s)",
        stdout.lines().next().unwrap_or(""),
        started.elapsed().as_secs_f64()
    );
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Waits for the servers' first deadline scan to finish writing the notices a freshly
/// seeded office has due (its open tasks are past their deadlines: ~47,000 at 100,000
/// documents), so that no cell measures that one-time burst of writes. The senders then send
/// them at `notify_rate` during the cells, as an office with a backlog does.
fn settle(db: &TestDb) {
    use diesel::prelude::*;
    use docflow::db::schema::notifications;
    if std::env::var("DOCFLOW_NOTIFY_WORKERS").as_deref() == Ok("0") {
        return;
    }
    let started = Instant::now();
    let mut c = db.connect();
    let mut last = -1i64;
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let n: i64 = notifications::table
            .count()
            .get_result(&mut c)
            .expect("count the outbox");
        let stable = n == last && (n > 0 || started.elapsed() > Duration::from_secs(5));
        if stable || started.elapsed() > Duration::from_secs(600) {
            println!(
                "  first deadline scan: {n} notices written in {:.0} s (waited for before measuring)",
                started.elapsed().as_secs_f64() - 1.0
            );
            return;
        }
        last = n;
    }
}

/// Pending review tasks and their assignees' usernames, the busiest reviewers first.
fn review_tasks(db: &TestDb, want: usize) -> Vec<(String, String)> {
    use diesel::prelude::*;
    use docflow::db::schema::{users, workflow_stages, workflow_tasks};
    let mut c = db.connect();
    // Bench-side read, straight from the tables: which tasks exist is not what is measured.
    let rows: Vec<(String, String)> = workflow_tasks::table
        .inner_join(
            workflow_stages::table.on(workflow_stages::id.nullable().eq(workflow_tasks::stage_id)),
        )
        .inner_join(users::table.on(users::id.eq(workflow_tasks::assignee_id)))
        .filter(workflow_tasks::status.eq("pending"))
        .filter(workflow_stages::kind.eq("review"))
        .select((workflow_tasks::id, users::username))
        .load(&mut c)
        .expect("pending review tasks");
    let mut by_user: HashMap<String, Vec<String>> = HashMap::new();
    for (t, u) in rows {
        by_user.entry(u).or_default().push(t);
    }
    let mut users: Vec<(String, Vec<String>)> = by_user.into_iter().collect();
    users.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    let mut out = Vec::new();
    for (u, ts) in users {
        if out.len() >= want {
            break;
        }
        out.extend(ts.into_iter().map(|t| (t, u.clone())));
    }
    out.truncate(want);
    out
}

/// Approvals by `clients` threads, each request a different task; stops when the tasks or
/// the time run out.
fn approvals(
    srv: &TestServer,
    db_tasks: Vec<(String, String)>,
    password: &str,
    clients: usize,
    secs: u64,
) -> (Figures, usize) {
    let mut tokens: HashMap<String, String> = HashMap::new();
    let mut work = Vec::with_capacity(db_tasks.len());
    for (task, user) in db_tasks {
        let token = tokens
            .entry(user.clone())
            .or_insert_with(|| srv.login(&user, password))
            .clone();
        work.push((task, token));
    }
    let n = work.len();
    let queue = Arc::new(Mutex::new(work));
    let lat = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let errors = Arc::new(Mutex::new(0u64));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..clients {
            let (queue, lat, errors) = (queue.clone(), lat.clone(), errors.clone());
            let base = srv.base.clone();
            s.spawn(move || {
                let client = reqwest::blocking::Client::new();
                loop {
                    if Instant::now() > deadline {
                        return;
                    }
                    let Some((task, token)) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    let t = Instant::now();
                    let r = client
                        .post(format!("{base}/api/v1/tasks/{task}/actions"))
                        .bearer_auth(&token)
                        .json(&json!({"action": "approve"}))
                        .send();
                    let good = matches!(&r, Ok(r) if r.status().is_success());
                    if let Ok(r) = r {
                        let _ = r.bytes();
                    }
                    lat.lock().unwrap().push(t.elapsed());
                    if !good {
                        *errors.lock().unwrap() += 1;
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat = lat.lock().unwrap().clone();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN)
    };
    let done = lat.len();
    let errors = *errors.lock().unwrap();
    (
        Figures {
            rps: done as f64 / elapsed,
            p50: pct(0.5),
            p99: pct(0.99),
            errors,
        },
        done,
    )
}

/// What one run measures besides the figures' own settings.
struct Run {
    docs: u64,
    users: u64,
    secs: u64,
    pool: u32,
    /// Another build of `docflow` measured side by side with this one (`DOCFLOW_BENCH_BASELINE`).
    baseline: Option<PathBuf>,
    /// The load generator of the read cells; none: approvals only (`DOCFLOW_BENCH_ONLY`).
    oha: Option<PathBuf>,
}

fn run(backend: Backend, r: &Run) {
    let name = match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    let (docs, secs) = (r.docs, r.secs);
    println!(
        "\n## {name}: {docs} documents, {} users, {secs} s per cell, pool {}",
        r.users, r.pool
    );
    let db = TestDb::new(backend);
    let facts = seed(&db, docs, r.users);
    let password = facts["password"].clone();
    let tasks = review_tasks(&db, 20_000);
    let data = db.dir.path().join("data");
    let env = [("DOCFLOW_DB_POOL_SIZE", r.pool.to_string())];
    // With a baseline, both servers run on the one seeded database at once and are measured
    // one after the other, cell by cell: the idle one only polls its background queues.
    let base_srv = r
        .baseline
        .as_ref()
        .map(|b| TestServer::spawn_binary(b, db.shared(), data.clone(), &env));
    let srv = TestServer::spawn(db, data, &env);
    settle(&srv.db);
    let mut servers: Vec<(&str, &TestServer)> = vec![("new", &srv)];
    if let Some(b) = &base_srv {
        servers.push(("baseline", b));
        println!(
            "  baseline: {}",
            r.baseline
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    let official = srv.login(&facts["official"], &password);
    let clerk = srv.login(&facts["clerk"], &password);
    let inbox = srv.get("/api/v1/tasks", Some(&official));
    let listing = srv.get("/api/v1/documents", Some(&clerk));
    let own_listing = srv.get("/api/v1/documents", Some(&official));
    let search = srv.get("/api/v1/documents?q=nguoi%20co%20cong", Some(&clerk));
    println!(
        "  inbox of {}: {} tasks; listing page: {} items (the official's: {}); search page: {} items",
        facts["official"],
        inbox.json.as_array().map(|a| a.len()).unwrap_or(0),
        listing.json["items"]
            .as_array()
            .map(|a| a.len())
            .unwrap_or(0),
        own_listing.json["items"]
            .as_array()
            .map(|a| a.len())
            .unwrap_or(0),
        search.json["items"]
            .as_array()
            .map(|a| a.len())
            .unwrap_or(0),
    );
    let targets: [(&str, &str, Option<&str>); 5] = [
        ("/healthz", "/healthz", None),
        ("GET /api/v1/tasks", "/api/v1/tasks", Some(&official)),
        ("GET /api/v1/documents", "/api/v1/documents", Some(&clerk)),
        (
            "GET /api/v1/documents (an official)",
            "/api/v1/documents",
            Some(&official),
        ),
        (
            "GET /api/v1/documents?q=nguoi co cong",
            "/api/v1/documents?q=nguoi%20co%20cong",
            Some(&clerk),
        ),
    ];
    println!(
        "\n| {name} {docs} docs | build | clients | req/s | p50 ms | p99 ms | ratio to /healthz | errors |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let read_cells = r
        .oha
        .iter()
        .flat_map(|oha| [2usize, 8, 32].map(|c| (oha, c)));
    for (oha, clients) in read_cells {
        let mut health: HashMap<&str, f64> = HashMap::new();
        for (label, path, token) in &targets {
            for (build, s) in &servers {
                let f = measure(oha, &s.url(path), *token, clients, secs);
                if *label == "/healthz" {
                    health.insert(build, f.rps);
                }
                let h = health.get(build).copied().unwrap_or(f64::NAN);
                println!(
                    "| {label} | {build} | {clients} | {:.0} | {:.2} | {:.2} | {:.0}% | {} |",
                    f.rps,
                    f.p50,
                    f.p99,
                    100.0 * f.rps / h.max(1e-9),
                    f.errors
                );
            }
        }
    }
    // Each build approves its own third of the tasks (alternate ones, so each part holds the
    // same mix of busy and quiet reviewers): first alone, then with 8 clients reading the
    // official's inbox from the same server meanwhile, then with 8 clients reading the
    // clerk's listing meanwhile (every approval is a write that this node's cache must see
    // before it answers from memory again, and a write in the clerk's unit drops the clerk's
    // pages: src/cache).
    let mut parts: Vec<Vec<(String, String)>> = vec![Vec::new(); 3 * servers.len()];
    for (i, t) in tasks.into_iter().enumerate() {
        parts[i % (3 * servers.len())].push(t);
    }
    let mut parts = parts.into_iter();
    for (build, s) in &servers {
        let work = parts.next().unwrap_or_default();
        let (f, done) = approvals(s, work, &password, 32, secs);
        println!(
            "| POST /api/v1/tasks/{{id}}/actions approve ({done} tasks) | {build} | 32 | {:.0} | {:.2} | {:.2} | | {} |",
            f.rps, f.p50, f.p99, f.errors
        );
    }
    // (what is read meanwhile, its path, whose, the read's label)
    let meanwhile = [
        ("inbox", "/api/v1/tasks", &official, "GET /api/v1/tasks"),
        (
            "clerk's listing",
            "/api/v1/documents",
            &clerk,
            "GET /api/v1/documents (the clerk)",
        ),
    ];
    for (what, path, token, label) in meanwhile {
        for (build, s) in &servers {
            let work = parts.next().unwrap_or_default();
            let reader = r.oha.clone().map(|oha| {
                let url = s.url(path);
                let token = token.clone();
                std::thread::spawn(move || measure(&oha, &url, Some(&token), 8, secs))
            });
            let (f, done) = approvals(s, work, &password, 32, secs);
            println!(
                "| POST /api/v1/tasks/{{id}}/actions approve ({done} tasks), {what} read meanwhile | {build} | 32 | {:.0} | {:.2} | {:.2} | | {} |",
                f.rps, f.p50, f.p99, f.errors
            );
            if let Some(Ok(f)) = reader.map(|h| h.join()) {
                println!(
                    "| {label} while approvals run | {build} | 8 | {:.0} | {:.2} | {:.2} | | {} |",
                    f.rps, f.p50, f.p99, f.errors
                );
            }
        }
    }
    // The baseline first: the other server's drop also drops the database.
    drop(servers);
    drop(base_srv);
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the arguments.
    let r = Run {
        docs: env_or("DOCFLOW_BENCH_DOCS", 10_000),
        users: env_or("DOCFLOW_BENCH_USERS", 1_000),
        secs: env_or("DOCFLOW_BENCH_SECS", 4),
        pool: env_or("DOCFLOW_BENCH_POOL", 8),
        baseline: std::env::var_os("DOCFLOW_BENCH_BASELINE")
            .filter(|b| !b.is_empty())
            .map(PathBuf::from),
        oha: match std::env::var("DOCFLOW_BENCH_ONLY").as_deref() {
            Ok("approvals") => None,
            Ok("") | Err(_) => Some(oha()),
            Ok(other) => panic!("DOCFLOW_BENCH_ONLY={other}: only 'approvals' is known"),
        },
    };
    let only = std::env::var("DOCFLOW_BENCH_BACKEND").unwrap_or_default();
    if only != "postgres" {
        run(Backend::Sqlite, &r);
    }
    if only == "sqlite" {
        return;
    }
    if std::env::var_os("TEST_DATABASE_URL").is_some() {
        run(Backend::Postgres, &r);
    } else {
        println!("PostgreSQL: not run (set TEST_DATABASE_URL=postgres://…)");
    }
}
