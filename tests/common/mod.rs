//! Shared test helpers: a fresh database per test on each backend, the real server on a
//! free port, and a small HTTP client.
#![allow(dead_code)]

pub mod certomancer;
pub mod csc_v2;
pub mod fake_smartca;
pub mod moto;
pub mod pki;
pub mod pyhanko;
pub mod pyhanko_verify;
pub mod pyvenv;
pub mod smtp;
pub mod tcp_proxy;
pub mod testca;

use docflow::config::Config;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

/// Password of the `admin` account in every test server.
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once per backend: `both_backends!(name);` for `fn name(b: Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[test]
                fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite)
                }
                #[test]
                fn postgres() {
                    if $crate::common::postgres_available() {
                        super::$name($crate::common::Backend::Postgres)
                    }
                }
            }
        )+
    };
}

/// Whether the PostgreSQL half can run. When `DOCFLOW_REQUIRE_POSTGRES` is set (CI), a missing
/// `TEST_DATABASE_URL` fails the test instead of skipping it.
pub fn postgres_available() -> bool {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()) {
        return true;
    }
    if std::env::var("DOCFLOW_REQUIRE_POSTGRES").is_ok_and(|v| !v.is_empty() && v != "0") {
        panic!("DOCFLOW_REQUIRE_POSTGRES is set but TEST_DATABASE_URL is not: the PostgreSQL half cannot run");
    }
    eprintln!("SKIPPED: PostgreSQL half (set TEST_DATABASE_URL=postgres://… to run it)");
    false
}

/// A fresh, empty database that disappears with the value.
pub struct TestDb {
    pub backend: Backend,
    /// URL for `DATABASE_URL`.
    pub url: String,
    /// Folder for SQLite and data files.
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl TestDb {
    /// Creates the database (a temp SQLite file or a new PostgreSQL database).
    pub fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("docflow.db").display());
                TestDb {
                    backend,
                    url,
                    dir,
                    pg: None,
                }
            }
            Backend::Postgres => {
                let admin_url = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
                let name = format!("docflow_test_{}", uuid::Uuid::new_v4().simple());
                pg_admin(&admin_url, &format!("CREATE DATABASE {name}"));
                let url = replace_db_name(&admin_url, &name);
                TestDb {
                    backend,
                    url,
                    dir,
                    pg: Some((admin_url, name)),
                }
            }
        }
    }

    /// A configuration pointing at this database, tuned for tests.
    pub fn config(&self) -> Config {
        Config {
            bind: "127.0.0.1:0".into(),
            database_url: self.url.clone(),
            data_dir: self.dir.path().join("data"),
            admin_password: ADMIN_PASSWORD.into(),
            login_slowdown_ms: 0,
            db_pool_size: 4,
            ..Config::default()
        }
    }

    /// The same database, not owned: dropping the copy leaves the database alone. For a
    /// second server process on the same data.
    pub fn shared(&self) -> TestDb {
        TestDb {
            backend: self.backend,
            url: self.url.clone(),
            dir: tempfile::tempdir().expect("temp dir"),
            pg: None,
        }
    }

    /// A direct connection for tests that look under the API (tampering, schema checks).
    pub fn connect(&self) -> docflow::db::DbConn {
        docflow::db::connect(&self.config()).expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg {
            pg_admin(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

fn pg_admin(admin_url: &str, sql: &str) {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let mut c = diesel::PgConnection::establish(admin_url).expect("connect to TEST_DATABASE_URL");
    c.batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// `postgres://user@host:port/db?x` with the database name replaced.
fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_end = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..authority_end], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// The real server, in this process, on a free port.
pub struct TestServer {
    pub base: String,
    pub db: TestDb,
    pub admin_token: String,
    client: reqwest::blocking::Client,
    handle: Option<actix_web::dev::ServerHandle>,
    /// The `docflow` process, for servers started with [`TestServer::spawn`].
    child: Option<std::process::Child>,
    /// What the process wrote to standard error.
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl TestServer {
    /// Starts a server on a fresh database of `backend` and signs in as admin.
    pub fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {})
    }

    /// Like `start`, with the configuration adjusted first.
    pub fn start_with(backend: Backend, tune: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_on(TestDb::new(backend), tune)
    }

    /// Starts a server on an existing test database.
    pub fn start_on(db: TestDb, tune: impl FnOnce(&mut Config)) -> TestServer {
        let mut cfg = db.config();
        tune(&mut cfg);
        let state = docflow::startup::prepare(cfg).expect("prepare server");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                // As `docflow serve` does: the remote-signature poller and the audit chainer.
                docflow::startup::start_background(&state).expect("background");
                let server = docflow::http::server(state, listener).expect("server");
                tx.send(server.handle()).expect("send handle");
                let _ = server.await;
            })
        });
        let handle = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server started");
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let mut srv = TestServer {
            base: format!("http://{addr}"),
            db,
            admin_token: String::new(),
            client,
            handle: Some(handle),
            child: None,
            logs: Default::default(),
        };
        srv.admin_token = srv.login("admin", ADMIN_PASSWORD);
        srv
    }

    /// Starts the `docflow` binary as a separate OS process on `db`, sharing the data folder
    /// (file store) `data_dir`, with `pool_size` database connections.
    pub fn spawn_process(db: TestDb, data_dir: PathBuf, pool_size: u32) -> TestServer {
        Self::spawn(
            db,
            data_dir,
            &[("DOCFLOW_DB_POOL_SIZE", pool_size.to_string())],
        )
    }

    /// Starts the real `docflow` binary (`serve`, with its notification senders) on `db`, with
    /// the data folder `data_dir` and extra `DOCFLOW_*` settings; signs in as admin.
    pub fn spawn(db: TestDb, data_dir: PathBuf, env: &[(&str, String)]) -> TestServer {
        Self::spawn_binary(&Self::binary(), db, data_dir, env)
    }

    /// [`TestServer::spawn`] with another build of `docflow` (the load bench's baseline).
    pub fn spawn_binary(
        binary: &std::path::Path,
        db: TestDb,
        data_dir: PathBuf,
        env: &[(&str, String)],
    ) -> TestServer {
        use std::io::{BufRead, BufReader};
        let mut cmd = std::process::Command::new(binary);
        cmd.arg("serve")
            .env_remove("DOCFLOW_CONFIG")
            .env("DATABASE_URL", &db.url)
            .env("DOCFLOW_DATA_DIR", &data_dir)
            .env("DOCFLOW_BIND", "127.0.0.1:0")
            .env("DOCFLOW_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("DOCFLOW_LOGIN_SLOWDOWN_MS", "0")
            .env("DOCFLOW_DB_POOL_SIZE", "6")
            .env("DOCFLOW_LOG_FORMAT", "text")
            .env("NO_COLOR", "1")
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start docflow");
        let stderr = child.stderr.take().expect("stderr");
        let logs: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let (tx, rx) = mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("docflow is serving") {
                    let address = line
                        .split("address=")
                        .nth(1)
                        .and_then(|s| s.split_whitespace().next())
                        .map(str::to_string);
                    if let (Some(tx), Some(a)) = (tx.take(), address) {
                        let _ = tx.send(a);
                    }
                }
                sink.lock().expect("logs").push(line);
            }
        });
        let address = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "docflow did not start:\n{}",
                    logs.lock().expect("logs").join("\n")
                );
            }
        };
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let mut srv = TestServer {
            base: format!("http://{address}"),
            db,
            admin_token: String::new(),
            client,
            handle: None,
            child: Some(child),
            logs,
        };
        srv.admin_token = srv.login("admin", ADMIN_PASSWORD);
        srv
    }

    /// The spawned process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Kills the spawned process at once (SIGKILL): no graceful anything.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the spawned process with SIGTERM; true when it exited successfully.
    pub fn terminate(&mut self) -> bool {
        match self.child.take() {
            Some(mut c) => {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &c.id().to_string()])
                    .status();
                c.wait().map(|s| s.success()).unwrap_or(false)
            }
            None => false,
        }
    }

    /// Signs in and returns the token (panics on failure).
    pub fn login(&self, username: &str, password: &str) -> String {
        let r = self.post(
            "/api/v1/auth/login",
            None,
            &serde_json::json!({"username": username, "password": password}),
        );
        assert_eq!(r.status, 200, "login as {username}: {}", r.text);
        r.json["token"].as_str().expect("token").to_string()
    }

    /// Tries a login from the loopback address `from` (e.g. 127.0.0.2: another client address).
    pub fn login_from(&self, from: std::net::IpAddr, username: &str, password: &str) -> Resp {
        let client = reqwest::blocking::Client::builder()
            .local_address(from)
            .build()
            .expect("client");
        let r = client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .expect("request");
        Resp::read(r)
    }

    /// The route an action answers is built from what it wrote, not read back: for a first
    /// (not replayed) 200 it must be what reading the route now gives.
    pub fn assert_action_route_is_stored(&self, token: &str, resp: &Resp) {
        let fresh = resp.json["replayed"] == serde_json::json!(false);
        if resp.status != 200 || !fresh || !resp.json["route"].is_object() {
            return;
        }
        self.assert_route_is_stored(token, &resp.json["route"]);
    }

    /// A route answered by a write (start, recall, an action) equals a fresh read of it.
    pub fn assert_route_is_stored(&self, token: &str, route: &serde_json::Value) {
        let doc = route["document_id"].as_str().expect("document_id");
        let now = self.get(&format!("/api/v1/documents/{doc}/route"), Some(token));
        assert_eq!(now.status, 200, "{}", now.text);
        assert_eq!(
            route, &now.json,
            "the answered route differs from the stored one"
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request with an optional token and JSON body.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        Resp::read(req.send().expect("request"))
    }

    /// Sends raw bytes with a content type.
    pub fn send_raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Resp::read(req.send().expect("request"))
    }

    /// Sends a request with extra headers (Range, If-None-Match, …).
    pub fn get_with(&self, path: &str, token: Option<&str>, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Resp::read(req.send().expect("request"))
    }

    /// Sends a multipart form: an optional `metadata` JSON part and an optional `file` part.
    pub fn upload(
        &self,
        path: &str,
        token: Option<&str>,
        metadata: Option<&Value>,
        file: Option<(&str, &str, Vec<u8>)>,
    ) -> Resp {
        use reqwest::blocking::multipart::{Form, Part};
        let mut form = Form::new();
        if let Some(m) = metadata {
            form = form.part(
                "metadata",
                Part::text(m.to_string())
                    .mime_str("application/json")
                    .expect("mime"),
            );
        }
        if let Some((name, mime, bytes)) = file {
            form = form.part(
                "file",
                Part::bytes(bytes)
                    .file_name(name.to_string())
                    .mime_str(mime)
                    .expect("mime"),
            );
        }
        let mut req = self.client.post(self.url(path)).multipart(form);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Resp::read(req.send().expect("request"))
    }

    /// Creates a document from a PDF; asserts 201 and returns the document.
    pub fn create_document(&self, token: &str, metadata: &Value, pdf: Vec<u8>) -> Value {
        let r = self.upload(
            "/api/v1/documents",
            Some(token),
            Some(metadata),
            Some(("van-ban.pdf", "application/pdf", pdf)),
        );
        assert_eq!(r.status, 201, "create document: {}", r.text);
        r.json
    }

    /// Creates a register; returns its id.
    pub fn create_register(&self, token: &str, kind: &str, name: &str) -> String {
        let r = self.post(
            "/api/v1/registers",
            Some(token),
            &serde_json::json!({"kind": kind, "name": name}),
        );
        assert_eq!(r.status, 201, "create register: {}", r.text);
        r.json["id"].as_str().expect("id").to_string()
    }

    /// The data folder of this server (to share with a second one).
    pub fn data_dir(&self) -> PathBuf {
        self.db.dir.path().join("data")
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.send("GET", path, token, None)
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        self.send("POST", path, token, Some(body))
    }

    pub fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        self.send("PATCH", path, token, Some(body))
    }

    /// A unit `code` with a clerk `clerk.<code>` and an official `official.<code>` (lower
    /// case); returns (unit id, clerk token, official token).
    pub fn office(&self, code: &str) -> (String, String, String) {
        let unit = self.create_unit(code, &format!("Văn phòng {code}"), None);
        let clerk = format!("clerk.{}", code.to_lowercase());
        let official = format!("official.{}", code.to_lowercase());
        self.create_user(&clerk, "clerk-password-1", Some(&unit), &["clerk"]);
        self.create_user(&official, "official-password-1", Some(&unit), &["official"]);
        (
            unit,
            self.login(&clerk, "clerk-password-1"),
            self.login(&official, "official-password-1"),
        )
    }

    /// Creates a unit as admin; returns its id.
    pub fn create_unit(&self, code: &str, name: &str, parent: Option<&str>) -> String {
        let r = self.post(
            "/api/v1/units",
            Some(&self.admin_token),
            &serde_json::json!({"code": code, "name": name, "parent_id": parent}),
        );
        assert_eq!(r.status, 201, "create unit: {}", r.text);
        r.json["id"].as_str().expect("id").to_string()
    }

    /// Creates a user as admin; returns its id.
    pub fn create_user(
        &self,
        username: &str,
        password: &str,
        unit: Option<&str>,
        roles: &[&str],
    ) -> String {
        let r = self.post(
            "/api/v1/users",
            Some(&self.admin_token),
            &serde_json::json!({
                "username": username, "password": password, "full_name": "Nguyễn Văn Đức",
                "position_title": "Phó Giám đốc", "email": format!("{username}@example.gov.vn"),
                "unit_id": unit, "roles": roles
            }),
        );
        assert_eq!(r.status, 201, "create user: {}", r.text);
        r.json["id"].as_str().expect("id").to_string()
    }

    /// Path of the docflow binary built for the tests.
    pub fn binary() -> PathBuf {
        PathBuf::from(env!("CARGO_BIN_EXE_docflow"))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Stop accepting and close pooled connections before the database is dropped.
        if let Some(handle) = self.handle.clone() {
            let _ = std::thread::spawn(move || {
                actix_web::rt::System::new().block_on(handle.stop(false));
            })
            .join();
        }
        self.kill();
    }
}

/// A test PDF from tests/fixtures/pdf.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pdf")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A response read whole.
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
    pub bytes: Vec<u8>,
}

impl Resp {
    /// Reads a whole response.
    pub fn read(r: reqwest::blocking::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().map(|b| b.to_vec()).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            json,
            bytes,
        }
    }

    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `content-type` header.
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem+json answer with this status and code.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status; body: {}", self.text);
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "content type; body: {}",
            self.text
        );
        assert_eq!(self.json["code"], code, "code; body: {}", self.text);
        assert_eq!(
            self.json["status"], status,
            "status field; body: {}",
            self.text
        );
        assert!(
            self.json["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "detail; body: {}",
            self.text
        );
    }
}

/// Runs `f(i)` on `n` threads released together by a barrier; returns the answers in order.
pub fn race<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = std::sync::Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, f) = (&barrier, &f);
                s.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Polls `ok` every 100 ms until it holds; fails the test naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// PostgreSQL's counts of the rows of `table` read so far, `(by sequential scans, through its
/// indexes)`, with `conn`'s own counts flushed first (a backend reports them when idle, at
/// most once a second unless asked).
pub fn pg_rows_read(conn: &mut docflow::db::DbConn, table: &str) -> (i64, i64) {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Read {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        idx: i64,
    }
    conn.batch_execute("SELECT pg_stat_force_next_flush()")
        .expect("flush");
    conn.batch_execute("SELECT 1").expect("flush");
    let r = diesel::sql_query(
        "SELECT (SELECT COALESCE(seq_tup_read, 0) FROM pg_stat_user_tables \
                 WHERE relname = $1)::bigint AS seq, \
                (SELECT COALESCE(sum(idx_tup_read), 0) FROM pg_stat_user_indexes \
                 WHERE relname = $1)::bigint AS idx",
    )
    .bind::<diesel::sql_types::Text, _>(table)
    .get_result::<Read>(conn)
    .expect("statistics");
    (r.seq, r.idx)
}
