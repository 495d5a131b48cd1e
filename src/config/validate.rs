//! Checking every setting once, at start-up: the first bad value is named with its
//! `DOCFLOW_*` variable.

use super::{env_name, err, mail, Config, ConfigError};
use std::net::SocketAddr;
use std::path::Path;

impl Config {
    /// Checks every value; the first bad one is named.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_server()?;
        self.validate_mail_and_storage()?;
        self.validate_notify()?;
        self.validate_signing_and_calendar()
    }

    /// The listener, database, accounts, request limits and logs.
    fn validate_server(&self) -> Result<(), ConfigError> {
        self.bind.parse::<SocketAddr>().map_err(|_| {
            err(
                env_name("bind"),
                format!("'{}' is not an address like 127.0.0.1:8080", self.bind),
            )
        })?;
        self.database()?;
        if !(1..=256).contains(&self.db_pool_size) {
            return Err(err(env_name("db_pool_size"), "must be between 1 and 256"));
        }
        if !(1..=600).contains(&self.db_timeout_secs) {
            return Err(err(
                env_name("db_timeout_secs"),
                "must be between 1 and 600",
            ));
        }
        if !self.admin_password.is_empty() && self.admin_password.chars().count() < 10 {
            return Err(err(
                env_name("admin_password"),
                "must be at least 10 characters",
            ));
        }
        if !(1..=60 * 24 * 90).contains(&self.token_lifetime_minutes) {
            return Err(err(
                env_name("token_lifetime_minutes"),
                "must be between 1 and 129600 (90 days)",
            ));
        }
        if !(1..=1000).contains(&self.login_max_failures) {
            return Err(err(
                env_name("login_max_failures"),
                "must be between 1 and 1000",
            ));
        }
        if !(1..=60 * 24).contains(&self.login_lockout_minutes) {
            return Err(err(
                env_name("login_lockout_minutes"),
                "must be between 1 and 1440",
            ));
        }
        if self.login_slowdown_ms > 10_000 {
            return Err(err(env_name("login_slowdown_ms"), "must be at most 10000"));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.max_json_bytes) {
            return Err(err(
                env_name("max_json_bytes"),
                "must be between 1024 and 67108864",
            ));
        }
        if !(1..=3600).contains(&self.body_timeout_secs) {
            return Err(err(
                env_name("body_timeout_secs"),
                "must be between 1 and 3600",
            ));
        }
        if !(10..=3600).contains(&self.signing_handle_ttl_secs) {
            return Err(err(
                env_name("signing_handle_ttl_secs"),
                "must be between 10 and 3600",
            ));
        }
        if self.remote_signing_poll_ms > 600_000 {
            return Err(err(
                env_name("remote_signing_poll_ms"),
                "must be at most 600000",
            ));
        }
        if self.smartca_sp_id.is_empty() != self.smartca_sp_password.is_empty() {
            return Err(err(
                env_name("smartca_sp_password"),
                "smartca_sp_id and smartca_sp_password are set together",
            ));
        }
        if self.max_upload_bytes < 1024 {
            return Err(err(env_name("max_upload_bytes"), "must be at least 1024"));
        }
        if !(1..=600).contains(&self.pdf_check_timeout_secs) {
            return Err(err(
                env_name("pdf_check_timeout_secs"),
                "must be between 1 and 600",
            ));
        }
        if self.shutdown_timeout_secs > 3600 {
            return Err(err(
                env_name("shutdown_timeout_secs"),
                "must be at most 3600",
            ));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(err(
                env_name("log_format"),
                format!("'{}' is not one of: text, json", self.log_format),
            ));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log_level).is_err() {
            return Err(err(
                env_name("log_level"),
                format!(
                    "'{}' is not a log filter such as info or docflow=debug",
                    self.log_level
                ),
            ));
        }
        Ok(())
    }

    /// The public URL, SMTP and the blob store.
    fn validate_mail_and_storage(&self) -> Result<(), ConfigError> {
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return Err(err(
                env_name("public_url"),
                "must start with http:// or https://",
            ));
        }
        if !self.smtp_url.is_empty() {
            mail::SmtpTarget::parse(&self.smtp_url).map_err(|m| err(env_name("smtp_url"), m))?;
        }
        if self.smtp_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(err(
                env_name("smtp_from"),
                format!("'{}' is not an email address", self.smtp_from),
            ));
        }
        if !(1..=600).contains(&self.smtp_timeout_secs) {
            return Err(err(
                env_name("smtp_timeout_secs"),
                "must be between 1 and 600",
            ));
        }
        if !self.blob_url.is_empty() && crate::storage::s3::parse_url(&self.blob_url).is_none() {
            return Err(err(
                env_name("blob_url"),
                "must be empty (local folder) or s3://BUCKET[/PREFIX] with a valid bucket name",
            ));
        }
        let endpoint_ok = self.s3_endpoint.is_empty()
            || self.s3_endpoint.starts_with("http://")
            || self.s3_endpoint.starts_with("https://");
        if !endpoint_ok {
            return Err(err(
                env_name("s3_endpoint"),
                "must start with http:// or https://",
            ));
        }
        if self.s3_region.trim().is_empty() {
            return Err(err(env_name("s3_region"), "must not be empty"));
        }
        if self.s3_access_key_id.is_empty() != self.s3_secret_access_key.is_empty() {
            return Err(err(
                env_name("s3_secret_access_key"),
                "s3_access_key_id and s3_secret_access_key must be set together",
            ));
        }
        if !self.smtp_ca_file.is_empty() && !Path::new(&self.smtp_ca_file).is_file() {
            return Err(err(
                env_name("smtp_ca_file"),
                format!("no file at '{}'", self.smtp_ca_file),
            ));
        }
        Ok(())
    }

    /// The notification senders, retries and scheduler.
    fn validate_notify(&self) -> Result<(), ConfigError> {
        if self.notify_workers > 64 {
            return Err(err(env_name("notify_workers"), "must be at most 64"));
        }
        if !(1..=1000).contains(&self.notify_batch_size) {
            return Err(err(
                env_name("notify_batch_size"),
                "must be between 1 and 1000",
            ));
        }
        if self.notify_rate > 100_000 {
            return Err(err(
                env_name("notify_rate"),
                "must be between 0 (no limit) and 100000",
            ));
        }
        if !(10..=60_000).contains(&self.notify_poll_ms) {
            return Err(err(
                env_name("notify_poll_ms"),
                "must be between 10 and 60000",
            ));
        }
        if !(0..=1_000_000).contains(&self.search_walk_rows) {
            return Err(err(
                env_name("search_walk_rows"),
                "must be between 0 and 1000000",
            ));
        }
        if !(1..=3600).contains(&self.deadline_scan_secs) {
            return Err(err(
                env_name("deadline_scan_secs"),
                "must be between 1 and 3600",
            ));
        }
        if !(1..=100).contains(&self.notify_max_attempts) {
            return Err(err(
                env_name("notify_max_attempts"),
                "must be between 1 and 100",
            ));
        }
        if !(1..=86_400).contains(&self.notify_retry_base_secs) {
            return Err(err(
                env_name("notify_retry_base_secs"),
                "must be between 1 and 86400",
            ));
        }
        if self.notify_retry_max_secs < self.notify_retry_base_secs
            || self.notify_retry_max_secs > 7 * 86_400
        {
            return Err(err(
                env_name("notify_retry_max_secs"),
                "must be at least notify_retry_base_secs and at most 604800",
            ));
        }
        if self.notify_lease_secs <= self.smtp_timeout_secs || self.notify_lease_secs > 86_400 {
            return Err(err(
                env_name("notify_lease_secs"),
                "must be longer than smtp_timeout_secs and at most 86400",
            ));
        }
        if !(0..=720).contains(&self.reminder_lead_hours) {
            return Err(err(
                env_name("reminder_lead_hours"),
                "must be between 0 and 720",
            ));
        }
        if !matches!(self.notify_clock.as_str(), "system" | "manual") {
            return Err(err(
                env_name("notify_clock"),
                format!("'{}' is not one of: system, manual", self.notify_clock),
            ));
        }
        Ok(())
    }

    /// Timestamps, signing keys and trust roots, the calendar.
    fn validate_signing_and_calendar(&self) -> Result<(), ConfigError> {
        let tsa_ok = self.tsa_url.is_empty()
            || self.tsa_url.starts_with("http://")
            || self.tsa_url.starts_with("https://");
        if !tsa_ok {
            return Err(err(
                env_name("tsa_url"),
                "must start with http:// or https://",
            ));
        }
        if !self.signing_level.is_empty() {
            let level =
                crate::signing::ltv::Level::parse(&self.signing_level).ok_or_else(|| {
                    err(
                        env_name("signing_level"),
                        "must be b-b, b-t, b-lt or b-lta (or empty)",
                    )
                })?;
            if level > crate::signing::ltv::Level::BB && self.tsa_url.is_empty() {
                return Err(err(
                    env_name("signing_level"),
                    format!(
                        "{} needs a timestamp authority: set {}",
                        self.signing_level.to_ascii_lowercase(),
                        env_name("tsa_url")
                    ),
                ));
            }
        }
        if self.signing_key_path.is_empty() != self.signing_cert_path.is_empty() {
            return Err(err(
                env_name("signing_cert_path"),
                "signing_key_path and signing_cert_path must be set together",
            ));
        }
        for (key, list) in [
            ("calendar_extra_holidays", &self.calendar_extra_holidays),
            ("calendar_extra_workdays", &self.calendar_extra_workdays),
        ] {
            crate::workflow::calendar::parse_dates(list).map_err(|m| err(env_name(key), m))?;
        }
        for (key, path) in [
            ("signing_key_path", &self.signing_key_path),
            ("signing_cert_path", &self.signing_cert_path),
        ] {
            if !path.is_empty() && !Path::new(path).is_file() {
                return Err(err(env_name(key), format!("no file at '{path}'")));
            }
        }
        self.trust_roots()?;
        self.office_ca()?;
        Ok(())
    }
}
