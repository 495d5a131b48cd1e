//! certomancer (PyPI) serving a test PKI on loopback — root → intermediate → signers, an OCSP
//! responder, CRLs, a TSA (`certs/certomancer.yml`) — for the B-T and revocation tests.
#![allow(dead_code)]

use super::pyhanko;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// certomancer serving the PKI of `certs/certomancer.yml`; killed on drop.
pub struct Certomancer {
    child: Option<Child>,
    csc: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Drop for Certomancer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.stop_csc();
    }
}

impl Certomancer {
    /// Makes the PKI (keys, certificates) and serves it.
    pub fn start() -> Certomancer {
        let mut c = Self::summon();
        c.animate();
        c
    }

    /// Makes the PKI for a port chosen now, without serving it yet: its OCSP responder, CRLs
    /// and TSA are unreachable until [`Self::animate`].
    pub fn summon() -> Certomancer {
        let venv = pyhanko::venv();
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/certomancer.yml"),
        )
        .unwrap()
        .replace("127.0.0.1:PORT", &format!("127.0.0.1:{port}"));
        std::fs::write(dir.path().join("certomancer.yml"), cfg).unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        for k in ["root", "interm", "ocsp", "tsa", "signer", "revoked"] {
            let key =
                openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
            std::fs::write(
                dir.path().join(format!("keys/{k}.key.pem")),
                key.private_key_to_pem_pkcs8().unwrap(),
            )
            .unwrap();
        }
        let certomancer = venv.join("bin/certomancer");
        let st = Command::new(&certomancer)
            .current_dir(dir.path())
            .args([
                "--config",
                "certomancer.yml",
                "mass-summon",
                "--flat",
                "testing-ca",
                "pki-out",
            ])
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "certomancer mass-summon: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        Certomancer {
            child: None,
            csc: None,
            port,
            dir,
        }
    }

    /// Serves the PKI: OCSP, CRLs, the TSA.
    pub fn animate(&mut self) {
        let certomancer = pyhanko::venv().join("bin/certomancer");
        let port = self.port;
        let child = Command::new(&certomancer)
            .current_dir(self.dir.path())
            .args([
                "--config",
                "certomancer.yml",
                "animate",
                "--port",
                &port.to_string(),
                "--no-web-ui",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "certomancer did not start"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn tsa_url(&self) -> String {
        format!("http://127.0.0.1:{}/testing-ca/tsa/tsa", self.port)
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("pki-out/root.cert.pem")
    }

    /// A certificate of the PKI (`pki-out/<name>.cert.pem`).
    pub fn cert(&self, name: &str) -> openssl::x509::X509 {
        let pem = std::fs::read(self.dir.path().join(format!("pki-out/{name}.cert.pem"))).unwrap();
        openssl::x509::X509::from_pem(&pem).unwrap()
    }

    /// The private key of an entity (`keys/<name>.key.pem`).
    pub fn key(&self, name: &str) -> openssl::pkey::PKey<openssl::pkey::Private> {
        let pem = std::fs::read(self.dir.path().join(format!("keys/{name}.key.pem"))).unwrap();
        openssl::pkey::PKey::private_key_from_pem(&pem).unwrap()
    }

    /// Starts certomancer-csc-dummy (a CSC v1 service over this PKI's keys, hash pinning on)
    /// on a free port; answers its base URL. Killed with the rest.
    pub fn csc(&mut self) -> String {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(pyhanko::venv().join("bin/certomancer-csc"))
            .current_dir(self.dir.path())
            .args(["certomancer.yml", &port.to_string(), "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.csc = Some(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "certomancer-csc did not start"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        format!("http://127.0.0.1:{port}")
    }

    /// Stops the CSC service (it no longer answers).
    pub fn stop_csc(&mut self) {
        if let Some(mut c) = self.csc.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
