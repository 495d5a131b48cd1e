//! Email notifications end to end: the real `docflow` binary sends through a real SMTP server
//! on loopback (aiosmtpd); messages are parsed by Python's `email` package. SMTP down and up,
//! the server killed mid-batch, dead letters, preferences and digests on a manual clock,
//! reminders and escalations, attachments, and the `.eml` fallback.

use crate::common::smtp::{Received, SmtpSink};
use crate::common::{fixture, wait_until, Backend, TestDb, TestServer};
use diesel::prelude::*;
use docflow::db::schema::{audit_events, notifications};
use docflow::notify::{NewNotification, NotificationKind};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const PUBLIC_URL: &str = "https://docflow.so-ldtbxh.gov.vn";
const FROM: &str = "Văn phòng Sở <docflow@so-ldtbxh.gov.vn>";

fn env(sink: Option<&SmtpSink>, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("DOCFLOW_PUBLIC_URL", PUBLIC_URL.to_string()),
        ("DOCFLOW_SMTP_FROM", FROM.to_string()),
        ("DOCFLOW_NOTIFY_POLL_MS", "100".to_string()),
        ("DOCFLOW_NOTIFY_RETRY_BASE_SECS", "1".to_string()),
        ("DOCFLOW_NOTIFY_RETRY_MAX_SECS", "2".to_string()),
        ("DOCFLOW_SMTP_TIMEOUT_SECS", "2".to_string()),
        ("DOCFLOW_NOTIFY_LEASE_SECS", "4".to_string()),
    ];
    if let Some(s) = sink {
        v.push(("DOCFLOW_SMTP_URL", s.url()));
    }
    for (k, x) in extra {
        v.retain(|(key, _)| key != k);
        v.push((k, x.to_string()));
    }
    v
}

/// A fresh database and the real binary on it.
fn serve(b: Backend, sink: Option<&SmtpSink>, extra: &[(&'static str, &str)]) -> TestServer {
    let db = TestDb::new(b);
    let data = db.dir.path().join("data");
    TestServer::spawn(db, data, &env(sink, extra))
}

fn incoming(subject: &str, urgency: &str) -> Value {
    json!({
        "kind": "incoming", "type_code": "QĐ", "subject": subject,
        "number_symbol": "12/QĐ-UBND", "issue_date": "2026-11-20", "issue_place": "Hà Nội",
        "issuer": "Ủy ban nhân dân tỉnh Hà Giang", "signer_name": "Nguyễn Văn A",
        "signer_position": "Chủ tịch", "recipients": ["Sở Lao động - Thương binh và Xã hội"],
        "urgency": urgency, "confidentiality": "normal", "handling_deadline": "2026-12-05",
        "received_channel": "national_platform", "page_count": 1, "notes": ""
    })
}

/// A unit with two clerks; returns (clerk A id, clerk A token, clerk B token).
fn office(srv: &TestServer) -> (String, String, String) {
    let unit = srv.create_unit("VP", "Văn phòng Sở", None);
    let a = srv.create_user("van.thu", "clerk-password-1", Some(&unit), &["clerk"]);
    srv.create_user("van.thu2", "clerk-password-2", Some(&unit), &["clerk"]);
    (
        a,
        srv.login("van.thu", "clerk-password-1"),
        srv.login("van.thu2", "clerk-password-2"),
    )
}

fn outbox(srv: &TestServer, query: &str) -> Vec<Value> {
    let r = srv.get(
        &format!("/api/v1/notifications?limit=500{query}"),
        Some(&srv.admin_token),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.json.as_array().expect("array").clone()
}

/// Writes a notification the way the workflow will: inside a write transaction.
fn enqueue(conn: &mut docflow::db::DbConn, n: NewNotification) {
    docflow::db::write_tx(conn, |c| docflow::notify::enqueue(c, &n)).expect("enqueue");
}

fn task(kind: NotificationKind, to: &str, doc: &str, comment: &str) -> NewNotification {
    NewNotification {
        kind,
        recipient_id: to.to_string(),
        document_id: Some(doc.to_string()),
        task_id: Some(uuid::Uuid::new_v4().to_string()),
        actor_id: None,
        comment: Some(comment.to_string()),
        deadline: None,
    }
}

fn rows_in_db(conn: &mut docflow::db::DbConn) -> Vec<(String, String, Option<String>)> {
    notifications::table
        .select((
            notifications::id,
            notifications::state,
            notifications::message_id,
        ))
        .load(conn)
        .expect("rows")
}

fn comment_of(m: &Received) -> String {
    let text = m.text.clone().unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("Ý kiến: "))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn returned_paper_is_mailed_to_its_creator_in_vietnamese(b: Backend) {
    let sink = SmtpSink::start();
    let srv = serve(b, Some(&sink), &[]);
    let (_, clerk_a, clerk_b) = office(&srv);
    let doc = srv.create_document(
        &clerk_a,
        &incoming("Quyết định phê duyệt kế hoạch năm 2027", "normal"),
        fixture("valid-minimal.pdf"),
    );
    let id = doc["id"].as_str().unwrap();
    let reason = "Gửi nhầm đơn vị, đề nghị chuyển Sở Y tế";
    let r = srv.post(
        &format!("/api/v1/documents/{id}/return"),
        Some(&clerk_b),
        &json!({ "reason": reason }),
    );
    assert_eq!(r.status, 200, "{}", r.text);

    let msgs = sink.wait_for(1, Duration::from_secs(30));
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m.rcpt_tos, vec!["van.thu@example.gov.vn"]);
    assert_eq!(m.mail_from, "docflow@so-ldtbxh.gov.vn");
    assert_eq!(
        m.subject,
        "[docflow] Văn bản bị trả lại: Quyết định 12/QĐ-UBND — Quyết định phê duyệt kế hoạch năm 2027"
    );
    assert_eq!(m.to, "Nguyễn Văn Đức <van.thu@example.gov.vn>");
    assert_eq!(m.from, FROM);
    // On the wire the headers are ASCII: subject and names as RFC 2047 encoded words.
    assert!(m.raw_headers.is_ascii(), "{}", m.raw_headers);
    let subject_line = m
        .raw_headers
        .lines()
        .find(|l| l.starts_with("Subject: "))
        .expect("Subject header");
    assert!(
        subject_line.to_ascii_lowercase().contains("=?utf-8?"),
        "{subject_line}"
    );
    assert!(m.raw_headers.contains("MIME-Version: 1.0"));
    assert_eq!(m.content_type, "multipart/alternative");
    let text = m.text.as_deref().expect("text part");
    for want in [
        "Kính gửi Nguyễn Văn Đức,",
        "Văn bản sau đã bị trả lại.",
        "Số, ký hiệu: 12/QĐ-UBND",
        "Độ khẩn: Thường",
        "Hạn xử lý: 05/12/2026",
        &format!("Ý kiến: {reason}"),
        &format!("Xem và xử lý: {PUBLIC_URL}/documents/{id}"),
    ] {
        assert!(text.contains(want), "text lacks {want:?}:\n{text}");
    }
    let html = m.html.as_deref().expect("html part");
    assert!(
        html.contains(&format!("href=\"{PUBLIC_URL}/documents/{id}\"")),
        "{html}"
    );
    assert!(html.contains("Gửi nhầm đơn vị"), "{html}");

    // The outbox row: sent, with the Message-ID the server received.
    let rows = outbox(&srv, "");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["state"], "sent");
    assert_eq!(row["kind"], "returned");
    assert_eq!(row["attempts"], 1);
    assert_eq!(row["message_id"], m.message_id.as_str());
    assert_eq!(
        m.message_id,
        format!("<{}@so-ldtbxh.gov.vn>", row["id"].as_str().unwrap())
    );

    // A refused action writes no notification.
    let again = srv.post(
        &format!("/api/v1/documents/{id}/return"),
        Some(&clerk_b),
        &json!({ "reason": reason }),
    );
    again.assert_problem(409, "not_returnable");
    assert_eq!(outbox(&srv, "").len(), 1);
    // The clock is the system's: setting it is refused.
    srv.send(
        "PUT",
        "/api/v1/notifications/clock",
        Some(&srv.admin_token),
        Some(&json!({"now": "2026-12-01T01:00:00"})),
    )
    .assert_problem(409, "clock_not_manual");
}

fn smtp_down_then_up_delivers_everything_once(b: Backend) {
    let mut sink = SmtpSink::start();
    sink.down();
    let srv = serve(b, Some(&sink), &[("DOCFLOW_NOTIFY_MAX_ATTEMPTS", "100")]);
    let (clerk_id, clerk, _) = office(&srv);
    let doc = srv.create_document(
        &clerk,
        &incoming("Công văn về việc kiểm tra", "normal"),
        fixture("valid-minimal.pdf"),
    );
    let doc_id = doc["id"].as_str().unwrap();
    let mut conn = srv.db.connect();
    let total = 30;
    for i in 0..total {
        enqueue(
            &mut conn,
            task(
                NotificationKind::TaskAssigned,
                &clerk_id,
                doc_id,
                &format!("việc số {i}"),
            ),
        );
    }
    // The server is down: every row is tried, fails and waits; nothing is marked sent.
    wait_until(
        "every row tried at least once",
        Duration::from_secs(30),
        || {
            let rows = outbox(&srv, "");
            rows.len() == total
                && rows
                    .iter()
                    .all(|r| r["attempts"].as_i64() >= Some(1) && r["last_error"].is_string())
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    let rows = outbox(&srv, "");
    assert!(rows.iter().all(|r| r["state"] == "pending"), "{rows:?}");
    assert!(rows.iter().any(|r| r["attempts"].as_i64() >= Some(2)));
    assert_eq!(sink.count(), 0);

    sink.up();
    let msgs = sink.wait_for(total, Duration::from_secs(60));
    wait_until("every row sent", Duration::from_secs(30), || {
        outbox(&srv, "&state=sent").len() == total
    });
    std::thread::sleep(Duration::from_secs(1));
    let msgs = if sink.count() != msgs.len() {
        sink.messages()
    } else {
        msgs
    };
    assert_eq!(msgs.len(), total, "each message exactly once");
    let comments: BTreeSet<String> = msgs.iter().map(comment_of).collect();
    assert_eq!(comments.len(), total);
    let ids: BTreeSet<&str> = msgs.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids.len(), total);
    assert!(msgs
        .iter()
        .all(|m| m.subject.starts_with("[docflow] Việc mới: Quyết định")));
}

fn killed_mid_batch_then_restarted_delivers_every_message(b: Backend) {
    // A slow SMTP server, so that the kill lands while messages are in flight: mostly before the
    // server has the message (slow RCPT: a sender that marked it sent too early is caught),
    // sometimes after it has it but before the 250 reply (a resend, with the same Message-ID).
    let sink = SmtpSink::start_with(&["--delay-ms", "20", "--after-ms", "5"]);
    let db = TestDb::new(b);
    let data = db.dir.path().join("data");
    let settings = env(
        Some(&sink),
        &[
            ("DOCFLOW_NOTIFY_BATCH_SIZE", "20"),
            ("DOCFLOW_NOTIFY_LEASE_SECS", "3"),
        ],
    );
    let mut first = TestServer::spawn(db.shared(), data.clone(), &settings);
    let (clerk_id, clerk, _) = office(&first);
    let doc = first.create_document(
        &clerk,
        &incoming("Kế hoạch kiểm tra năm 2027", "normal"),
        fixture("valid-minimal.pdf"),
    );
    let doc_id = doc["id"].as_str().unwrap().to_string();
    let mut conn = db.connect();
    let total = 120;
    for i in 0..total {
        enqueue(
            &mut conn,
            task(
                NotificationKind::TaskAssigned,
                &clerk_id,
                &doc_id,
                &format!("việc số {i}"),
            ),
        );
    }
    wait_until("some messages delivered", Duration::from_secs(60), || {
        sink.count() >= 30
    });
    first.kill();

    // Nothing is marked sent that the SMTP server did not accept.
    let received: BTreeSet<String> = sink.messages().into_iter().map(|m| m.message_id).collect();
    let rows = rows_in_db(&mut conn);
    let sent: Vec<_> = rows.iter().filter(|r| r.1 == "sent").collect();
    assert!(
        sent.len() < total,
        "the kill should land mid-batch ({} of {total} sent)",
        sent.len()
    );
    for (id, _, mid) in &sent {
        let mid = mid.as_deref().expect("a sent row has its Message-ID");
        assert!(
            received.contains(mid),
            "row {id} is marked sent but the server never got {mid}"
        );
    }

    // Restarted: every notification arrives.
    let second = TestServer::spawn(db.shared(), data, &settings);
    wait_until("every row sent", Duration::from_secs(90), || {
        rows_in_db(&mut conn).iter().all(|r| r.1 == "sent")
    });
    let msgs = sink.messages();
    let rows = rows_in_db(&mut conn);
    let row_ids: BTreeSet<String> = rows.iter().filter_map(|r| r.2.clone()).collect();
    let got_ids: BTreeSet<String> = msgs.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(row_ids.len(), total);
    assert_eq!(
        got_ids, row_ids,
        "every notification delivered, nothing else"
    );
    // A notification received twice is the same message resent: same Message-ID.
    let mut by_comment: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in &msgs {
        by_comment
            .entry(comment_of(m))
            .or_default()
            .insert(m.message_id.clone());
    }
    assert_eq!(by_comment.len(), total);
    for (comment, ids) in &by_comment {
        assert_eq!(ids.len(), 1, "{comment} arrived under several Message-IDs");
    }
    eprintln!(
        "{} messages received for {total} notifications ({} resent after the kill)",
        msgs.len(),
        msgs.len() - total
    );
    drop(second);
}

fn dead_letters_are_listed_and_retried_by_admins(b: Backend) {
    let mut sink = SmtpSink::start_with(&["--reject", "nobody"]);
    let srv = serve(b, Some(&sink), &[]);
    let (clerk_id, clerk, _) = office(&srv);
    let unit = srv.create_unit("PC", "Phòng Chính sách", None);
    let nobody = srv.create_user("nobody", "nobody-password-1", Some(&unit), &["official"]);
    let doc = srv.create_document(
        &clerk,
        &incoming("Thông báo lịch họp", "normal"),
        fixture("valid-minimal.pdf"),
    );
    let doc_id = doc["id"].as_str().unwrap();
    let mut conn = srv.db.connect();
    enqueue(
        &mut conn,
        task(NotificationKind::TaskAssigned, &nobody, doc_id, "lần một"),
    );
    enqueue(
        &mut conn,
        task(NotificationKind::TaskAssigned, &clerk_id, doc_id, "lần hai"),
    );
    sink.wait_for(1, Duration::from_secs(30));
    wait_until("the refused one is dead", Duration::from_secs(30), || {
        outbox(&srv, "&state=dead").len() == 1
    });
    let dead = outbox(&srv, "&state=dead");
    let dead = &dead[0];
    assert_eq!(dead["recipient_id"], nobody.as_str());
    assert!(
        dead["last_error"].as_str().unwrap().contains("550"),
        "{dead}"
    );
    assert_eq!(dead["attempts"], 1, "a permanent refusal is not retried");
    let dead_id = dead["id"].as_str().unwrap();
    let sent = outbox(&srv, "&state=sent");
    assert_eq!(sent.len(), 1);

    // Bad requests get clear answers.
    let official = srv.login("nobody", "nobody-password-1");
    srv.get("/api/v1/notifications?state=dead", Some(&official))
        .assert_problem(403, "forbidden");
    srv.get("/api/v1/notifications?state=lost", Some(&srv.admin_token))
        .assert_problem(422, "validation_failed");
    srv.get("/api/v1/notifications?limit=0", Some(&srv.admin_token))
        .assert_problem(422, "validation_failed");
    srv.get("/api/v1/notifications?colour=red", Some(&srv.admin_token))
        .assert_problem(400, "invalid_query");
    srv.post(
        &format!(
            "/api/v1/notifications/{}/retry",
            sent[0]["id"].as_str().unwrap()
        ),
        Some(&srv.admin_token),
        &json!({}),
    )
    .assert_problem(409, "notification_not_dead");
    srv.post(
        &format!("/api/v1/notifications/{}/retry", uuid::Uuid::new_v4()),
        Some(&srv.admin_token),
        &json!({}),
    )
    .assert_problem(404, "not_found");
    srv.post(
        &format!("/api/v1/notifications/{dead_id}/retry"),
        Some(&official),
        &json!({}),
    )
    .assert_problem(403, "forbidden");

    // The address is fixed on the server's side; the admin retries: it arrives, same Message-ID.
    sink.down();
    sink.options.clear();
    sink.up();
    let r = srv.post(
        &format!("/api/v1/notifications/{dead_id}/retry"),
        Some(&srv.admin_token),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["state"], "pending");
    assert_eq!(r.json["attempts"], 0);
    let msgs = sink.wait_for(2, Duration::from_secs(30));
    let m = msgs
        .iter()
        .find(|m| m.rcpt_tos == vec!["nobody@example.gov.vn"])
        .expect("the retried message");
    assert_eq!(m.message_id, dead["message_id"].as_str().unwrap());
    wait_until("the retried row is sent", Duration::from_secs(10), || {
        outbox(&srv, "&state=sent").len() == 2
    });
    docflow::audit::service::chain_all(&mut conn).unwrap();
    let actions: Vec<String> = audit_events::table
        .filter(audit_events::object_id.eq(dead_id))
        .select(audit_events::action)
        .load(&mut conn)
        .unwrap();
    assert_eq!(actions, vec!["notification.retried"]);
}

fn transient_failures_end_as_dead_letters_after_the_limit(b: Backend) {
    let mut sink = SmtpSink::start();
    sink.down();
    let srv = serve(b, Some(&sink), &[("DOCFLOW_NOTIFY_MAX_ATTEMPTS", "2")]);
    let (clerk_id, clerk, _) = office(&srv);
    let doc = srv.create_document(
        &clerk,
        &incoming("Giấy mời họp", "normal"),
        fixture("valid-minimal.pdf"),
    );
    let mut conn = srv.db.connect();
    enqueue(
        &mut conn,
        task(
            NotificationKind::TaskAssigned,
            &clerk_id,
            doc["id"].as_str().unwrap(),
            "không tới được",
        ),
    );
    wait_until("dead after two attempts", Duration::from_secs(30), || {
        outbox(&srv, "&state=dead").len() == 1
    });
    let dead = &outbox(&srv, "&state=dead")[0];
    assert_eq!(dead["attempts"], 2);
    assert!(dead["last_error"].is_string());
}

fn preferences_digest_language_and_urgent_override(b: Backend) {
    let sink = SmtpSink::start();
    let srv = serve(b, Some(&sink), &[("DOCFLOW_NOTIFY_CLOCK", "manual")]);
    let (clerk_id, clerk, _) = office(&srv);
    let path = "/api/v1/me/notification-preferences";

    let r = srv.get(path, Some(&clerk));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["language"], "vi");
    assert_eq!(r.json["digest_hour"], 8);
    assert_eq!(r.json["kinds"]["returned"], "immediate");
    assert_eq!(r.json["kinds"].as_object().unwrap().len(), 10);

    let put = |body: Value| srv.send("PUT", path, Some(&clerk), Some(&body));
    put(json!({"language": "en", "digest_hour": 24, "kinds": {}}))
        .assert_problem(422, "validation_failed");
    put(json!({"language": "fr", "digest_hour": 9, "kinds": {}}))
        .assert_problem(400, "invalid_field");
    put(json!({"language": "en", "digest_hour": 9, "kinds": {"gossip": "off"}}))
        .assert_problem(400, "invalid_field");
    put(json!({"language": "en", "digest_hour": 9, "kinds": {"returned": "weekly"}}))
        .assert_problem(400, "invalid_field");
    let r = put(json!({"language": "en", "digest_hour": 9,
        "kinds": {"returned": "digest", "task_assigned": "off"}}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["kinds"]["returned"], "digest");
    assert_eq!(r.json["kinds"]["task_assigned"], "off");
    assert_eq!(r.json["kinds"]["task_reminder"], "immediate");
    assert_eq!(srv.get(path, Some(&clerk)).json, r.json);

    let normal = srv.create_document(
        &clerk,
        &incoming("Báo cáo tình hình quý IV", "normal"),
        fixture("valid-minimal.pdf"),
    );
    let urgent = srv.create_document(
        &clerk,
        &incoming("Công điện về phòng chống bão", "urgent"),
        fixture("valid-minimal.pdf"),
    );
    let normal_id = normal["id"].as_str().unwrap();
    let urgent_id = urgent["id"].as_str().unwrap();
    let mut conn = srv.db.connect();
    // Off: nothing written. Digest: held. Urgent: at once whatever the choice.
    enqueue(
        &mut conn,
        task(NotificationKind::TaskAssigned, &clerk_id, normal_id, "tắt"),
    );
    enqueue(
        &mut conn,
        task(NotificationKind::Returned, &clerk_id, normal_id, "gom lại"),
    );
    enqueue(
        &mut conn,
        task(NotificationKind::TaskAssigned, &clerk_id, urgent_id, "khẩn"),
    );
    let msgs = sink.wait_for(1, Duration::from_secs(30));
    assert_eq!(
        msgs[0].subject,
        "[docflow] [URGENT] New task: Quyết định 12/QĐ-UBND — Công điện về phòng chống bão"
    );
    let text = msgs[0].text.as_deref().unwrap();
    assert!(text.contains("Dear Nguyễn Văn Đức,"), "{text}");
    assert!(text.contains("Urgency: Urgent"), "{text}");
    let held = outbox(&srv, "&state=held");
    assert_eq!(held.len(), 1);
    assert_eq!(outbox(&srv, "").len(), 2);

    // Before the digest hour nothing more goes out; after it, one digest.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sink.count(), 1);
    let due = held[0]["due_at"].as_str().unwrap();
    let due = chrono::NaiveDateTime::parse_from_str(due, "%Y-%m-%dT%H:%M:%S%.fZ").unwrap();
    use chrono::Timelike;
    assert_eq!((due.hour(), due.minute()), (2, 0), "09:00 in Hà Nội");
    srv.send(
        "PUT",
        "/api/v1/notifications/clock",
        Some(&clerk),
        Some(&json!({"now": "2026-12-01T01:00:00"})),
    )
    .assert_problem(403, "forbidden");
    let r = srv.send(
        "PUT",
        "/api/v1/notifications/clock",
        Some(&srv.admin_token),
        Some(&json!({"now": (due + chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%S").to_string()})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let msgs = sink.wait_for(2, Duration::from_secs(30));
    let digest = msgs
        .iter()
        .find(|m| m.subject.contains("Daily digest"))
        .expect("digest");
    assert_eq!(digest.subject, "[docflow] Daily digest (1)");
    let text = digest.text.as_deref().unwrap();
    assert!(
        text.contains("Document returned: Quyết định 12/QĐ-UBND — Báo cáo tình hình quý IV"),
        "{text}"
    );
    assert!(text.contains(&format!("{PUBLIC_URL}/tasks/")), "{text}");
    assert_eq!(outbox(&srv, "&state=digested").len(), 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sink.count(), 2, "one digest, once");
}

fn reminders_and_escalations_follow_the_clock(b: Backend) {
    let sink = SmtpSink::start();
    let srv = serve(b, Some(&sink), &[]);
    let (clerk_id, clerk, _) = office(&srv);
    let unit = srv.create_unit("LD", "Ban Giám đốc", None);
    let head = srv.create_user(
        "giam.doc",
        "director-password-1",
        Some(&unit),
        &["official"],
    );
    let doc = srv.create_document(
        &clerk,
        &incoming("Tờ trình phê duyệt dự toán", "normal"),
        fixture("valid-minimal.pdf"),
    );
    let deadline = chrono::NaiveDate::from_ymd_opt(2026, 12, 10)
        .unwrap()
        .and_hms_opt(3, 0, 0)
        .unwrap();
    let t = docflow::notify::schedule::OpenTask {
        task_id: uuid::Uuid::new_v4().to_string(),
        document_id: Some(doc["id"].as_str().unwrap().to_string()),
        assignee_ids: vec![clerk_id.clone()],
        unit_head_id: Some(head.clone()),
        assigned_by: Some(head.clone()),
        deadline,
    };
    let mut conn = srv.db.connect();
    let mut scan = |h: i64| {
        docflow::notify::service::scan_deadlines(
            &mut conn,
            deadline + chrono::Duration::hours(h),
            24,
            &docflow::workflow::calendar::Calendar::vietnam(),
            std::slice::from_ref(&t),
        )
        .expect("scan")
    };
    assert_eq!(scan(-30), 0, "too early");
    assert_eq!(scan(-20), 1, "reminder");
    assert_eq!(scan(-2), 0, "the reminder is sent once");
    assert_eq!(scan(1), 2, "overdue notice + escalation to the head");
    assert_eq!(scan(5), 0);
    assert_eq!(scan(25), 1, "escalated again the next day");
    assert_eq!(scan(26), 0);
    let msgs = sink.wait_for(4, Duration::from_secs(30));
    let subjects: BTreeMap<String, Vec<String>> =
        msgs.iter().fold(BTreeMap::new(), |mut acc, m| {
            acc.entry(m.rcpt_tos[0].clone())
                .or_default()
                .push(m.subject.split(':').next().unwrap().to_string());
            acc
        });
    let mut to_clerk = subjects["van.thu@example.gov.vn"].clone();
    to_clerk.sort();
    assert_eq!(
        to_clerk,
        vec!["[docflow] Quá hạn xử lý", "[docflow] Sắp đến hạn xử lý"]
    );
    assert_eq!(
        subjects["giam.doc@example.gov.vn"],
        vec!["[docflow] Việc quá hạn cần chỉ đạo"; 2]
    );
    let reminder = msgs
        .iter()
        .find(|m| m.subject.contains("Sắp đến hạn"))
        .unwrap();
    let text = reminder.text.as_deref().unwrap();
    assert!(text.contains("Hạn xử lý: 10/12/2026 10:00"), "{text}");
    assert!(
        text.contains(&format!("{PUBLIC_URL}/tasks/{}", t.task_id)),
        "{text}"
    );

    // The scheduler's scans remember what is written: a fresh process tries the notices due
    // (they exist: nothing new is written), the next scan tries none, a new escalation day
    // only that one; a task no longer open is forgotten.
    use docflow::notify::service::{scan_deadlines_with, KnownNotices, Scanned};
    let mut known = KnownNotices::default();
    let cal = docflow::workflow::calendar::Calendar::vietnam();
    let mut scan_with =
        |h: i64, tasks: &[docflow::notify::schedule::OpenTask], known: &mut KnownNotices| {
            scan_deadlines_with(
                &mut conn,
                deadline + chrono::Duration::hours(h),
                24,
                &cal,
                tasks,
                known,
            )
            .expect("scan")
        };
    let one = std::slice::from_ref(&t);
    assert_eq!(
        scan_with(27, one, &mut known),
        Scanned {
            written: 0,
            tried: 2
        }
    );
    assert_eq!(known.len(), 2);
    assert_eq!(
        scan_with(28, one, &mut known),
        Scanned {
            written: 0,
            tried: 0
        }
    );
    assert_eq!(
        scan_with(49, one, &mut known),
        Scanned {
            written: 1,
            tried: 1
        },
        "day 2's escalation"
    );
    assert_eq!(
        scan_with(50, &[], &mut known),
        Scanned {
            written: 0,
            tried: 0
        }
    );
    assert!(known.is_empty());
}

fn issued_document_is_attached(b: Backend) {
    let sink = SmtpSink::start();
    let srv = serve(b, Some(&sink), &[]);
    let (clerk_id, clerk, _) = office(&srv);
    let pdf = fixture("valid-two-pages.pdf");
    let doc = srv.create_document(
        &clerk,
        &incoming("Quyết định ban hành quy chế", "normal"),
        pdf.clone(),
    );
    let mut conn = srv.db.connect();
    enqueue(
        &mut conn,
        NewNotification {
            kind: NotificationKind::DocumentIssued,
            recipient_id: clerk_id,
            document_id: Some(doc["id"].as_str().unwrap().to_string()),
            task_id: None,
            actor_id: None,
            comment: None,
            deadline: None,
        },
    );
    let msgs = sink.wait_for(1, Duration::from_secs(30));
    let m = &msgs[0];
    assert_eq!(m.content_type, "multipart/mixed");
    assert_eq!(m.attachments.len(), 1, "{m:?}");
    let a = &m.attachments[0];
    assert_eq!(a.filename.as_deref(), Some("van-ban.pdf"));
    assert_eq!(a.content_type, "application/pdf");
    assert_eq!(a.size, pdf.len());
    let sha = openssl::sha::sha256(&pdf)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    assert_eq!(a.sha256, sha);
    assert!(m.text.as_deref().unwrap().contains("bản PDF đính kèm"));
}

/// A classified document's subject and file never go into an email (the message says a
/// confidential document awaits), and a deadline at the end of a day shows as that day
/// ("03/12/2026"), not as the next day's midnight.
fn confidential_subjects_stay_home_and_day_end_deadlines_read_right(b: Backend) {
    let sink = SmtpSink::start();
    let srv = serve(b, Some(&sink), &[]);
    let (clerk_id, clerk, _) = office(&srv);
    let secret = "Kế hoạch di dời trụ sở bí mật";
    let mut meta = incoming(secret, "normal");
    meta["confidentiality"] = json!("confidential");
    let doc = srv.create_document(&clerk, &meta, fixture("valid-two-pages.pdf"));
    let doc_id = doc["id"].as_str().unwrap().to_string();
    let plain = srv.create_document(
        &clerk,
        &incoming("Báo cáo tháng", "normal"),
        fixture("valid-minimal.pdf"),
    );
    // The end of 3 December 2026 in Vietnam: 4 December 00:00 UTC+7.
    let end_of_day = chrono::NaiveDate::from_ymd_opt(2026, 12, 3)
        .unwrap()
        .and_hms_opt(17, 0, 0)
        .unwrap();
    let mut conn = srv.db.connect();
    let mut assigned = task(NotificationKind::TaskAssigned, &clerk_id, &doc_id, "");
    assigned.deadline = Some(end_of_day);
    enqueue(&mut conn, assigned);
    enqueue(
        &mut conn,
        NewNotification {
            kind: NotificationKind::DocumentIssued,
            recipient_id: clerk_id.clone(),
            document_id: Some(doc_id.clone()),
            task_id: None,
            actor_id: None,
            comment: None,
            deadline: None,
        },
    );
    let mut timed = task(
        NotificationKind::TaskAssigned,
        &clerk_id,
        plain["id"].as_str().unwrap(),
        "",
    );
    timed.deadline = Some(end_of_day - chrono::Duration::hours(7));
    enqueue(&mut conn, timed);
    let msgs = sink.wait_for(3, Duration::from_secs(30));
    assert_eq!(msgs.len(), 3);
    for m in msgs.iter().filter(|m| !m.subject.contains("Báo cáo tháng")) {
        let everything = format!(
            "{}\n{}\n{}",
            m.subject,
            m.text.as_deref().unwrap_or(""),
            m.html.as_deref().unwrap_or("")
        );
        assert!(!everything.contains(secret), "{everything}");
        assert!(everything.contains("văn bản mật"), "{everything}");
        assert!(m.attachments.is_empty(), "{m:?}");
    }
    let text_of = |needle: &str| {
        msgs.iter()
            .find(|m| m.subject.contains(needle))
            .and_then(|m| m.text.clone())
            .unwrap_or_else(|| panic!("no message about {needle}"))
    };
    let day_end = text_of("Việc mới: Quyết định 12/QĐ-UBND — (văn bản mật");
    assert!(
        day_end
            .lines()
            .any(|l| l.trim_end() == "Hạn xử lý: 03/12/2026"),
        "{day_end}"
    );
    assert!(!day_end.contains("04/12/2026"), "{day_end}");
    let timed = text_of("Báo cáo tháng");
    assert!(timed.contains("Hạn xử lý: 03/12/2026 17:00"), "{timed}");
}

fn without_smtp_messages_become_eml_files_and_shutdown_is_clean(b: Backend) {
    let mut srv = serve(b, None, &[]);
    let (_, clerk_a, clerk_b) = office(&srv);
    let doc = srv.create_document(
        &clerk_a,
        &incoming("Kế hoạch tuyên truyền", "normal"),
        fixture("valid-minimal.pdf"),
    );
    let id = doc["id"].as_str().unwrap();
    let r = srv.post(
        &format!("/api/v1/documents/{id}/return"),
        Some(&clerk_b),
        &json!({"reason": "Sai địa chỉ"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let outbox_dir = srv.data_dir().join("outbox");
    wait_until("an .eml file", Duration::from_secs(30), || {
        std::fs::read_dir(&outbox_dir).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".eml"))
        })
    });
    let row = &outbox(&srv, "")[0];
    let file = outbox_dir.join(format!("{}.eml", row["id"].as_str().unwrap()));
    let raw = std::fs::read_to_string(&file).unwrap();
    assert!(
        raw.contains(&format!(
            "Message-ID: {}",
            row["message_id"].as_str().unwrap()
        )),
        "{raw}"
    );
    assert!(raw.contains("To: "), "{raw}");
    wait_until("the row is sent", Duration::from_secs(10), || {
        outbox(&srv, "&state=sent").len() == 1
    });
    assert!(srv.terminate(), "SIGTERM stops the server cleanly");
    let logs = srv.logs.lock().unwrap().join("\n");
    assert!(logs.contains("notification written as a file"), "{logs}");
    assert!(logs.contains("notification senders stopped"), "{logs}");
    assert!(logs.contains("docflow stopped"), "{logs}");
}

/// Issue 11, item 3: a name with a line break (stored before the API refused them) once made
/// the sender panic building the `To` header, the row was claimed again and again and no mail
/// went out for anyone. Now that row is a dead letter with the reason, and the one sender
/// goes on delivering the others.
fn a_name_that_breaks_headers_is_a_dead_letter_and_mail_goes_on(b: Backend) {
    use docflow::db::schema::users;
    let sink = SmtpSink::start();
    let srv = serve(b, Some(&sink), &[("DOCFLOW_NOTIFY_WORKERS", "1")]);
    let (clerk_id, clerk, _) = office(&srv);
    let unit = srv.create_unit("PC", "Phòng Chính sách", None);
    let broken = srv.create_user("bi.hong", "broken-password-1", Some(&unit), &["official"]);
    let mut conn = srv.db.connect();
    // Past the API's check: straight into the database.
    diesel::update(users::table.filter(users::id.eq(&broken)))
        .set(users::full_name.eq("Nguyễn Văn\r\nBcc: victim@example.com"))
        .execute(&mut conn)
        .unwrap();
    let doc = srv.create_document(
        &clerk,
        &incoming("Giấy mời họp", "normal"),
        fixture("valid-minimal.pdf"),
    );
    let doc_id = doc["id"].as_str().unwrap();
    enqueue(
        &mut conn,
        task(NotificationKind::TaskAssigned, &broken, doc_id, "tên hỏng"),
    );
    wait_until("the broken one is dead", Duration::from_secs(30), || {
        outbox(&srv, "&state=dead").len() == 1
    });
    let dead = &outbox(&srv, "&state=dead")[0];
    assert_eq!(dead["recipient_id"], broken.as_str());
    let reason = dead["last_error"].as_str().unwrap();
    assert!(reason.contains("control character"), "{dead}");
    // The same sender delivers the next one.
    enqueue(
        &mut conn,
        task(
            NotificationKind::TaskAssigned,
            &clerk_id,
            doc_id,
            "tên đúng",
        ),
    );
    let msgs = sink.wait_for(1, Duration::from_secs(30));
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].rcpt_tos, vec!["van.thu@example.gov.vn"]);
    assert_eq!(comment_of(&msgs[0]), "tên đúng");
    wait_until("the good one is sent", Duration::from_secs(10), || {
        outbox(&srv, "&state=sent").len() == 1
    });
    assert!(
        sink.messages()
            .iter()
            .all(|m| m.rcpt_tos != vec!["victim@example.com"]),
        "no header was injected"
    );
}

both_backends!(
    confidential_subjects_stay_home_and_day_end_deadlines_read_right,
    returned_paper_is_mailed_to_its_creator_in_vietnamese,
    smtp_down_then_up_delivers_everything_once,
    killed_mid_batch_then_restarted_delivers_every_message,
    dead_letters_are_listed_and_retried_by_admins,
    transient_failures_end_as_dead_letters_after_the_limit,
    preferences_digest_language_and_urgent_override,
    reminders_and_escalations_follow_the_clock,
    issued_document_is_attached,
    without_smtp_messages_become_eml_files_and_shutdown_is_clean,
    a_name_that_breaks_headers_is_a_dead_letter_and_mail_goes_on,
);

#[test]
fn a_bad_smtp_url_stops_the_server_with_one_line_naming_it() {
    let db = TestDb::new(Backend::Sqlite);
    for (url, says) in [
        ("http://mail.example.gov.vn", "scheme 'http'"),
        ("smtp://mail.example.gov.vn?tls=maybe", "tls=maybe"),
        ("smtp://user@mail.example.gov.vn", "needs a password"),
    ] {
        let out = std::process::Command::new(TestServer::binary())
            .arg("serve")
            .env("DATABASE_URL", &db.url)
            .env("DOCFLOW_DATA_DIR", db.dir.path().join("data"))
            .env("DOCFLOW_SMTP_URL", url)
            .env_remove("DOCFLOW_CONFIG")
            .output()
            .expect("run docflow");
        assert_eq!(out.status.code(), Some(2), "{url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains("DOCFLOW_SMTP_URL") && err.contains(says),
            "{url}: {err}"
        );
    }
}

/// A self-signed certificate for `localhost` (also its own CA): (cert, key) paths.
fn localhost_cert(dir: &std::path::Path) -> (String, String) {
    let cert = dir.join("smtp-cert.pem");
    let key = dir.join("smtp-key.pem");
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert.display().to_string(), key.display().to_string())
}

fn starttls_with_auth_and_implicit_tls(b: Backend) {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = localhost_cert(certs.path());
    for (mode, scheme) in [("starttls", "smtp"), ("implicit", "smtps")] {
        let sink = SmtpSink::start_with(&[
            "--tls",
            mode,
            "--cert",
            &cert,
            "--key",
            &key,
            "--auth",
            "docflow:sêcret",
        ]);
        // The password in the URL is percent-encoded UTF-8.
        let url = format!("{scheme}://docflow:s%C3%AAcret@localhost:{}", sink.port);
        let wrong = format!("{scheme}://docflow:wrong@localhost:{}", sink.port);
        for (smtp_url, good) in [(url, true), (wrong, false)] {
            let srv = serve(
                b,
                None,
                &[
                    ("DOCFLOW_SMTP_URL", &smtp_url),
                    ("DOCFLOW_SMTP_CA_FILE", &cert),
                ],
            );
            let (clerk_id, clerk, _) = office(&srv);
            let doc = srv.create_document(
                &clerk,
                &incoming("Thư mời dự hội nghị", "normal"),
                fixture("valid-minimal.pdf"),
            );
            let before = sink.count();
            let mut conn = srv.db.connect();
            enqueue(
                &mut conn,
                task(
                    NotificationKind::TaskAssigned,
                    &clerk_id,
                    doc["id"].as_str().unwrap(),
                    mode,
                ),
            );
            if good {
                let msgs = sink.wait_for(before + 1, Duration::from_secs(30));
                let m = msgs.last().unwrap();
                assert!(m.tls && m.authenticated, "{mode}: {m:?}");
                assert_eq!(m.rcpt_tos, vec!["van.thu@example.gov.vn"]);
                wait_until("sent", Duration::from_secs(10), || {
                    outbox(&srv, "&state=sent").len() == 1
                });
            } else {
                // A refused login: nothing is delivered, the row keeps the error and waits.
                wait_until("tried", Duration::from_secs(30), || {
                    outbox(&srv, "")[0]["last_error"].is_string()
                });
                let row = &outbox(&srv, "")[0];
                assert_ne!(row["state"], "sent", "{mode}: {row}");
                assert_eq!(sink.count(), before);
            }
        }
    }
}

both_backends!(starttls_with_auth_and_implicit_tls);

/// The admin account the first start creates (`accounts::service::bootstrap_admin`), as the
/// recipient of outbox rows in tests below the API.
fn first_start_admin(db: &TestDb, conn: &mut docflow::db::DbConn) -> String {
    use docflow::db::schema::users;
    docflow::accounts::service::bootstrap_admin(conn, &db.config()).expect("admin account");
    users::table
        .filter(users::username.eq("admin"))
        .select(users::id)
        .first(conn)
        .expect("admin id")
}

/// One outbox row of `kind` in `state`, due at `due_at`; returns its id.
fn outbox_row(
    conn: &mut docflow::db::DbConn,
    user: &str,
    kind: &str,
    state: &str,
    due_at: chrono::NaiveDateTime,
) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(notifications::table)
        .values((
            notifications::id.eq(&id),
            notifications::kind.eq(kind),
            notifications::recipient_id.eq(user),
            notifications::recipient_email.eq("nhung@so-ldtbxh.gov.vn"),
            notifications::language.eq("vi"),
            notifications::vars.eq("{}"),
            notifications::urgent.eq(false),
            notifications::state.eq(state),
            notifications::attempts.eq(0),
            notifications::due_at.eq(due_at),
            notifications::created_at.eq(due_at),
        ))
        .execute(conn)
        .expect("outbox row");
    id
}

/// The plan of the senders' first pass (people's notices only), as text.
fn people_claim_plan(conn: &mut docflow::db::DbConn, pg: bool) -> String {
    #[derive(QueryableByName)]
    struct PgLine {
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
        line: String,
    }
    #[derive(QueryableByName)]
    struct SqliteLine {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }
    // As `db::claim_notifications` asks it (SQLite: naming the index, as it does).
    let select = format!(
        "SELECT id FROM notifications {} WHERE state = 'pending' AND {} \
         AND due_at <= '2100-01-01 00:00:00' ORDER BY due_at LIMIT 50",
        if pg {
            ""
        } else {
            "INDEXED BY notifications_people_due_idx"
        },
        docflow::db::PEOPLE_KINDS_SQL
    );
    if pg {
        diesel::sql_query(format!("EXPLAIN {select}"))
            .load::<PgLine>(conn)
            .expect("explain")
            .into_iter()
            .map(|l| l.line)
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        diesel::sql_query(format!("EXPLAIN QUERY PLAN {select}"))
            .load::<SqliteLine>(conn)
            .expect("explain")
            .into_iter()
            .map(|l| l.detail)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The senders claim what a person did before what the clock wrote: behind 3,000 reminders,
/// overdue notices, escalations and digests that fell due hours earlier, the notices of a
/// document signed and a task assigned a moment ago are claimed first, through an index that
/// holds people's pending notices only (not by walking the backlog); then the backlog, oldest
/// first, every row once; rows not yet due, sent or dead never.
fn people_are_claimed_before_a_backlog_of_reminders(b: Backend) {
    let db = TestDb::new(b);
    let mut conn = db.connect();
    docflow::db::migrate(&mut conn).expect("migrate");
    let user = first_start_admin(&db, &mut conn);
    let now = docflow::db::now();
    let clock_kinds = ["task_reminder", "task_overdue", "task_escalated", "digest"];
    let ago = |secs: i64| now - chrono::Duration::seconds(secs);
    let (backlog, [signed, assigned, later, sent, dead]) = docflow::db::write_tx(&mut conn, |c| {
        let backlog: Vec<String> = (0..3000i64)
            .map(|i| {
                outbox_row(
                    c,
                    &user,
                    clock_kinds[i as usize % 4],
                    "pending",
                    ago(3 * 3600 - i),
                )
            })
            .collect();
        let others = [
            ("document_signed", "pending", ago(2)),
            ("task_assigned", "pending", ago(1)),
            // Never claimed: not yet due (a retry's next attempt), already sent, given up.
            ("returned", "pending", ago(-3600)),
            ("task_assigned", "sent", ago(5 * 3600)),
            ("rejected", "dead", ago(5 * 3600)),
        ]
        .map(|(kind, state, due)| outbox_row(c, &user, kind, state, due));
        Ok::<_, diesel::result::Error>((backlog, others))
    })
    .expect("outbox rows");
    let pg = b == Backend::Postgres;
    use diesel::connection::SimpleConnection;
    conn.batch_execute(if pg {
        "ANALYZE notifications"
    } else {
        "ANALYZE"
    })
    .expect("analyze");
    let plan = people_claim_plan(&mut conn, pg);
    assert!(
        plan.contains("notifications_people_due_idx"),
        "people's notices are found through their own index, not by walking the backlog:\n{plan}"
    );

    let lease = now + chrono::Duration::minutes(5);
    let mut claim = |limit: i64| -> Vec<String> {
        docflow::db::write_tx(&mut conn, |c| {
            docflow::db::claim_notifications(c, now, lease, limit, "so-ldtbxh.gov.vn")
        })
        .expect("claim")
    };
    // Within one claim the rows come back in no particular order (UPDATE … RETURNING).
    let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<String>>();
    let of = |v: &[&String]| {
        v.iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<String>>()
    };
    assert_eq!(
        claim(1),
        vec![signed.clone()],
        "the older of the two people's notices first"
    );
    assert_eq!(
        set(claim(3)),
        of(&[&assigned, &backlog[0], &backlog[1]]),
        "the other person's notice, then the backlog's oldest"
    );
    let rest = claim(10_000);
    assert_eq!(rest.len(), backlog.len() - 2, "each row once");
    assert_eq!(
        set(rest.clone()),
        set(backlog[2..].to_vec()),
        "the rest of the backlog"
    );
    assert!(claim(10_000).is_empty(), "everything due is leased");
    for never in [&later, &sent, &dead] {
        assert!(!rest.contains(never));
    }
}

both_backends!(people_are_claimed_before_a_backlog_of_reminders);

/// The deadline scan asks, for every due notice, whether its key is already in the outbox. A
/// fresh office's outbox is empty, and its first scan may then write tens of thousands of
/// notices: the question must stay an index lookup as the table grows, not a plan that the
/// connection cached while the table was empty (PostgreSQL's generic plan, a walk of every
/// row: seen reading 180 million rows in a 40 s scan). Counted by PostgreSQL's own statistics
/// of rows read by sequential scans.
fn the_outbox_key_check_stays_an_index_lookup_as_the_outbox_grows(b: Backend) {
    let db = TestDb::new(b);
    let mut conn = db.connect();
    docflow::db::migrate(&mut conn).expect("migrate");
    use diesel::connection::SimpleConnection;
    if b == Backend::Postgres {
        // As `docflow dev seed` and a restored backup leave it: analysed while empty.
        conn.batch_execute("ANALYZE notifications")
            .expect("analyze");
    }
    let user = first_start_admin(&db, &mut conn);
    // The connection asks while the outbox is empty (long enough for a generic plan)…
    for i in 0..20 {
        assert!(!docflow::notify::queries::dedupe_key_exists(&mut conn, &format!("k{i}")).unwrap());
    }
    // …the outbox grows…
    let now = docflow::db::now();
    docflow::db::write_tx(&mut conn, |c| {
        for i in 0..20_000 {
            diesel::insert_into(notifications::table)
                .values((
                    notifications::id.eq(uuid::Uuid::new_v4().to_string()),
                    notifications::kind.eq("task_reminder"),
                    notifications::recipient_id.eq(&user),
                    notifications::recipient_email.eq("nhung@so-ldtbxh.gov.vn"),
                    notifications::language.eq("vi"),
                    notifications::vars.eq("{}"),
                    notifications::urgent.eq(false),
                    notifications::state.eq("sent"),
                    notifications::attempts.eq(1),
                    notifications::due_at.eq(now),
                    notifications::created_at.eq(now),
                    notifications::dedupe_key.eq(format!("task:{i}")),
                ))
                .execute(c)?;
        }
        Ok::<_, diesel::result::Error>(())
    })
    .expect("rows");
    let pg = b == Backend::Postgres;
    let before = if pg {
        crate::common::pg_rows_read(&mut conn, "notifications").0
    } else {
        0
    };
    // …and the same connection asks again, for keys present and absent.
    for i in 0..20 {
        let present =
            docflow::notify::queries::dedupe_key_exists(&mut conn, &format!("task:{i}")).unwrap();
        let absent =
            docflow::notify::queries::dedupe_key_exists(&mut conn, &format!("nope:{i}")).unwrap();
        assert!(present && !absent, "{i}");
    }
    if pg {
        let read = crate::common::pg_rows_read(&mut conn, "notifications").0 - before;
        assert!(
            read < 1_000,
            "40 key checks read {read} rows by sequential scans: the check walks the outbox"
        );
    }
}

both_backends!(the_outbox_key_check_stays_an_index_lookup_as_the_outbox_grows);
