//! Hostile input from the API's own document: schemathesis (PyPI, pinned) generates requests
//! from `/api/v1/openapi.json` — examples, boundary values, fuzzing and stateful sequences,
//! with and without the admin's token — against the real server on each database, and checks
//! that no answer is a 5xx and that every answer's status, media type, headers and body are
//! the ones the document declares. A bounded, seeded run (the same cases every time).
//!
//! Also: a method a path does not declare answers 405 with `Allow`. Not checked: that every
//! schema-valid request is accepted (the document does not carry every rule the server
//! enforces, e.g. that a unit's parent exists). Logout and the password change are left out: they would end the token
//! the run works with.

use crate::common::{pyvenv, Backend, TestServer};
use std::process::Command;

fn the_api_answers_as_its_document_says(b: Backend) {
    let venv = pyvenv::tool_venv("schemathesis", &["schemathesis==4.32.5"], "schemathesis");
    let srv = TestServer::start_with(b, |c| c.login_max_failures = 1000);
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(venv.join("bin/schemathesis"))
        .current_dir(work.path())
        .env("NO_COLOR", "1")
        .args(["run", &format!("{}/api/v1/openapi.json", srv.base)])
        .args(["-H", &format!("Authorization: Bearer {}", srv.admin_token)])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,response_headers_conformance,unsupported_method",
        ])
        .args([
            "--max-examples",
            "10",
            "--seed",
            "20261201",
            "--workers",
            "2",
        ])
        .args(["--exclude-path", "/api/v1/auth/logout"])
        .args(["--exclude-path", "/api/v1/me/password"])
        .output()
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The run really tested the API (not an empty or unreadable document).
    let tested = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tested: "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    assert!(tested >= 60, "only {tested} operations tested:\n{report}");
    let summary: Vec<&str> = report.lines().rev().take(4).collect();
    eprintln!("schemathesis ({b:?}): {}", summary.join(" | "));
}

both_backends!(the_api_answers_as_its_document_says);
