//! A real S3 server on loopback for the tests: moto (`moto_server`, from PyPI, pinned in
//! tests/python-constraints.txt), one per test, on a free port.

use super::pyvenv;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A moto S3 server on a free loopback port, stopped on drop.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
    http: reqwest::blocking::Client,
}

impl S3Server {
    pub fn start() -> S3Server {
        let venv = pyvenv::tool_venv("moto", &["moto[server]==5.2.5"], "moto_server");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(venv.join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            http: reqwest::blocking::Client::new(),
        };
        let started = Instant::now();
        while server.http.get(&server.endpoint).send().is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto_server did not start"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        server
    }

    pub fn create_bucket(&self, bucket: &str) {
        let r = self
            .http
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .expect("create bucket");
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    }

    /// Keys of the objects in the bucket (path-style ListObjectsV2).
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let body = self
            .http
            .get(format!("{}/{bucket}?list-type=2", self.endpoint))
            .send()
            .and_then(|r| r.text())
            .expect("list bucket");
        body.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
