//! The workflow tells people by email: a task opened on a route reaches the assignee and the
//! deputy in force, a return reaches the drafter with the comment, and the deadline scanner
//! finds the real pending task (assignee, deputy, unit head) — through the real `docflow`
//! binary and a real SMTP server on loopback, on both databases.

use crate::common::smtp::SmtpSink;
use crate::common::{fixture, Backend, TestDb, TestServer};
use serde_json::json;
use std::time::Duration;

const PW: &str = "officer-password-1";

fn serve(b: Backend, sink: &SmtpSink) -> TestServer {
    let db = TestDb::new(b);
    let data = db.dir.path().join("data");
    TestServer::spawn(
        db,
        data,
        &[
            ("DOCFLOW_SMTP_URL", sink.url()),
            ("DOCFLOW_SMTP_FROM", "docflow@so-ldtbxh.gov.vn".into()),
            (
                "DOCFLOW_PUBLIC_URL",
                "https://docflow.example.gov.vn".into(),
            ),
            ("DOCFLOW_NOTIFY_POLL_MS", "100".into()),
        ],
    )
}

fn route_tasks_are_mailed_and_scanned(b: Backend) {
    let sink = SmtpSink::start();
    let srv = serve(b, &sink);
    let unit = srv.create_unit("PHONG", "Phòng Việc làm", None);
    let mut id = std::collections::HashMap::new();
    let mut tok = std::collections::HashMap::new();
    for name in ["truong.phong", "chuyen.vien", "pho.phong"] {
        id.insert(name, srv.create_user(name, PW, Some(&unit), &["official"]));
        tok.insert(name, srv.login(name, PW));
    }
    let r = srv.patch(
        &format!("/api/v1/units/{unit}"),
        Some(&srv.admin_token),
        &json!({"head_user_id": id["truong.phong"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    // The head names a deputy for the next three days.
    let r = srv.post(
        "/api/v1/substitutions",
        Some(&tok["truong.phong"]),
        &json!({"deputy_id": id["pho.phong"], "capacity": "kt",
                "ends_at": (chrono::Utc::now() + chrono::Duration::days(3)).naive_utc()}),
    );
    assert_eq!(r.status, 201, "{}", r.text);

    let doc = srv.create_document(
        &tok["chuyen.vien"],
        &json!({"kind": "outgoing", "type_code": "TTr", "subject": "Tờ trình xin kinh phí tập huấn",
                "recipients": ["UBND tỉnh"], "urgency": "normal"}),
        fixture("valid-minimal.pdf"),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = srv.post(
        &format!("/api/v1/documents/{doc}/route"),
        Some(&tok["chuyen.vien"]),
        &json!({"stages": [{"kind": "review", "policy": "all",
                            "assignees": [{"user": id["truong.phong"]}]}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);

    // Task assigned: the head and the deputy in force each get one message.
    let msgs = sink.wait_for(2, Duration::from_secs(60));
    let mut to: Vec<String> = msgs.iter().flat_map(|m| m.rcpt_tos.clone()).collect();
    to.sort();
    assert_eq!(
        to,
        vec![
            "pho.phong@example.gov.vn".to_string(),
            "truong.phong@example.gov.vn".to_string()
        ]
    );
    for m in &msgs {
        let text = m.text.as_deref().unwrap_or_default();
        assert!(
            text.contains("Tờ trình xin kinh phí tập huấn"),
            "subject of the paper in the message: {text}"
        );
        assert!(text.contains("https://docflow.example.gov.vn/"), "{text}");
    }

    // The deadline scanner sees the real pending task with its deputy and unit head.
    let mut conn = srv.db.connect();
    let now = chrono::Utc::now().naive_utc();
    let tasks = docflow::notify::service::open_tasks(&mut conn, now).expect("open tasks");
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let t = &tasks[0];
    assert_eq!(t.document_id.as_deref(), Some(doc.as_str()));
    assert_eq!(
        t.assignee_ids,
        vec![id["truong.phong"].clone(), id["pho.phong"].clone()]
    );
    assert_eq!(t.unit_head_id.as_deref(), Some(id["truong.phong"].as_str()));
    assert!(
        t.deadline > now,
        "a normal paper's stage is due in working days"
    );

    // The head returns the draft: the drafter hears why, and the task leaves the scanner.
    let inbox = srv.get("/api/v1/tasks", Some(&tok["truong.phong"]));
    let task = inbox.json[0]["task"]["id"].as_str().unwrap().to_string();
    let r = srv.post(
        &format!("/api/v1/tasks/{task}/actions"),
        Some(&tok["truong.phong"]),
        &json!({"action": "return", "comment": "Bổ sung dự toán chi tiết"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let msgs = sink.wait_for(3, Duration::from_secs(60));
    let returned = msgs
        .iter()
        .find(|m| m.rcpt_tos == ["chuyen.vien@example.gov.vn"])
        .expect("the drafter is told");
    assert!(
        returned
            .text
            .as_deref()
            .unwrap_or_default()
            .contains("Bổ sung dự toán chi tiết"),
        "{:?}",
        returned.text
    );
    let tasks = docflow::notify::service::open_tasks(&mut conn, now).expect("open tasks");
    assert!(tasks.is_empty(), "{tasks:?}");
}

both_backends!(route_tasks_are_mailed_and_scanned);
