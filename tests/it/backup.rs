//! Backup and restore as docs/OPERATIONS.md describes them, run for real on both databases:
//! `tests/backup_restore.sh backup` copies a working server's database (pg_dump / SQLite's
//! online backup) and files while it serves; `restore` puts them into a new, empty database
//! and folder; a server started there has every document and file, a verifying audit chain,
//! and numbers that go on from where they were.

use crate::common::{fixture, Backend, TestDb, TestServer};
use serde_json::json;
use std::path::Path;
use std::process::Command;

fn script(args: &[&str]) {
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/backup_restore.sh"))
        .args(args)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "backup_restore.sh {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn incoming(i: usize) -> serde_json::Value {
    json!({"kind": "incoming", "type_code": "CV", "subject": format!("Công văn lưu {i}"),
           "number_symbol": format!("{i}/STTTT"), "issue_date": "2026-11-20",
           "issuer": "Sở Thông tin và Truyền thông", "recipients": ["Văn phòng"]})
}

fn backup_then_restore_into_a_new_database(b: Backend) {
    let srv = TestServer::start(b);
    let (_, clerk, _) = srv.office("VP");
    let reg = srv.create_register(&clerk, "incoming", "Sổ văn bản đến");
    let pdfs = [fixture("valid-minimal.pdf"), fixture("valid-two-pages.pdf")];
    let mut docs = Vec::new();
    for i in 0..6 {
        let d = srv.create_document(&clerk, &incoming(i), pdfs[i % 2].clone());
        let id = d["id"].as_str().unwrap().to_string();
        let r = srv.post(
            &format!("/api/v1/documents/{id}/register"),
            Some(&clerk),
            &json!({"register_id": reg}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        docs.push(id);
    }
    let out = tempfile::tempdir().unwrap();
    let data = srv.data_dir();
    script(&[
        "backup",
        &srv.db.url,
        data.to_str().unwrap(),
        out.path().to_str().unwrap(),
    ]);
    // Work after the backup is not in it.
    srv.create_document(&clerk, &incoming(99), fixture("valid-minimal.pdf"));

    let target = TestDb::new(b);
    let new_data = target.dir.path().join("restored-data");
    let url = match b {
        // A new file beside the fresh (not yet created) one.
        Backend::Sqlite => format!(
            "sqlite://{}",
            target.dir.path().join("restored.db").display()
        ),
        Backend::Postgres => target.url.clone(),
    };
    script(&[
        "restore",
        out.path().to_str().unwrap(),
        &url,
        new_data.to_str().unwrap(),
    ]);
    let restored = TestServer::start_on(target, move |c| {
        c.database_url = url;
        c.data_dir = new_data;
    });
    let clerk = restored.login("clerk.vp", "clerk-password-1");
    let list = restored.get("/api/v1/documents?limit=100", Some(&clerk));
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(
        list.json["items"].as_array().map(Vec::len),
        Some(6),
        "the six documents of the backup, not the later one: {}",
        list.text
    );
    for (i, d) in docs.iter().enumerate() {
        let f = restored.get(&format!("/api/v1/documents/{d}/file"), Some(&clerk));
        assert_eq!(f.status, 200, "{}", f.text);
        assert_eq!(f.bytes, pdfs[i % 2]);
    }
    let chain = restored.get("/api/v1/audit/verify", Some(&restored.admin_token));
    assert_eq!(chain.json["intact"], true, "{}", chain.text);
    let d = restored.create_document(&clerk, &incoming(7), fixture("valid-minimal.pdf"));
    let r = restored.post(
        &format!("/api/v1/documents/{}/register", d["id"].as_str().unwrap()),
        Some(&clerk),
        &json!({"register_id": reg}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["number"], 7, "numbering goes on: {}", r.text);
}

both_backends!(backup_then_restore_into_a_new_database);
