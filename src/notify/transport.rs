//! Where messages go: an SMTP server (lettre's SMTP client: connection, STARTTLS/TLS, AUTH,
//! commands), or `.eml` files when none is configured.
//!
//! `smtp_url` forms (credentials percent-encoded in the userinfo, all optional):
//! - `smtp://user:pass@host:587` — STARTTLS, required (the default for `smtp://`; also
//!   `?tls=starttls`); port 587 when absent.
//! - `smtps://user:pass@host:465` — implicit TLS; port 465 when absent.
//! - `smtp://host:25?tls=none` — plain text, for a relay on the same host or a test sink only.

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, SmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, MailBodyParameter, MailParameter};
use lettre::Message;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// How to reach the SMTP server.
pub struct SmtpSettings {
    target: SmtpTarget,
    timeout: Duration,
    hello: ClientId,
    tls: Option<TlsParameters>,
}

/// The way out for messages; cheap to clone. Each sender opens its own [`Session`].
#[derive(Clone)]
pub enum Transport {
    /// An SMTP server.
    Smtp(Arc<SmtpSettings>),
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
    /// The transport the configuration names.
    pub fn from_config(cfg: &crate::config::Config) -> anyhow::Result<Transport> {
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
        let tls = match target.security {
            Security::None => None,
            Security::StartTls | Security::ImplicitTls => {
                let mut b = TlsParameters::builder(target.host.clone());
                if !cfg.smtp_ca_file.is_empty() {
                    let pem = std::fs::read(&cfg.smtp_ca_file)
                        .map_err(|e| anyhow::anyhow!("DOCFLOW_SMTP_CA_FILE: {e}"))?;
                    let ca = Certificate::from_pem(&pem)
                        .map_err(|e| anyhow::anyhow!("DOCFLOW_SMTP_CA_FILE: {e}"))?;
                    b = b.add_root_certificate(ca);
                }
                Some(
                    b.build()
                        .map_err(|e| anyhow::anyhow!("DOCFLOW_SMTP_URL: TLS setup: {e}"))?,
                )
            }
        };
        Ok(Transport::Smtp(Arc::new(SmtpSettings {
            timeout: Duration::from_secs(cfg.smtp_timeout_secs),
            hello: ClientId::Domain(domain_of(from.email.as_ref())),
            target,
            tls,
        })))
    }

    /// A session for one sender: it keeps its SMTP connection between messages.
    pub fn session(&self) -> Session {
        Session {
            transport: self.clone(),
            conn: None,
            last_used: Instant::now(),
        }
    }
}

/// A message's content as one SMTP DATA write: dot-stuffed, ending with `CRLF . CRLF`.
///
/// lettre's own `SmtpTransport` writes the final dot in a segment of its own and cannot turn
/// Nagle's algorithm off, so every message would wait for the server's delayed ACK (~40 ms on
/// Linux): at most ~25 messages/s per connection. Sending the data in one write avoids that.
struct DataBody<'a>(&'a str);

impl std::fmt::Display for DataBody<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.starts_with('.') {
            f.write_str(".")?;
        }
        f.write_str(&self.0.replace("\r\n.", "\r\n.."))?;
        if !self.0.ends_with("\r\n") {
            f.write_str("\r\n")?;
        }
        f.write_str(".\r\n")
    }
}

/// One sender's connection to the SMTP server (opened on first use, kept between messages,
/// checked with NOOP after an idle while, dropped after any error).
pub struct Session {
    transport: Transport,
    conn: Option<SmtpConnection>,
    last_used: Instant,
}

fn send_error(e: lettre::transport::smtp::Error) -> SendError {
    let text = e.to_string();
    if e.is_permanent() {
        SendError::permanent(text)
    } else {
        SendError::transient(text)
    }
}

impl Session {
    fn connect(s: &SmtpSettings) -> Result<SmtpConnection, lettre::transport::smtp::Error> {
        let wrapper = match s.target.security {
            Security::ImplicitTls => s.tls.as_ref(),
            _ => None,
        };
        let mut conn = SmtpConnection::connect(
            (s.target.host.as_str(), s.target.port),
            Some(s.timeout),
            &s.hello,
            wrapper,
            None,
        )?;
        if s.target.security == Security::StartTls {
            if let Some(tls) = &s.tls {
                conn.starttls(tls, &s.hello)?;
            }
        }
        if let Some((user, pass)) = &s.target.credentials {
            conn.auth(
                &[Mechanism::Plain, Mechanism::Login],
                &Credentials::new(user.clone(), pass.clone()),
            )?;
        }
        Ok(conn)
    }

    fn transaction(
        conn: &mut SmtpConnection,
        message: &Message,
        data: &str,
    ) -> Result<(), lettre::transport::smtp::Error> {
        let envelope = message.envelope();
        let mut params = Vec::new();
        if !data.is_ascii() {
            params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        conn.command(Mail::new(envelope.from().cloned(), params))?;
        for to in envelope.to() {
            conn.command(Rcpt::new(to.clone(), vec![]))?;
        }
        conn.command(Data)?;
        conn.command(DataBody(data))?;
        Ok(())
    }

    /// Delivers one message; `name` names its file in the `.eml` folder. Returns once the SMTP
    /// server accepted it (or the file is complete on disk).
    pub fn send(&mut self, message: &Message, name: &str) -> Result<(), SendError> {
        let settings = match &self.transport {
            Transport::Files(dir) => return write_file(dir, message, name),
            Transport::Smtp(s) => s.clone(),
        };
        let data = String::from_utf8(message.formatted())
            .map_err(|_| SendError::permanent("the message is not UTF-8"))?;
        // A connection idle for a while may have been closed by the server: check it first.
        if self.last_used.elapsed() > Duration::from_secs(10) {
            if let Some(c) = self.conn.as_mut() {
                if !c.test_connected() {
                    self.drop_connection();
                }
            }
        }
        let reused = self.conn.is_some();
        let result = self.try_send(&settings, message, &data);
        let result = match result {
            // The server closed a kept connection between messages: once more on a new one.
            Err(e) if reused && !e.is_permanent() && !e.is_transient() => {
                self.try_send(&settings, message, &data)
            }
            other => other,
        };
        self.last_used = Instant::now();
        result.map_err(send_error)
    }

    fn try_send(
        &mut self,
        settings: &SmtpSettings,
        message: &Message,
        data: &str,
    ) -> Result<(), lettre::transport::smtp::Error> {
        if self.conn.is_none() {
            self.conn = Some(Self::connect(settings)?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        let result = Self::transaction(conn, message, data);
        if result.is_err() {
            // The transaction is in an unknown state: start the next one on a new connection.
            self.drop_connection();
        }
        result
    }

    fn drop_connection(&mut self) {
        if let Some(mut c) = self.conn.take() {
            c.abort();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(mut c) = self.conn.take() {
            let _ = c.quit();
        }
    }
}

fn write_file(dir: &std::path::Path, message: &Message, name: &str) -> Result<(), SendError> {
    let path = dir.join(format!("{name}.eml"));
    let tmp = dir.join(format!(".{name}.eml.tmp"));
    std::fs::write(&tmp, message.formatted())
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| SendError::transient(format!("{}: {e}", path.display())))?;
    tracing::info!(file = %path.display(), "notification written as a file (no SMTP server configured)");
    Ok(())
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
    fn data_is_dot_stuffed_and_terminated() {
        assert_eq!(DataBody("a\r\n.b\r\n").to_string(), "a\r\n..b\r\n.\r\n");
        assert_eq!(DataBody(".x").to_string(), "..x\r\n.\r\n");
    }

    #[test]
    fn domain_of_an_address() {
        assert_eq!(domain_of("docflow@so.gov.vn"), "so.gov.vn");
        assert_eq!(domain_of("nobody"), "localhost");
    }
}
