//! Outages survived without a restart, by the real `docflow serve` process: the SMTP server down
//! (and the timestamp authority unreachable the whole time) leaves the server healthy and
//! serving, and the queued emails go out once SMTP is back; on PostgreSQL, the database cut off
//! (a TCP forwarder between server and database, cut and restored) makes `/readyz` fail within a
//! second and requests answer 503 `service_unavailable` within `db_timeout_secs`, the senders
//! pause, and when the database is back everything resumes — readiness, requests, the queued
//! emails — in the same process. (SQLite is a file of the server's own: it has no outage of this
//! kind; its half runs the SMTP and TSA part.)

use crate::common::smtp::SmtpSink;
use crate::common::tcp_proxy::TcpProxy;
use crate::common::{fixture, wait_until, Backend, TestDb, TestServer};
use docflow::notify::{NewNotification, NotificationKind};
use serde_json::json;
use std::time::{Duration, Instant};

/// Queues an email to `to` straight in the database (as an action's transaction would).
fn enqueue(db: &TestDb, to: &str, comment: &str) {
    let n = NewNotification {
        kind: NotificationKind::TaskAssigned,
        recipient_id: to.to_string(),
        document_id: None,
        task_id: Some(uuid::Uuid::new_v4().to_string()),
        actor_id: None,
        comment: Some(comment.to_string()),
        deadline: None,
    };
    let mut conn = db.connect();
    docflow::db::write_tx(&mut conn, |c| docflow::notify::enqueue(c, &n)).expect("enqueue");
}

/// `host:port` of a `postgres://user@host:port/db` URL.
fn pg_address(url: &str) -> std::net::SocketAddr {
    let after = url.split('@').nth(1).expect("user@host in the URL");
    let authority = after.split('/').next().expect("host:port");
    std::net::ToSocketAddrs::to_socket_addrs(authority)
        .expect("address")
        .next()
        .expect("address")
}

fn outages_are_survived(b: Backend) {
    let mut sink = SmtpSink::start();
    let db = TestDb::new(b);
    let dead_tsa = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let mut env = vec![
        ("DOCFLOW_SMTP_URL", sink.url()),
        ("DOCFLOW_NOTIFY_POLL_MS", "100".to_string()),
        ("DOCFLOW_NOTIFY_RETRY_BASE_SECS", "1".to_string()),
        ("DOCFLOW_NOTIFY_RETRY_MAX_SECS", "2".to_string()),
        ("DOCFLOW_SMTP_TIMEOUT_SECS", "2".to_string()),
        ("DOCFLOW_NOTIFY_LEASE_SECS", "4".to_string()),
        ("DOCFLOW_DB_TIMEOUT_SECS", "2".to_string()),
        ("DOCFLOW_TSA_URL", format!("http://{dead_tsa}/tsa")),
    ];
    let proxy = (b == Backend::Postgres).then(|| {
        let target = pg_address(&db.url);
        let p = TcpProxy::start(target);
        env.push((
            "DOCFLOW_DATABASE_URL",
            db.url
                .replace(&format!(":{}/", target.port()), &format!(":{}/", p.port)),
        ));
        p
    });
    let data = db.dir.path().join("data");
    let srv = TestServer::spawn(db.shared(), data, &env);
    let unit = srv.create_unit("VP", "Văn phòng Sở", None);
    let clerk_id = srv.create_user("van.thu", "clerk-password-1", Some(&unit), &["clerk"]);
    let clerk = srv.login("van.thu", "clerk-password-1");
    let incoming = |i: usize| {
        json!({"kind": "incoming", "type_code": "CV", "subject": format!("Công văn {i}"),
               "number_symbol": format!("{i}/UBND"), "issue_date": "2026-11-20",
               "issuer": "UBND tỉnh", "recipients": ["Văn phòng"]})
    };

    // SMTP down, TSA unreachable: healthy, serving; the emails wait.
    sink.down();
    for i in 0..3 {
        enqueue(&db, &clerk_id, &format!("trong lúc SMTP ngừng {i}"));
    }
    assert_eq!(srv.get("/healthz", None).status, 200);
    assert_eq!(srv.get("/readyz", None).status, 200);
    srv.create_document(&clerk, &incoming(1), fixture("valid-minimal.pdf"));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(srv.get("/readyz", None).status, 200);
    sink.up();
    wait_until(
        "the emails queued while SMTP was down",
        Duration::from_secs(30),
        || sink.count() >= 3,
    );
    assert_eq!(sink.count(), 3);

    let Some(proxy) = proxy else { return };
    // The database cut off.
    proxy.cut();
    let started = Instant::now();
    srv.get("/readyz", None)
        .assert_problem(503, "service_unavailable");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "/readyz took {:?} to fail",
        started.elapsed()
    );
    let started = Instant::now();
    srv.get("/api/v1/documents", Some(&clerk))
        .assert_problem(503, "service_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a request took {:?} to fail",
        started.elapsed()
    );
    for i in 0..2 {
        enqueue(&db, &clerk_id, &format!("trong lúc mất cơ sở dữ liệu {i}"));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(sink.count(), 3, "nothing can be sent without the database");
    assert_eq!(
        srv.get("/healthz", None).status,
        200,
        "the process itself is up"
    );

    // Back: the same process resumes everything.
    proxy.restore();
    wait_until("ready again", Duration::from_secs(15), || {
        srv.get("/readyz", None).status == 200
    });
    let list = srv.get("/api/v1/documents", Some(&clerk));
    assert_eq!(list.status, 200, "{}", list.text);
    srv.create_document(&clerk, &incoming(2), fixture("valid-minimal.pdf"));
    wait_until(
        "the emails queued while the database was away",
        Duration::from_secs(30),
        || sink.count() >= 5,
    );
    assert_eq!(sink.count(), 5);

    // The server ends every connection (a restart, an administrator, a failover): the pool
    // checks a connection only after a rest or a loss, so at most the first request after the
    // cut meets a dead one, and it answers 503 (retry), never 500; the next are served.
    let kill_connections = || {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Killed {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut c = db.connect();
        let k: Killed = diesel::sql_query(
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .get_result(&mut c)
        .expect("terminate the server's connections");
        assert!(k.n > 0, "the server holds connections");
    };
    assert_eq!(srv.get("/api/v1/documents", Some(&clerk)).status, 200);
    kill_connections();
    let first = srv.get("/api/v1/documents", Some(&clerk));
    if first.status != 200 {
        first.assert_problem(503, "service_unavailable");
    }
    for _ in 0..5 {
        let r = srv.get("/api/v1/documents", Some(&clerk));
        assert_eq!(r.status, 200, "{}", r.text);
    }
    // After a rest the pool pings before it hands a connection out: not even one failure.
    kill_connections();
    std::thread::sleep(Duration::from_millis(1200));
    let rested = srv.get("/api/v1/documents", Some(&clerk));
    assert_eq!(rested.status, 200, "{}", rested.text);

    // The database goes away after the SMTP server took a message and before the sender wrote
    // it down (the sink answers 250 1.5 s after it stored the message): the sender keeps the
    // mark and writes it when the database is back, before it claims anything, so the message
    // is not sent again when its 4 s lease has ended.
    sink.down();
    sink.options = vec!["--after-ms".into(), "1500".into()];
    sink.up();
    let before = sink.count();
    enqueue(&db, &clerk_id, "chấp nhận rồi mất cơ sở dữ liệu");
    wait_until("the SMTP server stores it", Duration::from_secs(30), || {
        sink.count() > before
    });
    proxy.cut();
    std::thread::sleep(Duration::from_millis(5500));
    proxy.restore();
    enqueue(&db, &clerk_id, "sau khi có lại cơ sở dữ liệu");
    wait_until("the next email", Duration::from_secs(30), || {
        sink.count() > before + 1
    });
    std::thread::sleep(Duration::from_millis(3000));
    assert_eq!(
        sink.count(),
        before + 2,
        "the email accepted before the cut is not sent again"
    );
    let logs = srv.logs.lock().unwrap().join("\n");
    assert!(
        logs.contains("notification sent but not recorded"),
        "the cut fell between acceptance and record"
    );

    let logs = srv.logs.lock().unwrap().join("\n");
    assert!(!logs.contains("panicked"), "{logs}");
}

both_backends!(outages_are_survived);
