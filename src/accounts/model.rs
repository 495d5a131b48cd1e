//! Types of the accounts domain: ids, roles, rows and the shapes the API reads and writes.

use crate::db::schema::{units, users};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// Id of a user (UUID text).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct UserId(pub String);

/// Id of a unit (UUID text).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct UnitId(pub String);

/// What a user may do. Several roles may be held at once.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum Role {
    /// Manages users, units and settings.
    Admin,
    /// Văn thư: registers and issues papers.
    Clerk,
    /// Lãnh đạo / chuyên viên: drafts, reviews, approves, signs.
    Official,
    /// Lưu trữ: keeps and retrieves signed records.
    Archivist,
}

text_enum!(Role { Admin => "admin", Clerk => "clerk", Official => "official", Archivist => "archivist" });

/// A unit row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = units)]
pub struct UnitRow {
    pub id: String,
    pub parent_id: Option<String>,
    pub code: String,
    pub name: String,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Trưởng đơn vị: "head of unit" assignees and incoming leads resolve to this user.
    pub head_user_id: Option<String>,
}

/// A user row (the password hash never leaves the service).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub full_name: String,
    pub position_title: String,
    pub email: String,
    pub unit_id: Option<String>,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Set when someone else set the password (an admin's reset, the generated first admin
    /// password): the holder must change it before anything else (`PUT /me/password`).
    pub must_change_password: bool,
}

/// A unit as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Unit {
    pub id: UnitId,
    /// Parent unit (department above a division), none for a top unit.
    pub parent_id: Option<UnitId>,
    /// Short code, unique, used in document symbols (e.g. `SLDTBXH`).
    pub code: String,
    pub name: String,
    pub active: bool,
    #[serde(with = "crate::datetime::z")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::datetime::z")]
    pub updated_at: NaiveDateTime,
    /// The unit's head (trưởng đơn vị), when set.
    pub head_user_id: Option<UserId>,
}

impl From<UnitRow> for Unit {
    fn from(r: UnitRow) -> Self {
        Unit {
            head_user_id: r.head_user_id.map(UserId),
            id: UnitId(r.id),
            parent_id: r.parent_id.map(UnitId),
            code: r.code,
            name: r.name,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The unit summary shown inside a user.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnitRef {
    pub id: UnitId,
    pub code: String,
    pub name: String,
}

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub full_name: String,
    /// Position title as printed on signatures (e.g. "Phó Giám đốc").
    pub position_title: String,
    pub email: String,
    pub unit: Option<UnitRef>,
    pub roles: Vec<Role>,
    pub active: bool,
    /// The password was set by someone else; its holder must change it before anything else.
    pub must_change_password: bool,
    #[serde(with = "crate::datetime::z")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::datetime::z")]
    pub updated_at: NaiveDateTime,
}

/// Creating a unit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUnit {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub parent_id: Option<String>,
}

/// Changing a unit; absent fields stay as they are. `parent_id: null` makes it a top unit.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitChanges {
    pub code: Option<String>,
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub parent_id: Option<Option<String>>,
    /// `false` deactivates the unit (refused while it has active users or sub-units).
    pub active: Option<bool>,
    /// The unit's head (an active user); `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub head_user_id: Option<Option<String>>,
}

/// Creating a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 3–64 characters: lower-case letters, digits, `.`, `_`, `-`.
    pub username: String,
    /// At least 10 characters.
    pub password: String,
    pub full_name: String,
    #[serde(default)]
    pub position_title: String,
    pub email: String,
    #[serde(default)]
    pub unit_id: Option<String>,
    #[serde(default)]
    pub roles: Vec<Role>,
}

/// A user changing their own password (`PUT /api/v1/me/password`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password in use now.
    pub current_password: String,
    /// The new one (the same policy as on creation; must differ from the current one).
    pub new_password: String,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordChange { .. }")
    }
}

/// Changing a user; absent fields stay as they are. `unit_id: null` removes the unit.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChanges {
    pub full_name: Option<String>,
    pub position_title: Option<String>,
    pub email: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub unit_id: Option<Option<String>>,
    pub roles: Option<Vec<Role>>,
    /// `false` deactivates the account and ends its sessions.
    pub active: Option<bool>,
    /// A new password (at least 10 characters); ends the user's sessions.
    pub password: Option<String>,
}

/// Tells "absent" (outer None) from "null" (Some(None)).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Login request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// A new login token.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Opaque bearer token; send as `Authorization: Bearer <token>`.
    pub token: String,
    /// When the token stops working (UTC).
    #[serde(with = "crate::datetime::z")]
    pub expires_at: NaiveDateTime,
}
