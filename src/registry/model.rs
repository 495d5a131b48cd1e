//! Types of the registry domain.

use crate::db::schema::registers;
use crate::documents::model::Kind;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Id of a register (UUID text).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct RegisterId(pub String);

/// Numbering series inside a register: classified documents are numbered apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum Series {
    /// Thường.
    Normal,
    /// Mật, tối mật, tuyệt mật.
    Confidential,
}

text_enum!(Series { Normal => "normal", Confidential => "confidential" });

/// A register row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = registers)]
pub struct RegisterRow {
    pub id: String,
    pub unit_id: String,
    pub kind: Kind,
    pub name: String,
    pub symbol_template: String,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A register as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Register {
    pub id: RegisterId,
    pub unit_id: String,
    pub kind: Kind,
    pub name: String,
    /// E.g. `{number}/{type_code}-{org_code}`.
    pub symbol_template: String,
    pub active: bool,
    #[serde(with = "crate::datetime::z")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::datetime::z")]
    pub updated_at: NaiveDateTime,
}

impl From<RegisterRow> for Register {
    fn from(r: RegisterRow) -> Self {
        Register {
            kind: r.kind,
            id: RegisterId(r.id),
            unit_id: r.unit_id,
            name: r.name,
            symbol_template: r.symbol_template,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Creating a register.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRegister {
    /// The unit it belongs to; a clerk may leave it out (their own unit) and may name no other.
    #[serde(default)]
    pub unit_id: Option<String>,
    pub kind: Kind,
    pub name: String,
    /// Placeholders: `{number}` (required; two digits at least, `01`), `{type_code}`,
    /// `{org_code}` (the unit's code), `{year}`. Default `{number}/{type_code}-{org_code}`.
    #[serde(default)]
    pub symbol_template: Option<String>,
}

/// Changing a register; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterChanges {
    pub name: Option<String>,
    pub symbol_template: Option<String>,
    pub active: Option<bool>,
}

/// Placeholders a symbol template may use.
pub const PLACEHOLDERS: &[&str] = &["number", "type_code", "org_code", "year"];

/// The default template.
pub const DEFAULT_TEMPLATE: &str = "{number}/{type_code}-{org_code}";

/// Checks a template: `{number}` present, only known placeholders, braces balanced.
pub fn check_template(t: &str) -> Result<(), String> {
    if t.trim().is_empty() || t.chars().count() > 100 {
        return Err("must be 1–100 characters".into());
    }
    let mut rest = t;
    let mut has_number = false;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| "has a '{' without its '}'".to_string())?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}}; use {{number}}, {{type_code}}, {{org_code}} or {{year}}"
            ));
        }
        has_number |= name == "number";
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err("has a '}' without its '{'".into());
    }
    if !has_number {
        return Err("must contain {number}".into());
    }
    Ok(())
}

/// Fills a template. Numbers below 10 are written with a leading zero (Decree 30: from 01).
pub fn render_symbol(
    template: &str,
    number: i64,
    type_code: &str,
    org_code: &str,
    year: i32,
) -> String {
    template
        .replace("{number}", &format!("{number:02}"))
        .replace("{type_code}", type_code)
        .replace("{org_code}", org_code)
        .replace("{year}", &year.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert!(check_template(DEFAULT_TEMPLATE).is_ok());
        assert!(check_template("{number}/{year}/{type_code}").is_ok());
        assert!(check_template("{type_code}").is_err());
        assert!(check_template("{number}/{colour}").is_err());
        assert!(check_template("{number").is_err());
        assert!(check_template("number}").is_err());
        assert_eq!(
            render_symbol(DEFAULT_TEMPLATE, 5, "QĐ", "SLĐTBXH", 2026),
            "05/QĐ-SLĐTBXH"
        );
        assert_eq!(
            render_symbol(DEFAULT_TEMPLATE, 123, "CV", "UBND", 2026),
            "123/CV-UBND"
        );
    }
}
