//! Where messages go: an SMTP server through lettre, or `.eml` files when none is configured.
//!
//! `smtp_url` forms (credentials percent-encoded in the userinfo, all optional):
//! - `smtp://user:pass@host:587` — STARTTLS, required (the default for `smtp://`; also
//!   `?tls=starttls`); port 587 when absent.
//! - `smtps://user:pass@host:465` — implicit TLS; port 465 when absent.
//! - `smtp://host:25?tls=none` — plain text, for a relay on the same host or a test sink only.

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::PoolConfig;
use lettre::{Message, SmtpTransport, Transport as _};
use std::path::PathBuf;
use std::time::Duration;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (refused if the server does not offer it).
    StartTls,
    /// TLS from the first byte (`smtps://`).
    ImplicitTls,
    /// No encryption.
    None,
}

/// A parsed `smtp_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpTarget {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// User name and password, when the URL has them.
    pub credentials: Option<(String, String)>,
}

impl SmtpTarget {
    /// Parses `smtp_url`; the error says what is wrong.
    pub fn parse(raw: &str) -> Result<SmtpTarget, String> {
        let url = url::Url::parse(raw.trim()).map_err(|e| format!("'{raw}' is not a URL: {e}"))?;
        let mut tls: Option<String> = None;
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "tls" => tls = Some(v.into_owned()),
                other => return Err(format!("unknown parameter '{other}' (only tls=)")),
            }
        }
        let (security, default_port) = match (url.scheme(), tls.as_deref()) {
            ("smtp", None | Some("starttls")) => (Security::StartTls, 587),
            ("smtp", Some("none")) => (Security::None, 25),
            ("smtps", None) => (Security::ImplicitTls, 465),
            ("smtp", Some(other)) => {
                return Err(format!(
                    "tls={other} is not one of: starttls (default), none"
                ))
            }
            ("smtps", Some(_)) => return Err("smtps:// takes no tls= parameter".into()),
            (scheme, _) => {
                return Err(format!(
                    "scheme '{scheme}' is not smtp:// (STARTTLS, or ?tls=none) or smtps:// (implicit TLS)"
                ))
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("the URL names no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if url.path().len() > 1 {
            return Err("the URL must not have a path".into());
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| "the user name or password is not UTF-8".to_string())
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (user, Some(pass)) => Some((decode(user)?, decode(pass)?)),
            (_, None) => return Err("a user name needs a password (user:pass@host)".into()),
        };
        Ok(SmtpTarget {
            host,
            port: url.port().unwrap_or(default_port),
            security,
            credentials,
        })
    }
}

/// Why a message was not delivered.
#[derive(Debug)]
pub struct SendError {
    /// The server refused it for good (5xx): retrying will not help.
    pub permanent: bool,
    pub message: String,
}

impl SendError {
    /// A failure worth retrying.
    pub fn transient(message: impl Into<String>) -> SendError {
        SendError {
            permanent: false,
            message: message.into(),
        }
    }

    /// A failure not worth retrying.
    pub fn permanent(message: impl Into<String>) -> SendError {
        SendError {
            permanent: true,
            message: message.into(),
        }
    }
}

/// The way out for messages; cheap to clone (the SMTP connection pool is shared).
#[derive(Clone)]
pub enum Transport {
    /// An SMTP server.
    Smtp(SmtpTransport),
    /// `.eml` files in a folder (the embedded default: no SMTP server configured).
    Files(PathBuf),
}

/// The domain of an address (`docflow@so.gov.vn` → `so.gov.vn`), for Message-IDs and EHLO.
pub fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>').trim().to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl Transport {
    /// The transport the configuration names; `workers` bounds the pooled SMTP connections.
    pub fn from_config(cfg: &crate::config::Config, workers: u32) -> anyhow::Result<Transport> {
        if cfg.smtp_url.is_empty() {
            let dir = cfg.data_dir.join("outbox");
            std::fs::create_dir_all(&dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
            return Ok(Transport::Files(dir));
        }
        let target = SmtpTarget::parse(&cfg.smtp_url)
            .map_err(|e| anyhow::anyhow!("DOCFLOW_SMTP_URL: {e}"))?;
        let from: Mailbox = cfg
            .smtp_from
            .parse()
            .map_err(|e| anyhow::anyhow!("DOCFLOW_SMTP_FROM: {e}"))?;
        let mut b = SmtpTransport::builder_dangerous(target.host.clone())
            .port(target.port)
            .timeout(Some(Duration::from_secs(cfg.smtp_timeout_secs)))
            .hello_name(ClientId::Domain(domain_of(from.email.as_ref())))
            .pool_config(PoolConfig::new().max_size(workers.max(1)));
        let tls = || {
            TlsParameters::new(target.host.clone())
                .map_err(|e| anyhow::anyhow!("DOCFLOW_SMTP_URL: TLS setup: {e}"))
        };
        b = match target.security {
            Security::StartTls => b.tls(Tls::Required(tls()?)),
            Security::ImplicitTls => b.tls(Tls::Wrapper(tls()?)),
            Security::None => b.tls(Tls::None),
        };
        if let Some((user, pass)) = target.credentials {
            b = b.credentials(Credentials::new(user, pass));
        }
        Ok(Transport::Smtp(b.build()))
    }

    /// Delivers one message; `name` names its file in the `.eml` folder. Returns once the SMTP
    /// server accepted it (or the file is complete on disk).
    pub fn send(&self, message: &Message, name: &str) -> Result<(), SendError> {
        match self {
            Transport::Smtp(t) => t.send(message).map(|_| ()).map_err(|e| {
                let text = e.to_string();
                if e.is_permanent() {
                    SendError::permanent(text)
                } else {
                    SendError::transient(text)
                }
            }),
            Transport::Files(dir) => {
                let path = dir.join(format!("{name}.eml"));
                let tmp = dir.join(format!(".{name}.eml.tmp"));
                std::fs::write(&tmp, message.formatted())
                    .and_then(|_| std::fs::rename(&tmp, &path))
                    .map_err(|e| SendError::transient(format!("{}: {e}", path.display())))?;
                tracing::info!(file = %path.display(), "notification written as a file (no SMTP server configured)");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms() {
        let t = SmtpTarget::parse("smtp://mail.example.gov.vn").unwrap();
        assert_eq!((t.port, t.security), (587, Security::StartTls));
        assert_eq!(t.credentials, None);
        let t = SmtpTarget::parse("smtp://u%40x:p%3Ass@mail:2525?tls=starttls").unwrap();
        assert_eq!((t.port, t.security), (2525, Security::StartTls));
        assert_eq!(t.credentials, Some(("u@x".into(), "p:ss".into())));
        let t = SmtpTarget::parse("smtps://mail").unwrap();
        assert_eq!((t.port, t.security), (465, Security::ImplicitTls));
        let t = SmtpTarget::parse("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 2525));
        assert_eq!(t.security, Security::None);
        for bad in [
            "http://mail",
            "smtp://",
            "smtp://mail?tls=maybe",
            "smtps://mail?tls=none",
            "smtp://user@mail",
            "smtp://mail/path",
            "smtp://mail?port=1",
            "not a url",
        ] {
            assert!(SmtpTarget::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn domain_of_an_address() {
        assert_eq!(domain_of("docflow@so.gov.vn"), "so.gov.vn");
        assert_eq!(domain_of("nobody"), "localhost");
    }
}
