//! Where messages go: an SMTP server (lettre's SMTP client: connection, STARTTLS/TLS, AUTH,
//! commands), or `.eml` files when none is configured. The settings come parsed from
//! `config::mail` (the `smtp_url` forms are described there).

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, SmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, MailBodyParameter, MailParameter};
use lettre::Message;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::config::mail::{MailSettings, Security, SmtpTarget};

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
    /// The transport the mail settings name: an SMTP server, or `.eml` files in a folder.
    pub fn new(mail: &MailSettings) -> anyhow::Result<Transport> {
        let Some(target) = mail.target.clone() else {
            std::fs::create_dir_all(&mail.outbox_dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", mail.outbox_dir.display()))?;
            return Ok(Transport::Files(mail.outbox_dir.clone()));
        };
        let tls = match target.security {
            Security::None => None,
            Security::StartTls | Security::ImplicitTls => {
                let mut b = TlsParameters::builder(target.host.clone());
                if let Some(ca_file) = &mail.ca_file {
                    let pem = std::fs::read(ca_file)
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
            timeout: mail.timeout,
            hello: ClientId::Domain(domain_of(mail.from.email.as_ref())),
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
