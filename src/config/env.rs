//! Reading `DOCFLOW_*` environment variables over the defaults and the TOML file.

use super::{env_name, err, Config, ConfigError};

impl Config {
    pub(super) fn apply_env(
        &mut self,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        fn set<T: std::str::FromStr>(
            slot: &mut T,
            key: &str,
            env: &impl Fn(&str) -> Option<String>,
            expect: &str,
        ) -> Result<(), ConfigError> {
            let name = env_name(key);
            if let Some(raw) = env(&name) {
                *slot = raw
                    .trim()
                    .parse()
                    .map_err(|_| err(&name, format!("'{raw}' is not {expect}")))?;
            }
            Ok(())
        }
        let text = "a text";
        let int = "a whole number";
        set(&mut self.bind, "bind", env, text)?;
        // DATABASE_URL is the conventional name; DOCFLOW_DATABASE_URL wins when both are set.
        if let Some(url) = env("DATABASE_URL") {
            self.database_url = url;
        }
        set(&mut self.database_url, "database_url", env, text)?;
        set(&mut self.data_dir, "data_dir", env, "a folder path")?;
        set(&mut self.db_pool_size, "db_pool_size", env, int)?;
        set(&mut self.db_timeout_secs, "db_timeout_secs", env, int)?;
        set(&mut self.admin_password, "admin_password", env, text)?;
        set(
            &mut self.token_lifetime_minutes,
            "token_lifetime_minutes",
            env,
            int,
        )?;
        set(&mut self.login_max_failures, "login_max_failures", env, int)?;
        set(
            &mut self.login_lockout_minutes,
            "login_lockout_minutes",
            env,
            int,
        )?;
        set(&mut self.login_slowdown_ms, "login_slowdown_ms", env, int)?;
        set(&mut self.max_json_bytes, "max_json_bytes", env, int)?;
        set(&mut self.max_upload_bytes, "max_upload_bytes", env, int)?;
        set(&mut self.body_timeout_secs, "body_timeout_secs", env, int)?;
        set(
            &mut self.signing_handle_ttl_secs,
            "signing_handle_ttl_secs",
            env,
            int,
        )?;
        set(
            &mut self.remote_signing_poll_ms,
            "remote_signing_poll_ms",
            env,
            int,
        )?;
        set(&mut self.smartca_sp_id, "smartca_sp_id", env, text)?;
        set(
            &mut self.smartca_sp_password,
            "smartca_sp_password",
            env,
            text,
        )?;
        set(&mut self.blob_dir, "blob_dir", env, text)?;
        set(&mut self.blob_url, "blob_url", env, text)?;
        set(&mut self.s3_endpoint, "s3_endpoint", env, text)?;
        set(&mut self.s3_region, "s3_region", env, text)?;
        set(&mut self.s3_access_key_id, "s3_access_key_id", env, text)?;
        set(
            &mut self.s3_secret_access_key,
            "s3_secret_access_key",
            env,
            text,
        )?;
        set(
            &mut self.pdf_check_timeout_secs,
            "pdf_check_timeout_secs",
            env,
            int,
        )?;
        set(
            &mut self.shutdown_timeout_secs,
            "shutdown_timeout_secs",
            env,
            int,
        )?;
        set(&mut self.log_format, "log_format", env, text)?;
        set(&mut self.log_level, "log_level", env, text)?;
        set(&mut self.public_url, "public_url", env, text)?;
        set(&mut self.smtp_url, "smtp_url", env, text)?;
        set(&mut self.smtp_from, "smtp_from", env, text)?;
        set(&mut self.smtp_timeout_secs, "smtp_timeout_secs", env, int)?;
        set(&mut self.smtp_ca_file, "smtp_ca_file", env, text)?;
        set(&mut self.notify_workers, "notify_workers", env, int)?;
        set(&mut self.notify_batch_size, "notify_batch_size", env, int)?;
        set(&mut self.notify_poll_ms, "notify_poll_ms", env, int)?;
        set(&mut self.notify_rate, "notify_rate", env, int)?;
        set(&mut self.deadline_scan_secs, "deadline_scan_secs", env, int)?;
        set(&mut self.search_walk_rows, "search_walk_rows", env, int)?;
        set(
            &mut self.notify_max_attempts,
            "notify_max_attempts",
            env,
            int,
        )?;
        set(
            &mut self.notify_retry_base_secs,
            "notify_retry_base_secs",
            env,
            int,
        )?;
        set(
            &mut self.notify_retry_max_secs,
            "notify_retry_max_secs",
            env,
            int,
        )?;
        set(&mut self.notify_lease_secs, "notify_lease_secs", env, int)?;
        set(
            &mut self.reminder_lead_hours,
            "reminder_lead_hours",
            env,
            int,
        )?;
        set(&mut self.notify_clock, "notify_clock", env, text)?;
        set(&mut self.tsa_url, "tsa_url", env, text)?;
        set(&mut self.signing_level, "signing_level", env, text)?;
        set(&mut self.signing_key_path, "signing_key_path", env, text)?;
        set(&mut self.signing_cert_path, "signing_cert_path", env, text)?;
        set(&mut self.signing_kek_path, "signing_kek_path", env, text)?;
        set(&mut self.trust_roots_path, "trust_roots_path", env, text)?;
        set(&mut self.office_ca_path, "office_ca_path", env, text)?;
        set(
            &mut self.office_ca_password,
            "office_ca_password",
            env,
            text,
        )?;
        set(
            &mut self.calendar_builtin_holidays,
            "calendar_builtin_holidays",
            env,
            "true or false",
        )?;
        set(&mut self.read_cache, "read_cache", env, "true or false")?;
        set(
            &mut self.calendar_extra_holidays,
            "calendar_extra_holidays",
            env,
            text,
        )?;
        set(
            &mut self.calendar_extra_workdays,
            "calendar_extra_workdays",
            env,
            text,
        )?;
        Ok(())
    }
}
