//! Notification benchmarks (`cargo bench --bench notify`):
//! - `enqueue/in_open_transaction`: the cost an action pays to write one notification inside
//!   its transaction (recipient, preferences and document looked up, row inserted);
//! - `enqueue/own_transaction`: the same with a transaction (and commit) of its own;
//! - `deliver/1000_messages`: outbox → SMTP throughput: 1000 due rows sent by the real senders
//!   (2 workers) to an SMTP sink on loopback, until every row is marked sent. The sink
//!   acknowledges TCP segments at once (`TCP_QUICKACK`).
//! - `deliver_delayed_ack/200_messages`: the same against a sink with the kernel's default delayed
//!   ACKs. lettre writes a message's final `.` in a segment of its own and cannot turn Nagle off,
//!   so each message then waits for the server's delayed ACK (~40 ms on Linux): this bounds one
//!   SMTP connection at ~25 messages/s against such a server, whatever docflow does.
//!
//! SQLite by default; set `TEST_DATABASE_URL=postgres://…` to run on PostgreSQL as well.
//! The sink is a minimal SMTP responder in this file (it accepts and counts; it does not parse),
//! so the figure measures docflow, not the sink.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use diesel::prelude::*;
use docflow::config::Config;
use docflow::db::schema::notifications;
use docflow::notify::{NewNotification, NotificationKind};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Asks the kernel to acknowledge the next segments at once (re-armed before every read).
fn quickack(stream: &std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a c_int option value of the right size.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Accepts SMTP on loopback, answers every command, counts messages.
fn smtp_sink(ack_at_once: bool) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let c = c.clone();
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut w = stream.try_clone().expect("clone");
                let raw = stream.try_clone().expect("clone");
                let mut r = BufReader::new(stream);
                let _ = w.write_all(b"220 sink ESMTP\r\n");
                let mut line = String::new();
                let mut in_data = false;
                loop {
                    line.clear();
                    if ack_at_once && r.buffer().is_empty() {
                        quickack(&raw);
                    }
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if in_data {
                        if line == ".\r\n" {
                            in_data = false;
                            c.fetch_add(1, Ordering::SeqCst);
                            let _ = w.write_all(b"250 2.0.0 queued\r\n");
                        }
                        continue;
                    }
                    let cmd = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match cmd.as_str() {
                        "EHLO" => b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            in_data = true;
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            let _ = w.write_all(b"221 bye\r\n");
                            break;
                        }
                        _ => b"250 OK\r\n",
                    };
                    if w.write_all(reply).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, count)
}

struct Fixture {
    _dir: tempfile::TempDir,
    cfg: Config,
    pool: docflow::db::DbPool,
    user: String,
    doc: String,
    _pg: Option<(String, String)>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self._pg {
            use diesel::connection::SimpleConnection;
            if let Ok(mut c) = diesel::PgConnection::establish(admin) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

fn fixture(pg: bool, smtp_port: u16) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut pg_names = None;
    let database_url = if pg {
        use diesel::connection::SimpleConnection;
        let admin = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
        let name = format!("docflow_bench_{}", uuid::Uuid::new_v4().simple());
        let mut c = diesel::PgConnection::establish(&admin).expect("connect");
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        let (base, _) = admin.rsplit_once('/').expect("url with a database");
        pg_names = Some((admin.clone(), name.clone()));
        format!("{base}/{name}")
    } else {
        format!("sqlite://{}", dir.path().join("bench.db").display())
    };
    let cfg = Config {
        database_url,
        data_dir: dir.path().join("data"),
        admin_password: "bench-admin-password".into(),
        smtp_url: format!("smtp://127.0.0.1:{smtp_port}?tls=none"),
        smtp_from: "docflow@so-ldtbxh.gov.vn".into(),
        notify_workers: 2,
        notify_batch_size: 100,
        notify_rate: 0,
        notify_poll_ms: 10,
        ..Config::default()
    };
    let state = docflow::startup::prepare(cfg.clone()).expect("prepare");
    let pool = state.pool.clone();
    let mut conn = pool.get().expect("conn");
    // A user and a document to refer to, written straight into the tables.
    use docflow::db::schema::{documents, units, users};
    let now = docflow::db::now();
    let unit = uuid::Uuid::new_v4().to_string();
    let user = uuid::Uuid::new_v4().to_string();
    let doc = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(units::table)
        .values((
            units::id.eq(&unit),
            units::code.eq("VP"),
            units::name.eq("Văn phòng Sở"),
            units::active.eq(true),
            units::created_at.eq(now),
            units::updated_at.eq(now),
        ))
        .execute(&mut **conn)
        .expect("unit");
    diesel::insert_into(users::table)
        .values((
            users::id.eq(&user),
            users::username.eq("chuyen.vien"),
            users::password_hash.eq("x"),
            users::full_name.eq("Nguyễn Thị Hồng Nhung"),
            users::position_title.eq("Chuyên viên"),
            users::email.eq("nhung@so-ldtbxh.gov.vn"),
            users::unit_id.eq(&unit),
            users::active.eq(true),
            users::created_at.eq(now),
            users::updated_at.eq(now),
        ))
        .execute(&mut **conn)
        .expect("user");
    diesel::insert_into(documents::table)
        .values((
            documents::id.eq(&doc),
            documents::kind.eq("internal"),
            documents::status.eq("draft"),
            documents::unit_id.eq(&unit),
            documents::created_by.eq(&user),
            documents::type_code.eq("TTr"),
            documents::subject.eq("Tờ trình phê duyệt dự toán kinh phí năm 2027"),
            documents::subject_search.eq("to trinh phe duyet du toan kinh phi nam 2027"),
            documents::recipients.eq("[]"),
            documents::urgency.eq("normal"),
            documents::confidentiality.eq("normal"),
            documents::notes.eq(""),
            documents::created_at.eq(now),
            documents::updated_at.eq(now),
        ))
        .execute(&mut **conn)
        .expect("document");
    Fixture {
        _dir: dir,
        cfg,
        pool,
        user,
        doc,
        _pg: pg_names,
    }
}

fn notification(f: &Fixture) -> NewNotification {
    NewNotification {
        kind: NotificationKind::TaskAssigned,
        recipient_id: f.user.clone(),
        document_id: Some(f.doc.clone()),
        task_id: Some(uuid::Uuid::new_v4().to_string()),
        actor_id: Some(f.user.clone()),
        comment: Some("Đề nghị xem xét, cho ý kiến trước ngày 05/12".into()),
        deadline: Some(docflow::db::now() + chrono::Duration::days(3)),
    }
}

fn backends() -> Vec<(&'static str, bool)> {
    let mut v = vec![("sqlite", false)];
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        v.push(("postgres", true));
    }
    v
}

fn enqueue(c: &mut Criterion) {
    let (port, _) = smtp_sink(true);
    let mut g = c.benchmark_group("enqueue");
    for (name, pg) in backends() {
        let f = fixture(pg, port);
        let mut conn = f.pool.get().expect("conn");
        let n = notification(&f);
        g.bench_function(BenchmarkId::new("in_open_transaction", name), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                docflow::db::write_tx(&mut conn, |c| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        docflow::notify::enqueue(c, &n)?;
                    }
                    spent = start.elapsed();
                    Ok::<_, docflow::error::ApiError>(())
                })
                .expect("enqueue");
                spent
            })
        });
        g.bench_function(BenchmarkId::new("own_transaction", name), |b| {
            b.iter(|| {
                docflow::db::write_tx(&mut conn, |c| docflow::notify::enqueue(c, &n))
                    .expect("enqueue")
            })
        });
    }
    g.finish();
}

/// Sends `batch` due rows with freshly started senders; the time until all are marked sent.
fn deliver_once(f: &Fixture, received: &AtomicUsize, batch: u64) -> Duration {
    let n = notification(f);
    let mut conn = f.pool.get().expect("conn");
    docflow::db::write_tx(&mut conn, |c| {
        for _ in 0..batch {
            docflow::notify::enqueue(c, &n)?;
        }
        Ok::<_, docflow::error::ApiError>(())
    })
    .expect("enqueue");
    let before = received.load(Ordering::SeqCst);
    let start = Instant::now();
    let senders = docflow::notify::worker::start(
        f.pool.clone(),
        Arc::new(f.cfg.clone()),
        Arc::new(docflow::notify::AppClock::System),
        docflow::storage::BlobStore::from_config(&f.cfg).expect("file store"),
    )
    .expect("start senders");
    loop {
        let pending: i64 = notifications::table
            .filter(notifications::state.ne("sent"))
            .count()
            .get_result(&mut **conn)
            .expect("count");
        if pending == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let spent = start.elapsed();
    senders.stop();
    assert!(received.load(Ordering::SeqCst) - before >= batch as usize);
    spent
}

fn deliver(c: &mut Criterion) {
    let (port, received) = smtp_sink(true);
    let batch = 1000u64;
    let mut g = c.benchmark_group("deliver");
    g.sample_size(10);
    g.throughput(Throughput::Elements(batch));
    for (name, pg) in backends() {
        let f = fixture(pg, port);
        g.bench_function(BenchmarkId::new("1000_messages", name), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| deliver_once(&f, &received, batch)).sum())
        });
    }
    g.finish();

    let (port, received) = smtp_sink(false);
    let batch = 200u64;
    let mut g = c.benchmark_group("deliver_delayed_ack");
    g.sample_size(10);
    g.throughput(Throughput::Elements(batch));
    let f = fixture(false, port);
    g.bench_function(BenchmarkId::new("200_messages", "sqlite"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| deliver_once(&f, &received, batch)).sum())
    });
    g.finish();
}

criterion_group!(benches, enqueue, deliver);
criterion_main!(benches);
