//! The `docflow` command: help, configuration errors, migrate, user add, first start and
//! graceful shutdown of the real binary.

use crate::common::{Backend, TestDb, TestServer};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn docflow(db: &TestDb) -> Command {
    let mut c = Command::new(TestServer::binary());
    c.env("DATABASE_URL", &db.url)
        .env("DOCFLOW_DATA_DIR", db.dir.path().join("data"))
        .env_remove("DOCFLOW_ADMIN_PASSWORD")
        .env_remove("DOCFLOW_CONFIG");
    c
}

#[test]
fn help_lists_the_subcommands() {
    let out = Command::new(TestServer::binary())
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["serve", "migrate", "user", "audit"] {
        assert!(text.contains(cmd), "--help lists {cmd}:\n{text}");
    }
    let out = Command::new(TestServer::binary())
        .args(["user", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("add"));
}

#[test]
fn a_bad_setting_stops_with_one_line_naming_it() {
    let db = TestDb::new(Backend::Sqlite);
    let out = docflow(&db)
        .env("DOCFLOW_BIND", "not-an-address")
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("DOCFLOW_BIND") && err.contains("not-an-address"),
        "{err}"
    );

    let file = db.dir.path().join("docflow.toml");
    std::fs::write(&file, "db_pool_size = \"eight\"\n").unwrap();
    let out = docflow(&db)
        .arg("--config")
        .arg(&file)
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("docflow.toml"), "{err}");
}

fn migrate_and_user_add(b: Backend) {
    let db = TestDb::new(b);
    let out = docflow(&db).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("applied"));
    let out = docflow(&db).arg("migrate").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));

    let out = docflow(&db)
        .args([
            "user",
            "add",
            "--username",
            "van.thu",
            "--full-name",
            "Trần Thị Lan",
            "--email",
            "lan@example.gov.vn",
        ])
        .args(["--role", "clerk", "--role", "archivist"])
        .env("DOCFLOW_NEW_PASSWORD", "clerk-password-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Missing password, unknown role, unknown unit: clear errors, nothing created.
    let out = docflow(&db)
        .args([
            "user",
            "add",
            "--username",
            "x1",
            "--full-name",
            "X",
            "--email",
            "x@example.gov.vn",
        ])
        .env_remove("DOCFLOW_NEW_PASSWORD")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DOCFLOW_NEW_PASSWORD"));
    let out = docflow(&db)
        .args([
            "user",
            "add",
            "--username",
            "x2",
            "--full-name",
            "X",
            "--email",
            "x@example.gov.vn",
            "--role",
            "boss",
        ])
        .env("DOCFLOW_NEW_PASSWORD", "clerk-password-1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("boss"));
    // A line break in a name is refused here too (it would end a mail header; issue 11).
    let out = docflow(&db)
        .args([
            "user",
            "add",
            "--username",
            "tran.lan",
            "--full-name",
            "Trần\nThị Lan",
            "--email",
            "tran.lan@example.gov.vn",
        ])
        .env("DOCFLOW_NEW_PASSWORD", "clerk-password-1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("full_name"), "{err}");
    let out = docflow(&db)
        .args([
            "user",
            "add",
            "--username",
            "tran.lan",
            "--full-name",
            "X",
            "--email",
            "x@example.gov.vn",
            "--unit",
            "NOPE",
        ])
        .env("DOCFLOW_NEW_PASSWORD", "clerk-password-1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NOPE"));

    let srv = TestServer::start_on(db, |_| {});
    let tok = srv.login("van.thu", "clerk-password-1");
    let me = srv.get("/api/v1/me", Some(&tok));
    assert_eq!(me.json["full_name"], "Trần Thị Lan");
    assert_eq!(me.json["roles"], serde_json::json!(["archivist", "clerk"]));
    let users = srv.get("/api/v1/users", Some(&srv.admin_token));
    assert_eq!(
        users.json.as_array().unwrap().len(),
        2,
        "only admin and van.thu exist"
    );
}

/// Reads stderr lines until one contains `needle` (or the deadline passes).
fn wait_for_line(
    lines: &mut impl Iterator<Item = String>,
    needle: &str,
    seen: &mut Vec<String>,
) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let line = lines.next()?;
        seen.push(line.clone());
        if line.contains(needle) {
            return Some(line);
        }
    }
    None
}

fn first_start_prints_admin_password_once_and_sigterm_stops(b: Backend) {
    let db = TestDb::new(b);
    let mut child = docflow(&db)
        .env("DOCFLOW_BIND", "127.0.0.1:0")
        .env("DOCFLOW_LOG_FORMAT", "text")
        .env("NO_COLOR", "1")
        .arg("serve")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let mut seen = Vec::new();
    let pw_line = wait_for_line(&mut lines, "generated password", &mut seen)
        .unwrap_or_else(|| panic!("no password line in:\n{}", seen.join("\n")));
    let password = pw_line
        .split("password=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("password= in the line")
        .to_string();
    let serving = wait_for_line(&mut lines, "docflow is serving", &mut seen).expect("serving line");
    let address = serving
        .split("address=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let resp = reqwest::blocking::Client::new()
        .post(format!("http://{address}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200, "the generated password works");
    let token = resp.json::<serde_json::Value>().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let users = reqwest::blocking::Client::new()
        .get(format!("http://{address}/api/v1/users"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(
        users.status(),
        403,
        "a generated password must be changed before anything else"
    );

    // SIGTERM: the server stops by itself, cleanly.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let stopped = wait_for_line(&mut lines, "docflow stopped", &mut seen);
    assert!(stopped.is_some(), "stopped line in:\n{}", seen.join("\n"));
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");

    // Second start: the admin exists, no password is printed.
    let mut child = docflow(&db)
        .env("DOCFLOW_BIND", "127.0.0.1:0")
        .arg("serve")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let mut seen = Vec::new();
    wait_for_line(&mut lines, "docflow is serving", &mut seen).expect("serving line");
    assert!(
        !seen.iter().any(|l| l.contains("password=")),
        "{}",
        seen.join("\n")
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}

both_backends!(
    migrate_and_user_add,
    first_start_prints_admin_password_once_and_sigterm_stops
);
