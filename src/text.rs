//! Which characters a value may hold. Two kinds of text cross the API (see docs/API.md,
//! "Characters"): *names* (a person's name, a username, unit/register/type names, codes, titles,
//! file names, e-mail addresses — anything shown on one line or put in a mail header) hold no
//! control character and no bidirectional control; *free text* (comments, reasons, notes,
//! subjects) may keep line breaks and tabs. No value holds NUL: PostgreSQL cannot store it and
//! SQLite would keep it silently.

use crate::error::ApiError;
use serde_json::Value;

/// JSON keys whose strings are free text; every other string is a name. Passwords are neither:
/// only NUL is refused there (a password is never shown).
const FREE_TEXT_KEYS: &[&str] = &[
    "comment",
    "reason",
    "note",
    "notes",
    "subject",
    "description",
    "summary",
    "content",
    "body",
];
const SECRET_KEYS: &[&str] = &[
    "password",
    "new_password",
    "current_password",
    "old_password",
];

/// Bidirectional controls (embeddings, overrides, isolates, marks): they reorder what a reader
/// sees (`\u{202E}fdp.exe` shows as `exe.pdf`).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Whether `c` may not appear in a name: control characters (C0, DEL, C1), line and paragraph
/// separators, bidirectional controls.
pub fn forbidden_in_name(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') || is_bidi_control(c)
}

/// Whether `c` may not appear in free text: control characters other than tab and line breaks.
pub fn forbidden_in_free_text(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

fn describe(c: char) -> String {
    format!("U+{:04X}", c as u32)
}

/// A name: refused with 422 naming `field` when it holds a character a name may not.
pub fn check_name(field: &str, value: &str) -> Result<(), ApiError> {
    match value.chars().find(|c| forbidden_in_name(*c)) {
        None => Ok(()),
        Some('\0') => Err(nul(field)),
        Some(c) => Err(ApiError::validation(
            field,
            format!(
                "must not contain control or bidirectional characters (found {})",
                describe(c)
            ),
        )),
    }
}

fn nul(field: &str) -> ApiError {
    ApiError::invalid_character(field, "must not contain the NUL character (U+0000)")
}

/// Checks every string of a parsed JSON body (keys included): NUL anywhere is a 400, a name
/// holding a control or bidirectional character (or free text holding a control other than
/// tab and line breaks) a 422; the error names the field by its path (`recipients[1]`).
pub fn check_json(value: &Value) -> Result<(), ApiError> {
    walk(value, &mut String::new(), None)
}

fn walk(value: &Value, path: &mut String, key: Option<&str>) -> Result<(), ApiError> {
    match value {
        Value::String(s) => check_json_string(path, key, s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path, key)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            for (k, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                if k.contains('\0') {
                    return Err(nul(path));
                }
                walk(item, path, Some(k))?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_json_string(path: &str, key: Option<&str>, s: &str) -> Result<(), ApiError> {
    let field = if path.is_empty() { "body" } else { path };
    if s.contains('\0') {
        return Err(nul(field));
    }
    match key {
        Some(k) if SECRET_KEYS.contains(&k) => Ok(()),
        Some(k) if FREE_TEXT_KEYS.contains(&k) => {
            match s.chars().find(|c| forbidden_in_free_text(*c)) {
                None => Ok(()),
                Some(c) => Err(ApiError::validation(
                    field,
                    format!(
                    "must not contain control characters other than tab and line breaks (found {})",
                    describe(c)
                ),
                )),
            }
        }
        _ => check_name(field, s),
    }
}

/// A query string value: no control character at all (400 naming the parameter).
pub fn check_query_value(field: &str, value: &str) -> Result<(), ApiError> {
    match value.chars().find(|c| c.is_control()) {
        None => Ok(()),
        Some('\0') => Err(nul(field)),
        Some(c) => Err(ApiError::invalid_character(
            field,
            format!(
                "must not contain control characters (found {})",
                describe(c)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_free_text_and_secrets() {
        assert!(check_json(&json!({"full_name": "Nguyễn Văn Đức", "comment": "a\nb\tc"})).is_ok());
        let e = check_json(&json!({"full_name": "A\nB"})).unwrap_err();
        assert_eq!(e.code(), "validation_failed");
        assert_eq!(
            e.to_string(),
            "full_name: must not contain control or bidirectional characters (found U+000A)"
        );
        let e = check_json(&json!({"recipients": ["ok", "x\u{0}"]})).unwrap_err();
        assert_eq!(e.code(), "invalid_character");
        assert!(e.to_string().starts_with("recipients[1]:"), "{e}");
        assert!(check_json(&json!({"password": "tab\there"})).is_ok());
        assert_eq!(
            check_json(&json!({"password": "\u{0}"}))
                .unwrap_err()
                .code(),
            "invalid_character"
        );
        assert_eq!(
            check_json(&json!({"a": {"name": "\u{202E}fdp.exe"}}))
                .unwrap_err()
                .to_string(),
            "a.name: must not contain control or bidirectional characters (found U+202E)"
        );
        assert_eq!(
            check_json(&json!({"comment": "\u{1b}[31m"}))
                .unwrap_err()
                .code(),
            "validation_failed"
        );
    }
}
