//! docflow as N stateless nodes: two real `docflow serve` processes on their own ports and their
//! own (empty, unshared) data folders share one database and one S3 bucket (moto) and the KEK
//! file, and a test drives both at once with mixed work — uploads, registrations, route
//! actions (the same retry sent to both nodes, two different actions on one task at once),
//! wrong passwords, emails through a real SMTP server. What must hold across nodes: numbers
//! unique and gap-free, each file readable from the other node, a route advanced once per task
//! and a retry answered once, the login lockout counted over both, every email sent once, the
//! audit chain intact.

use crate::common::moto::S3Server;
use crate::common::smtp::SmtpSink;
use crate::common::{fixture, wait_until, Backend, TestDb, TestServer};
use diesel::prelude::*;
use docflow::db::schema::notifications;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

const BUCKET: &str = "docflow-nodes";

/// One node: the real binary on the shared database, bucket, KEK and SMTP server, with a data
/// folder of its own that nothing else reads.
fn node(
    db: &TestDb,
    s3: &S3Server,
    sink: &SmtpSink,
    kek: &std::path::Path,
    name: &str,
) -> TestServer {
    let data = db.dir.path().join(format!("node-{name}"));
    let env = [
        ("DOCFLOW_BLOB_URL", format!("s3://{BUCKET}/files")),
        ("DOCFLOW_S3_ENDPOINT", s3.endpoint.clone()),
        ("DOCFLOW_S3_ACCESS_KEY_ID", "test-key".to_string()),
        ("DOCFLOW_S3_SECRET_ACCESS_KEY", "test-secret".to_string()),
        ("DOCFLOW_SIGNING_KEK_PATH", kek.display().to_string()),
        ("DOCFLOW_SMTP_URL", sink.url()),
        ("DOCFLOW_NOTIFY_POLL_MS", "100".to_string()),
        ("DOCFLOW_NOTIFY_LEASE_SECS", "30".to_string()),
        ("DOCFLOW_SMTP_TIMEOUT_SECS", "5".to_string()),
        ("DOCFLOW_LOGIN_MAX_FAILURES", "4".to_string()),
        ("DOCFLOW_DB_POOL_SIZE", "8".to_string()),
    ];
    TestServer::spawn(db.shared(), data, &env)
}

fn incoming(i: usize) -> Value {
    json!({
        "kind": "incoming", "type_code": "CV", "subject": format!("Công văn đến số {i}"),
        "number_symbol": format!("{i}/UBND-VX"), "issue_date": "2026-11-20",
        "issuer": "Ủy ban nhân dân tỉnh", "recipients": ["Văn phòng"],
        "urgency": "normal", "confidentiality": "normal"
    })
}

fn act(srv: &TestServer, token: &str, task: &str, body: &Value, key: &str) -> crate::common::Resp {
    let r = reqwest::blocking::Client::new()
        .post(srv.url(&format!("/api/v1/tasks/{task}/actions")))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .expect("request");
    crate::common::Resp::read(r)
}

fn two_nodes_share_database_and_store(b: Backend) {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let sink = SmtpSink::start();
    let db = TestDb::new(b);
    let kek_dir = tempfile::tempdir().unwrap();
    let kek = kek_dir.path().join("signing.kek");
    let mut key = [0u8; 32];
    openssl::rand::rand_bytes(&mut key).unwrap();
    std::fs::write(&kek, key).unwrap();
    std::fs::set_permissions(&kek, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let a = node(&db, &s3, &sink, &kek, "a");
    let nb = node(&db, &s3, &sink, &kek, "b");
    let nodes = [&a, &nb];

    let unit = a.create_unit("VP", "Văn phòng Sở", None);
    let clerk_id = a.create_user("van.thu", "clerk-password-1", Some(&unit), &["clerk"]);
    a.create_user(
        "chuyen.vien",
        "official-password-1",
        Some(&unit),
        &["official"],
    );
    let head_id = a.create_user(
        "truong.phong",
        "official-password-2",
        Some(&unit),
        &["official"],
    );
    let reviewer_id = a.create_user(
        "pho.phong",
        "official-password-3",
        Some(&unit),
        &["official"],
    );
    // Each user signs in on the other node: the sessions are in the database.
    let clerk = nb.login("van.thu", "clerk-password-1");
    let drafter = a.login("chuyen.vien", "official-password-1");
    let reviewer = nb.login("pho.phong", "official-password-3");
    let reg = a.create_register(&clerk, "incoming", "Sổ văn bản đến");

    // Uploads through both nodes at once; every file is read back through the other node.
    let pdfs = [fixture("valid-minimal.pdf"), fixture("valid-two-pages.pdf")];
    let docs: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..24)
            .map(|i| {
                let (srv, clerk, pdf) = (nodes[i % 2], &clerk, pdfs[i % 2].clone());
                s.spawn(move || {
                    srv.create_document(clerk, &incoming(i), pdf)["id"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, d) in docs.iter().enumerate() {
        let other = nodes[(i + 1) % 2];
        let f = other.get(&format!("/api/v1/documents/{d}/file"), Some(&clerk));
        assert_eq!(f.status, 200, "{}", f.text);
        assert_eq!(
            f.bytes,
            pdfs[i % 2],
            "document {i} read through the other node"
        );
    }
    assert_eq!(
        s3.keys(BUCKET).len(),
        2,
        "two distinct files, each stored once"
    );

    // Registrations through both nodes at once: numbers 1..24, no gap, no repeat.
    let mut numbers: Vec<i64> = std::thread::scope(|s| {
        let handles: Vec<_> = docs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let (srv, clerk, reg) = (nodes[i % 2], &clerk, &reg);
                s.spawn(move || {
                    let r = srv.post(
                        &format!("/api/v1/documents/{d}/register"),
                        Some(clerk),
                        &json!({"register_id": reg}),
                    );
                    assert_eq!(r.status, 200, "{}", r.text);
                    r.json["number"].as_i64().unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    numbers.sort();
    assert_eq!(numbers, (1..=24).collect::<Vec<i64>>());

    // Routes: each review task gets the same approve with one Idempotency-Key on both nodes at
    // once (a client retrying through the load balancer): acted once, replayed once.
    let drafts: Vec<String> = (0..6)
        .map(|i| {
            let doc = nodes[i % 2].create_document(
                &drafter,
                &json!({"kind": "outgoing", "type_code": "CV", "subject": format!("Dự thảo {i}"),
                        "recipients": ["UBND tỉnh"]}),
                fixture("valid-minimal.pdf"),
            );
            let id = doc["id"].as_str().unwrap().to_string();
            let r = nodes[(i + 1) % 2].post(
                &format!("/api/v1/documents/{id}/route"),
                Some(&drafter),
                &json!({"stages": [
                    {"kind": "review", "assignees": [{"user": reviewer_id}]},
                    {"kind": "review", "assignees": [{"user": head_id}]},
                ]}),
            );
            assert_eq!(r.status, 201, "{}", r.text);
            id
        })
        .collect();
    let inbox = a.get("/api/v1/tasks", Some(&reviewer));
    assert_eq!(inbox.status, 200, "{}", inbox.text);
    let task_of = |doc: &str| -> String {
        inbox
            .json
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["task"]["document_id"] == doc)
            .unwrap_or_else(|| panic!("no task on {doc}: {}", inbox.text))["task"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for (i, d) in drafts.iter().enumerate() {
        let t = task_of(d);
        let body = json!({"action": "approve", "comment": "Đồng ý"});
        let k = format!("approve-{i}");
        let answers: Vec<crate::common::Resp> = std::thread::scope(|s| {
            let hs: Vec<_> = nodes
                .iter()
                .map(|srv| {
                    let (t, body, k, reviewer) = (&t, &body, &k, &reviewer);
                    s.spawn(move || act(srv, reviewer, t, body, k))
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            vec![200, 200],
            "{:?}",
            answers.iter().map(|r| &r.text).collect::<Vec<_>>()
        );
        let replayed = answers
            .iter()
            .filter(|r| r.json["replayed"] == true)
            .count();
        assert_eq!(
            replayed,
            1,
            "one acted, one replayed: {:?}",
            answers.iter().map(|r| &r.text).collect::<Vec<_>>()
        );
        let route = nb.get(&format!("/api/v1/documents/{d}/route"), Some(&drafter));
        assert_eq!(route.status, 200, "{}", route.text);
        assert_eq!(
            route.json["current_stage"], 2,
            "advanced exactly once: {}",
            route.text
        );
        let second = &route.json["stages"][1]["tasks"];
        assert_eq!(
            second.as_array().map(Vec::len),
            Some(1),
            "one task made: {}",
            route.text
        );
    }

    // Two different actions on one task at once, one per node: one wins, the other is told.
    let doc = a.create_document(
        &drafter,
        &json!({"kind": "outgoing", "type_code": "CV", "subject": "Dự thảo tranh chấp",
                "recipients": ["UBND tỉnh"]}),
        fixture("valid-minimal.pdf"),
    );
    let doc = doc["id"].as_str().unwrap().to_string();
    let r = a.post(
        &format!("/api/v1/documents/{doc}/route"),
        Some(&drafter),
        &json!({"stages": [{"kind": "review", "assignees": [{"user": reviewer_id}]}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let inbox = nb.get("/api/v1/tasks", Some(&reviewer));
    let t = inbox
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["task"]["document_id"] == doc)
        .unwrap()["task"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let answers: Vec<crate::common::Resp> = std::thread::scope(|s| {
        let bodies = [
            json!({"action": "approve"}),
            json!({"action": "return", "comment": "Sửa lại căn cứ"}),
        ];
        let hs: Vec<_> = bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| {
                let (t, reviewer) = (&t, &reviewer);
                let srv = nodes[i];
                s.spawn(move || act(srv, reviewer, t, &body, &format!("race-{i}")))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        vec![200, 409],
        "{:?}",
        answers.iter().map(|r| &r.text).collect::<Vec<_>>()
    );

    // Wrong passwords spread over both nodes lock the account on both (the count is shared).
    for i in 0..4 {
        nodes[i % 2]
            .post(
                "/api/v1/auth/login",
                None,
                &json!({"username": "truong.phong", "password": "wrong-password"}),
            )
            .assert_problem(401, "invalid_credentials");
    }
    for srv in nodes {
        srv.post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "truong.phong", "password": "official-password-2"}),
        )
        .assert_problem(429, "too_many_requests");
    }

    // An issued document's email carries its file, read from the bucket by whichever node
    // sends it.
    let issued = docflow::notify::NewNotification {
        kind: docflow::notify::NotificationKind::DocumentIssued,
        recipient_id: clerk_id.clone(),
        document_id: Some(docs[1].clone()),
        task_id: None,
        actor_id: None,
        comment: None,
        deadline: None,
    };
    let mut conn = db.connect();
    docflow::db::write_tx(&mut conn, |c| docflow::notify::enqueue(c, &issued)).expect("enqueue");

    // Every email the work caused is sent once, by one node or the other.
    let rows = || -> Vec<(String, Option<String>)> {
        let mut c = db.connect();
        notifications::table
            .select((notifications::state, notifications::message_id))
            .load(&mut c)
            .expect("rows")
    };
    assert!(
        !rows().is_empty(),
        "the routes should have caused notifications"
    );
    wait_until("every notification sent", Duration::from_secs(60), || {
        rows().iter().all(|(state, _)| state == "sent")
    });
    let sent: BTreeSet<String> = rows().into_iter().filter_map(|r| r.1).collect();
    let received = sink.wait_for(sent.len(), Duration::from_secs(30));
    let ids: Vec<String> = received.iter().map(|m| m.message_id.clone()).collect();
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), unique.len(), "an email was sent twice: {ids:?}");
    assert_eq!(unique, sent, "every notification delivered, nothing else");
    let want = openssl::sha::sha256(&pdfs[1])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let attached: Vec<_> = received.iter().flat_map(|m| m.attachments.iter()).collect();
    assert_eq!(
        attached.len(),
        1,
        "the issued document's email, with its file"
    );
    assert_eq!(
        attached[0].sha256, want,
        "the file from the bucket, byte for byte"
    );

    let chain = nb.get("/api/v1/audit/verify", Some(&nb.admin_token));
    assert_eq!(chain.json["intact"], true, "{}", chain.text);
}

both_backends!(two_nodes_share_database_and_store);
