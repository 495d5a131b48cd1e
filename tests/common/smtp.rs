//! A real SMTP server on loopback (aiosmtpd from PyPI, in the tests' local venv, installed on
//! first use like pyHanko) and the messages it accepted, parsed by Python's `email` package.
//! A missing Python or PyPI fails the test with a clear message; nothing is skipped.
#![allow(dead_code)]

use serde::Deserialize;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn script() -> PathBuf {
    repo().join("tests/common/smtp_sink.py")
}

/// The venv of the tests (`$DOCFLOW_VENV` or `<repo>/.venv`, shared with pyHanko) with aiosmtpd.
pub fn venv() -> PathBuf {
    super::pyvenv::venv_at(
        &super::pyvenv::test_venv_dir(),
        &["aiosmtpd"],
        &["aiosmtpd"],
    )
}

/// A free TCP port on loopback (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// One message as the SMTP server received it.
#[derive(Debug, Clone, Deserialize)]
pub struct Received {
    /// The session was encrypted (STARTTLS or implicit TLS).
    pub tls: bool,
    /// The client authenticated.
    pub authenticated: bool,
    pub file: String,
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub from: String,
    pub to: String,
    /// Decoded subject.
    pub subject: String,
    pub message_id: String,
    pub date: String,
    pub content_type: String,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<ReceivedAttachment>,
    /// The header block as sent (encoded words and all).
    pub raw_headers: String,
}

/// An attachment of a received message.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedAttachment {
    pub filename: Option<String>,
    pub content_type: String,
    pub size: usize,
    pub sha256: String,
}

/// aiosmtpd listening on 127.0.0.1:`port`, writing what it accepts into `dir`.
pub struct SmtpSink {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    /// Extra `serve` options (`--delay-ms N`, `--reject TEXT`) for the next [`SmtpSink::up`].
    pub options: Vec<String>,
}

impl SmtpSink {
    /// Starts a sink on a free port.
    pub fn start() -> SmtpSink {
        let mut sink = SmtpSink {
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
            options: Vec::new(),
        };
        sink.up();
        sink
    }

    /// Starts a sink with `serve` options.
    pub fn start_with(options: &[&str]) -> SmtpSink {
        let mut sink = SmtpSink {
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
            options: options.iter().map(|s| s.to_string()).collect(),
        };
        sink.up();
        sink
    }

    /// The `smtp_url` that reaches it (plain SMTP: loopback only).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// (Re)starts the server on its port.
    pub fn up(&mut self) {
        assert!(self.child.is_none(), "the sink is running already");
        let python = venv().join("bin/python");
        let mut child = Command::new(&python)
            .arg(script())
            .arg("serve")
            .arg(self.port.to_string())
            .arg(self.dir.path())
            .args(&self.options)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("sink output");
        assert_eq!(line.trim(), "READY", "the SMTP sink did not start");
        self.child = Some(child);
    }

    /// Stops the server (the port refuses connections until [`SmtpSink::up`]).
    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Vec<Received> {
        let python = venv().join("bin/python");
        let out = Command::new(&python)
            .arg(script())
            .arg("parse")
            .arg(self.dir.path())
            .output()
            .expect("run the parser");
        assert!(
            out.status.success(),
            "parse failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("parser JSON")
    }

    /// How many messages arrived (cheap: counts files).
    pub fn count(&self) -> usize {
        std::fs::read_dir(self.dir.path())
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".msg"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Waits until at least `n` messages arrived; panics after `timeout`.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        while self.count() < n {
            assert!(
                Instant::now() < deadline,
                "expected {n} messages, the SMTP server received {} within {timeout:?}",
                self.count()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.messages()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.down();
    }
}
