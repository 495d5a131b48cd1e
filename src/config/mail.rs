//! Mail settings, parsed once from the configuration: where messages go (`smtp_url` as an
//! [`SmtpTarget`], or `.eml` files), who sends them, the CA to trust, the timeout. The notify
//! transport takes these, not the whole [`Config`](super::Config).
//!
//! `smtp_url` forms (credentials percent-encoded in the userinfo, all optional):
//! - `smtp://user:pass@host:587` — STARTTLS, required (the default for `smtp://`; also
//!   `?tls=starttls`); port 587 when absent.
//! - `smtps://user:pass@host:465` — implicit TLS; port 465 when absent.
//! - `smtp://host:25?tls=none` — plain text, for a relay on the same host or a test sink only.

use lettre::message::Mailbox;
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

/// Everything the mail transport needs.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The SMTP server; None: messages are written as `.eml` files into `outbox_dir`.
    pub target: Option<SmtpTarget>,
    /// The sender address.
    pub from: Mailbox,
    /// A PEM file of CA certificates to trust for the SMTP server, besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Connect, command and data timeout.
    pub timeout: Duration,
    /// Where `.eml` files go without an SMTP server.
    pub outbox_dir: PathBuf,
}

impl super::Config {
    /// The mail settings; the error names the setting at fault.
    pub fn mail(&self) -> Result<MailSettings, String> {
        let target = if self.smtp_url.is_empty() {
            None
        } else {
            Some(SmtpTarget::parse(&self.smtp_url).map_err(|m| format!("DOCFLOW_SMTP_URL: {m}"))?)
        };
        let from = self.smtp_from.parse::<Mailbox>().map_err(|_| {
            format!(
                "DOCFLOW_SMTP_FROM: '{}' is not an email address",
                self.smtp_from
            )
        })?;
        Ok(MailSettings {
            target,
            from,
            ca_file: (!self.smtp_ca_file.is_empty()).then(|| PathBuf::from(&self.smtp_ca_file)),
            timeout: Duration::from_secs(self.smtp_timeout_secs),
            outbox_dir: self.data_dir.join("outbox"),
        })
    }
}
