//! The checks of account input: names, usernames, email addresses, unit codes, passwords and
//! unit references.

use super::super::{password, queries};
use crate::db::DbConn;
use crate::error::ApiError;

// Every text field of accounts is a name (one line, shown in mail headers); the API checks
// bodies already (crate::text), this also holds for `docflow user add`.
pub(super) fn required_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    crate::text::check_name(field, value)?;
    let v = value.trim();
    if v.is_empty() {
        return Err(ApiError::validation(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(ApiError::validation(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(v.to_string())
}

pub(super) fn optional_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    crate::text::check_name(field, value)?;
    let v = value.trim();
    if v.chars().count() > max {
        return Err(ApiError::validation(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(v.to_string())
}

pub(super) fn valid_username(name: &str) -> Result<String, ApiError> {
    let ok_len = (3..=64).contains(&name.len());
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok_len && ok_chars {
        Ok(name.to_string())
    } else {
        Err(ApiError::validation(
            "username",
            "must be 3–64 characters: lower-case letters, digits, '.', '_' or '-'",
        ))
    }
}

pub(super) fn valid_email(email: &str) -> Result<String, ApiError> {
    let e = email.trim();
    let ok = e.len() <= 254
        && !e.chars().any(char::is_whitespace)
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if ok {
        Ok(e.to_string())
    } else {
        Err(ApiError::validation(
            "email",
            "must be an email address like name@example.gov.vn",
        ))
    }
}

pub(super) fn valid_unit_code(code: &str) -> Result<String, ApiError> {
    let c = code.trim();
    let ok = (1..=32).contains(&c.len())
        && c.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
    if ok {
        Ok(c.to_string())
    } else {
        Err(ApiError::validation(
            "code",
            "must be 1–32 characters: letters, digits, '-', '_' or '.'",
        ))
    }
}

pub(super) fn valid_password(field: &str, pw: &str) -> Result<(), ApiError> {
    match password::policy_problem(pw) {
        Some(problem) => Err(ApiError::validation(field, problem)),
        None => Ok(()),
    }
}

fn valid_uuid(field: &str, id: &str) -> Result<(), ApiError> {
    uuid::Uuid::parse_str(id)
        .map(|_| ())
        .map_err(|_| ApiError::validation(field, "must be a unit id (UUID)"))
}

/// Checks that `unit_id` names an existing active unit.
pub(super) fn require_active_unit(
    conn: &mut DbConn,
    field: &str,
    unit_id: &str,
) -> Result<(), ApiError> {
    valid_uuid(field, unit_id)?;
    match queries::find_unit(conn, unit_id)? {
        Some(u) if u.active => Ok(()),
        Some(_) => Err(ApiError::validation(field, "names a deactivated unit")),
        None => Err(ApiError::validation(field, "names no existing unit")),
    }
}
