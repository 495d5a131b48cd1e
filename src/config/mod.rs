//! Configuration: defaults → optional TOML file → `DOCFLOW_*` environment variables.
//! Validated once at start; passed around as data, never read from globals.

mod env;
pub mod mail;
mod validate;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Every setting of the server. `docs/CONFIGURATION.md` documents each one (a test checks it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub bind: String,
    /// `sqlite://PATH` or `postgres://…`; empty means `sqlite://{data_dir}/docflow.db`.
    pub database_url: String,
    /// Folder for the embedded database and stored files.
    pub data_dir: PathBuf,
    /// Connections kept in the database pool.
    pub db_pool_size: u32,
    /// Seconds to wait for a free database connection before answering 503.
    pub db_timeout_secs: u64,
    /// Password given to the `admin` account created at first start; empty: generate and log one.
    pub admin_password: String,
    /// Lifetime of a login token, in minutes.
    pub token_lifetime_minutes: i64,
    /// Failed logins (per account or per address) before the login is refused for a while.
    pub login_max_failures: i32,
    /// Minutes a login stays refused after too many failures.
    pub login_lockout_minutes: i64,
    /// Extra delay per recent failure before answering a failed login, in milliseconds.
    pub login_slowdown_ms: u64,
    /// Largest JSON request body, in bytes.
    pub max_json_bytes: usize,
    /// Largest uploaded file, in bytes.
    pub max_upload_bytes: u64,
    /// Seconds a request body may take to arrive: a JSON body in all, an upload this long plus
    /// one second per 64 KiB received (so a trickling client cannot hold a connection forever).
    pub body_timeout_secs: u64,
    /// Seconds a signature prepared for a USB token (`…/sign/prepare`) may wait for its
    /// `complete`.
    pub signing_handle_ttl_secs: u64,
    /// Milliseconds between two looks at remote signatures waiting for their holder's
    /// confirmation on the phone (VNPT SmartCA); 0: this process does not poll.
    pub remote_signing_poll_ms: u64,
    /// The office's service-provider id at VNPT SmartCA; empty: SmartCA credentials cannot sign.
    pub smartca_sp_id: String,
    /// The office's service-provider secret at VNPT SmartCA.
    pub smartca_sp_password: String,
    /// Folder of the content-addressed file store; empty means `{data_dir}/blobs`.
    pub blob_dir: String,
    /// Where files are kept: empty = the local folder `blob_dir`; `s3://BUCKET[/PREFIX]` = an
    /// S3-compatible object store.
    pub blob_url: String,
    /// Endpoint of an S3-compatible service (MinIO, Ceph, …); empty: AWS S3 in `s3_region`.
    pub s3_endpoint: String,
    /// S3 region.
    pub s3_region: String,
    /// S3 access key id; empty: the standard `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
    pub s3_access_key_id: String,
    /// S3 secret access key.
    pub s3_secret_access_key: String,
    /// Seconds the PDF check of an upload may take before the file is refused as unreadable.
    pub pdf_check_timeout_secs: u64,
    /// Seconds in-flight requests get to finish after SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `docflow=debug,info`.
    pub log_level: String,
    /// Address users reach the service at; used in links sent by email.
    pub public_url: String,
    /// SMTP server: `smtp://[user:pass@]host[:port]` (STARTTLS required; `?tls=none` for plain) or
    /// `smtps://…` (implicit TLS); empty: write .eml files under `{data_dir}/outbox`.
    pub smtp_url: String,
    /// Sender address of notification emails.
    pub smtp_from: String,
    /// Seconds before an SMTP connection or command times out.
    pub smtp_timeout_secs: u64,
    /// PEM file of a CA to trust for the SMTP server's certificate, besides the system's; empty: none.
    pub smtp_ca_file: String,
    /// Notification sender threads in this process; 0: this process sends nothing.
    pub notify_workers: usize,
    /// Outbox rows a sender claims at a time.
    pub notify_batch_size: i64,
    /// Milliseconds a sender waits before looking at an empty outbox again.
    pub notify_poll_ms: u64,
    /// Messages a second this process's senders send at most, together; 0: no limit.
    pub notify_rate: u32,
    /// Seconds between two scans of the open tasks for reminders, overdue notices and
    /// escalations (at every poll with a manual clock).
    pub deadline_scan_secs: u64,
    /// A search (`q`, `issuer`) first reads at most this many of the newest documents (in the
    /// listing's order) row by row, then asks the trigram index (PostgreSQL's `pg_trgm`,
    /// SQLite's `documents_fts`) for the rest of the page; 0 leaves the choice to the planner.
    pub search_walk_rows: i64,
    /// Attempts before a message is given up (dead letter).
    pub notify_max_attempts: i32,
    /// Delay before the first retry, in seconds; doubles each attempt, with jitter.
    pub notify_retry_base_secs: u64,
    /// Longest delay between two attempts, in seconds.
    pub notify_retry_max_secs: u64,
    /// Seconds a claimed message stays reserved for its sender; after that (a crash) it is due again.
    pub notify_lease_secs: u64,
    /// Hours before a task's deadline the reminder is sent.
    pub reminder_lead_hours: i64,
    /// `system`, or `manual`: the notification clock is set by an admin (tests, drills).
    pub notify_clock: String,
    /// RFC 3161 timestamp authority URL for PAdES B-T signatures; empty: no timestamp.
    pub tsa_url: String,
    /// PAdES level of the signatures a route makes (`sign`, `issue`): `b-b`, `b-t`, `b-lt` or
    /// `b-lta`; empty: B-T when `tsa_url` is set, else B-B. B-LT and B-LTA add the validation
    /// data (a DSS, fetched from the certificates' OCSP/CRL addresses) in the same version, and
    /// B-LTA a document timestamp over it; they need `tsa_url`.
    pub signing_level: String,
    /// PEM private key of the organisation's signing key; empty: none configured.
    pub signing_key_path: String,
    /// PEM certificate (and chain) matching `signing_key_path`.
    pub signing_cert_path: String,
    /// File of exactly 32 random bytes, the key-encryption key of stored signing keys (readable
    /// by the owner only); empty: `{data_dir}/signing.kek`, generated at first start.
    pub signing_kek_path: String,
    /// PEM bundle of the root certificates signatures are verified against (e.g. the national
    /// root CA); empty: none, so every signature is reported as untrusted.
    pub trust_roots_path: String,
    /// The office's own CA (closed deployments): a PKCS#12 file or PEM key + certificate(s),
    /// readable by its owner only, from which an admin issues officials' signing credentials
    /// (`POST /users/{id}/signing-credentials`); empty: none, that endpoint answers 409.
    pub office_ca_path: String,
    /// Password of the `office_ca_path` PKCS#12 file, or of its encrypted PEM key.
    pub office_ca_password: String,
    /// Whether the working-day calendar includes Vietnam's holidays (fixed solar ones every
    /// year, Tết / Giỗ Tổ and substitute days for 2025–2027).
    pub calendar_builtin_holidays: bool,
    /// Whether each node keeps sessions and inboxes in memory, kept true by the database's
    /// change feed (src/cache). `false` for a database without `LISTEN`/`NOTIFY` (a
    /// PostgreSQL-compatible one that lacks them) or to rule the caches out.
    pub read_cache: bool,
    /// Further days off, `YYYY-MM-DD` separated by commas (yearly decisions, other years' Tết).
    pub calendar_extra_holidays: String,
    /// Days worked although a weekend or holiday (make-up days), `YYYY-MM-DD` separated by commas.
    pub calendar_extra_workdays: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".into(),
            database_url: String::new(),
            data_dir: PathBuf::from("./data"),
            db_pool_size: 8,
            db_timeout_secs: 10,
            admin_password: String::new(),
            token_lifetime_minutes: 720,
            login_max_failures: 5,
            login_lockout_minutes: 15,
            login_slowdown_ms: 250,
            max_json_bytes: 1024 * 1024,
            body_timeout_secs: 30,
            signing_handle_ttl_secs: 300,
            remote_signing_poll_ms: 2000,
            smartca_sp_id: String::new(),
            smartca_sp_password: String::new(),
            max_upload_bytes: 100 * 1024 * 1024,
            blob_dir: String::new(),
            blob_url: String::new(),
            s3_endpoint: String::new(),
            s3_region: "us-east-1".into(),
            s3_access_key_id: String::new(),
            s3_secret_access_key: String::new(),
            pdf_check_timeout_secs: 20,
            shutdown_timeout_secs: 30,
            log_format: "text".into(),
            log_level: "info".into(),
            public_url: "http://127.0.0.1:8080".into(),
            smtp_url: String::new(),
            smtp_from: "docflow@localhost".into(),
            smtp_timeout_secs: 10,
            smtp_ca_file: String::new(),
            notify_workers: 2,
            notify_batch_size: 50,
            notify_poll_ms: 1000,
            notify_rate: 50,
            deadline_scan_secs: 60,
            search_walk_rows: 10_000,
            notify_max_attempts: 10,
            notify_retry_base_secs: 30,
            notify_retry_max_secs: 3600,
            notify_lease_secs: 300,
            reminder_lead_hours: 24,
            notify_clock: "system".into(),
            tsa_url: String::new(),
            signing_level: String::new(),
            signing_key_path: String::new(),
            signing_cert_path: String::new(),
            signing_kek_path: String::new(),
            trust_roots_path: String::new(),
            office_ca_path: String::new(),
            office_ca_password: String::new(),
            calendar_builtin_holidays: true,
            read_cache: true,
            calendar_extra_holidays: String::new(),
            calendar_extra_workdays: String::new(),
        }
    }
}

/// A setting that could not be used; the message names it.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {setting}: {message}")]
pub struct ConfigError {
    /// The setting, as the user wrote it (environment variable or file key).
    pub setting: String,
    /// What is wrong and what is expected.
    pub message: String,
}

fn err(setting: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.into(),
        message: message.into(),
    }
}

/// The environment variable that overrides a setting.
pub fn env_name(key: &str) -> String {
    format!("DOCFLOW_{}", key.to_ascii_uppercase())
}

/// Which database the URL selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseKind {
    /// SQLite file at this path.
    Sqlite(PathBuf),
    /// PostgreSQL, URL as given.
    Postgres(String),
}

impl Config {
    /// Loads defaults, then the TOML file (if any), then the environment, and validates.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with(file, |k| std::env::var(k).ok())
    }

    /// Like [`Config::load`] with an explicit environment (tests).
    pub fn load_with(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut cfg = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    err(
                        "DOCFLOW_CONFIG",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                toml::from_str::<Config>(&text).map_err(|e| {
                    err(
                        format!("{}", path.display()),
                        e.message().to_string() + &span_hint(&text, e.span()),
                    )
                })?
            }
            None => Config::default(),
        };
        cfg.apply_env(&env)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The PAdES level a route signs at (`signing_level`; validated at start): B-T when
    /// `tsa_url` is set and the level is not given, else B-B.
    pub fn route_signing_level(&self) -> crate::signing::ltv::Level {
        use crate::signing::ltv::Level;
        match Level::parse(&self.signing_level) {
            Some(level) => level,
            None if self.tsa_url.is_empty() => Level::BB,
            None => Level::BT,
        }
    }

    /// The certificates of `trust_roots_path` (none when it is empty). Read at validation and
    /// once more when the server starts, which keeps them.
    pub fn trust_roots(&self) -> Result<Vec<openssl::x509::X509>, ConfigError> {
        if self.trust_roots_path.is_empty() {
            return Ok(Vec::new());
        }
        let path = Path::new(&self.trust_roots_path);
        if !path.is_file() {
            return Err(err(
                env_name("trust_roots_path"),
                format!("no file at '{}'", self.trust_roots_path),
            ));
        }
        crate::signing::verify::load_trust_roots(path).map_err(|e| {
            let why = match e {
                crate::signing::SigningError::Key(m) => m,
                other => other.to_string(),
            };
            err(
                env_name("trust_roots_path"),
                format!("{why} (expected a PEM file of one or more certificates)"),
            )
        })
    }

    /// The office CA of `office_ca_path` (none when it is empty). Read at validation and once
    /// more when the server starts, which keeps it.
    pub fn office_ca(&self) -> Result<Option<crate::credentials::issue::OfficeCa>, ConfigError> {
        if self.office_ca_path.is_empty() {
            return Ok(None);
        }
        crate::credentials::issue::OfficeCa::load(
            Path::new(&self.office_ca_path),
            &self.office_ca_password,
        )
        .map(Some)
        .map_err(|why| {
            err(
                env_name("office_ca_path"),
                format!("'{}': {why}", self.office_ca_path),
            )
        })
    }

    /// The working-day calendar these settings describe (validated at load).
    pub fn calendar(&self) -> crate::workflow::calendar::Calendar {
        crate::workflow::calendar::Calendar::from_settings(
            self.calendar_builtin_holidays,
            &self.calendar_extra_holidays,
            &self.calendar_extra_workdays,
        )
        .unwrap_or_else(|_| crate::workflow::calendar::Calendar::vietnam())
    }

    /// The S3 store `blob_url` names, if it names one.
    pub fn s3_settings(&self) -> Option<crate::storage::s3::S3Settings> {
        let (bucket, prefix) = crate::storage::s3::parse_url(&self.blob_url)?;
        Some(crate::storage::s3::S3Settings {
            bucket,
            prefix,
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: self.s3_secret_access_key.clone(),
        })
    }

    /// The office's account at VNPT SmartCA, when configured.
    pub fn smartca_account(&self) -> Option<crate::signing::smartca::SpAccount> {
        (!self.smartca_sp_id.is_empty()).then(|| crate::signing::smartca::SpAccount {
            sp_id: self.smartca_sp_id.clone(),
            sp_password: self.smartca_sp_password.clone(),
        })
    }

    /// The folder of the file store.
    pub fn blob_path(&self) -> PathBuf {
        if self.blob_dir.is_empty() {
            self.data_dir.join("blobs")
        } else {
            PathBuf::from(&self.blob_dir)
        }
    }

    /// The database the URL names (the embedded SQLite file by default).
    pub fn database(&self) -> Result<DatabaseKind, ConfigError> {
        if self.database_url.is_empty() {
            return Ok(DatabaseKind::Sqlite(self.data_dir.join("docflow.db")));
        }
        let url = self.database_url.trim();
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(err(
                    "DATABASE_URL",
                    "sqlite:// needs a file path, e.g. sqlite://./data/docflow.db",
                ));
            }
            return Ok(DatabaseKind::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseKind::Postgres(url.to_string()));
        }
        Err(err(
            "DATABASE_URL",
            "must start with sqlite:// or postgres:// (for example sqlite://./data/docflow.db)",
        ))
    }
}

fn span_hint(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(r) => {
            let line = text[..r.start.min(text.len())].matches('\n').count() + 1;
            format!(" (line {line})")
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_are_valid_and_use_embedded_sqlite() {
        let cfg = Config::load_with(None, env_of(&[])).unwrap();
        assert_eq!(cfg.bind, "127.0.0.1:8080");
        assert_eq!(
            cfg.database().unwrap(),
            DatabaseKind::Sqlite(PathBuf::from("./data/docflow.db"))
        );
    }

    #[test]
    fn env_overrides_file_and_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "bind = \"0.0.0.0:9000\"\ndb_pool_size = 3\n").unwrap();
        let cfg = Config::load_with(Some(&file), env_of(&[("DOCFLOW_DB_POOL_SIZE", "5")])).unwrap();
        assert_eq!(cfg.bind, "0.0.0.0:9000");
        assert_eq!(cfg.db_pool_size, 5);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = Config::load_with(None, env_of(&[("DOCFLOW_BIND", "nowhere")])).unwrap_err();
        assert_eq!(e.setting, "DOCFLOW_BIND");
        let e = Config::load_with(None, env_of(&[("DOCFLOW_DB_POOL_SIZE", "many")])).unwrap_err();
        assert_eq!(e.setting, "DOCFLOW_DB_POOL_SIZE");
        assert!(
            e.to_string().contains("'many' is not a whole number"),
            "{e}"
        );
        let e = Config::load_with(None, env_of(&[("DATABASE_URL", "mysql://x")])).unwrap_err();
        assert_eq!(e.setting, "DATABASE_URL");
    }

    #[test]
    fn trust_roots_must_exist_and_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pem");
        let e = Config::load_with(
            None,
            env_of(&[("DOCFLOW_TRUST_ROOTS_PATH", missing.to_str().unwrap())]),
        )
        .unwrap_err();
        assert_eq!(e.setting, "DOCFLOW_TRUST_ROOTS_PATH");
        assert!(e.message.contains("no file at"), "{e}");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let e = Config::load_with(
            None,
            env_of(&[("DOCFLOW_TRUST_ROOTS_PATH", junk.to_str().unwrap())]),
        )
        .unwrap_err();
        assert_eq!(e.setting, "DOCFLOW_TRUST_ROOTS_PATH");
        assert!(e.message.contains("expected a PEM file"), "{e}");
        let cfg = Config::load_with(None, env_of(&[])).unwrap();
        assert!(cfg.trust_roots().unwrap().is_empty());
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "bnid = \"x\"\n").unwrap();
        let e = Config::load_with(Some(&file), env_of(&[])).unwrap_err();
        assert!(e.to_string().contains("bnid"), "{e}");
    }
}
