//! Notification kinds, outbox rows, preferences and the DTOs of the notification API.

use crate::db::schema::{notification_preferences, notification_settings, notifications};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// What happened that a user is told about. The string forms are stored and must never change.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    TaskAssigned,
    TaskReminder,
    TaskOverdue,
    TaskEscalated,
    Returned,
    Rejected,
    RouteFinished,
    DocumentSigned,
    DocumentIssued,
    IncomingAssigned,
}

impl NotificationKind {
    /// Every kind, in a fixed order.
    pub const ALL: [NotificationKind; 10] = [
        NotificationKind::TaskAssigned,
        NotificationKind::TaskReminder,
        NotificationKind::TaskOverdue,
        NotificationKind::TaskEscalated,
        NotificationKind::Returned,
        NotificationKind::Rejected,
        NotificationKind::RouteFinished,
        NotificationKind::DocumentSigned,
        NotificationKind::DocumentIssued,
        NotificationKind::IncomingAssigned,
    ];

    /// Stored name (also the template file name).
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::TaskAssigned => "task_assigned",
            NotificationKind::TaskReminder => "task_reminder",
            NotificationKind::TaskOverdue => "task_overdue",
            NotificationKind::TaskEscalated => "task_escalated",
            NotificationKind::Returned => "returned",
            NotificationKind::Rejected => "rejected",
            NotificationKind::RouteFinished => "route_finished",
            NotificationKind::DocumentSigned => "document_signed",
            NotificationKind::DocumentIssued => "document_issued",
            NotificationKind::IncomingAssigned => "incoming_assigned",
        }
    }

    /// The kind a stored name stands for.
    pub fn parse(s: &str) -> Option<NotificationKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A notification to write into the outbox, inside the caller's transaction.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub kind: NotificationKind,
    /// `users.id` of the recipient.
    pub recipient_id: String,
    pub document_id: Option<String>,
    pub task_id: Option<String>,
    /// Who caused it.
    pub actor_id: Option<String>,
    pub comment: Option<String>,
    pub deadline: Option<NaiveDateTime>,
}

/// The life of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum State {
    /// Waiting to be sent (or being sent, while its lease runs).
    Pending,
    /// Waiting for the recipient's daily digest.
    Held,
    /// Accepted by the SMTP server (or written as a file).
    Sent,
    /// Given up after the last attempt; an admin may retry it.
    Dead,
    /// Folded into a digest message.
    Digested,
}

text_enum!(State { Pending => "pending", Held => "held", Sent => "sent", Dead => "dead", Digested => "digested" });

/// Language of a user's emails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum Language {
    /// Vietnamese (the default).
    #[default]
    Vi,
    /// English.
    En,
}

text_enum!(Language { Vi => "vi", En => "en" });

/// How a user wants one kind of notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum Delivery {
    /// One email as soon as it happens (the default).
    #[default]
    Immediate,
    /// Collected into one email a day at the chosen hour (urgent ones still go at once).
    Digest,
    /// Not sent (urgent ones still go at once).
    Off,
}

text_enum!(Delivery { Immediate => "immediate", Digest => "digest", Off => "off" });

/// The frozen variables of one message: what the templates show, fixed when the action happened.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Vars {
    pub recipient_name: String,
    pub document_type: String,
    pub symbol: String,
    pub subject: String,
    /// `normal`, `urgent`, `very_urgent`, `flash`.
    pub urgency: String,
    /// `DD/MM/YYYY HH:MM` Vietnam time, a day-end deadline as `DD/MM/YYYY` (its last day), or empty.
    pub deadline: String,
    pub sender_name: String,
    pub comment: String,
    /// Path of the link, appended to `public_url` when the message is rendered.
    pub path: String,
    /// The file attached (the issued PDF), when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<AttachmentRef>,
}

/// A stored file to attach.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttachmentRef {
    pub sha256: String,
    pub file_name: String,
    pub content_type: String,
}

/// The email address in one entry of a document's recipients list (nơi nhận): `Name <address>`
/// or a bare `address`, as `(name, address)` (the name is the address when none is given);
/// none for an entry without one ("UBND tỉnh"). The address must be one lettre can write to.
pub fn recipient_address(entry: &str) -> Option<(String, String)> {
    let entry = entry.trim();
    let (name, address) = match entry.strip_suffix('>').and_then(|e| e.rsplit_once('<')) {
        Some((name, address)) => (name.trim().trim_matches('"').trim(), address.trim()),
        None => ("", entry),
    };
    let parsed: lettre::Address = address.parse().ok()?;
    let address = parsed.to_string();
    let name = if name.is_empty() {
        address.clone()
    } else {
        name.to_string()
    };
    Some((name, address))
}

/// The variables of a digest: the held notifications it gathers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DigestVars {
    pub recipient_name: String,
    pub items: Vec<DigestItem>,
}

/// One line of a digest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DigestItem {
    pub kind: String,
    pub vars: Vars,
}

/// Stored kind of a digest row (not a [`NotificationKind`]: it gathers them).
pub const DIGEST_KIND: &str = "digest";

/// An outbox row.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = notifications)]
pub struct NotificationRow {
    pub id: String,
    pub kind: String,
    /// The user written to; none for an address outside the office (a recipient of an issued
    /// document's recipients list).
    pub recipient_id: Option<String>,
    pub recipient_email: String,
    pub language: Language,
    pub document_id: Option<String>,
    pub task_id: Option<String>,
    pub actor_id: Option<String>,
    pub vars: String,
    pub urgent: bool,
    pub state: State,
    pub message_id: Option<String>,
    pub attempts: i32,
    pub due_at: NaiveDateTime,
    pub claimed_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub dedupe_key: Option<String>,
    pub digest_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

/// A user's notification settings row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = notification_settings)]
pub struct SettingsRow {
    pub user_id: String,
    pub language: Language,
    pub digest_hour: i32,
    pub updated_at: NaiveDateTime,
}

/// A user's choice for one kind.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = notification_preferences)]
pub struct PreferenceRow {
    pub user_id: String,
    pub kind: String,
    pub delivery: Delivery,
}

/// An outbox entry as admins see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Notification {
    pub id: String,
    /// A notification kind, or `digest`.
    pub kind: String,
    /// The user written to; none for an address outside the office.
    pub recipient_id: Option<String>,
    pub recipient_email: String,
    pub document_id: Option<String>,
    pub task_id: Option<String>,
    pub state: State,
    pub urgent: bool,
    /// The Message-ID header; set at the first attempt and kept for every resend.
    pub message_id: Option<String>,
    pub attempts: i32,
    /// When the next attempt is due (UTC).
    #[serde(with = "crate::datetime::z")]
    pub due_at: NaiveDateTime,
    pub last_error: Option<String>,
    #[serde(with = "crate::datetime::z")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::datetime::z_opt")]
    pub sent_at: Option<NaiveDateTime>,
}

impl From<NotificationRow> for Notification {
    fn from(r: NotificationRow) -> Self {
        Notification {
            state: r.state,
            id: r.id,
            kind: r.kind,
            recipient_id: r.recipient_id,
            recipient_email: r.recipient_email,
            document_id: r.document_id,
            task_id: r.task_id,
            urgent: r.urgent,
            message_id: r.message_id,
            attempts: r.attempts,
            due_at: r.due_at,
            last_error: r.last_error,
            created_at: r.created_at,
            sent_at: r.sent_at,
        }
    }
}

/// A user's notification preferences.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Language of the emails.
    pub language: Language,
    /// Hour of the daily digest, Vietnam time (0–23).
    pub digest_hour: i32,
    /// Delivery per kind; kinds left out are sent immediately. Urgent documents (khẩn and above)
    /// are always sent immediately.
    #[schema(value_type = BTreeMap<String, Delivery>)]
    pub kinds: BTreeMap<NotificationKind, Delivery>,
}

/// Query of the outbox listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only rows in this state (`pending`, `held`, `sent`, `dead`, `digested`).
    pub state: Option<String>,
    /// At most this many rows, newest first (1–500, default 100).
    pub limit: Option<i64>,
}

/// The notification clock (manual clock only).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockSetting {
    /// The time the clock shows (`2026-12-01T08:00:00Z`; without an offset, UTC).
    #[serde(with = "crate::datetime::z")]
    pub now: NaiveDateTime,
}

#[cfg(test)]
mod tests {
    use super::recipient_address;

    #[test]
    fn recipient_addresses() {
        assert_eq!(
            recipient_address("Sở Tài chính <stc@hanoi.gov.vn>"),
            Some(("Sở Tài chính".into(), "stc@hanoi.gov.vn".into()))
        );
        assert_eq!(
            recipient_address("  ubnd@tinh.gov.vn "),
            Some(("ubnd@tinh.gov.vn".into(), "ubnd@tinh.gov.vn".into()))
        );
        assert_eq!(recipient_address("UBND tỉnh"), None);
        assert_eq!(recipient_address("Lưu: VT"), None);
        assert_eq!(recipient_address("Sở <not an address>"), None);
        assert_eq!(recipient_address("a@b@c"), None);
    }

    #[test]
    fn people_first_names_exactly_the_clocks_kinds_as_its_index_does() {
        use super::{NotificationKind as K, DIGEST_KIND};
        let sql = crate::db::PEOPLE_KINDS_SQL;
        let clocks = [K::TaskReminder, K::TaskOverdue, K::TaskEscalated];
        let quoted: Vec<String> = clocks
            .iter()
            .map(|k| k.as_str())
            .chain([DIGEST_KIND])
            .map(|k| format!("'{k}'"))
            .collect();
        assert_eq!(sql, format!("kind NOT IN ({})", quoted.join(", ")));
        // Every other kind is a person's: none of them appears in the list.
        for k in K::ALL.iter().filter(|k| !clocks.contains(k)) {
            assert!(!sql.contains(&format!("'{}'", k.as_str())), "{k:?}");
        }
        // The planners use the partial index only when the query's text implies its predicate.
        for up in [
            include_str!(
                "../../migrations/postgres/2026-12-05-000011_notification_priority/up.sql"
            ),
            include_str!("../../migrations/sqlite/2026-12-05-000011_notification_priority/up.sql"),
        ] {
            assert!(
                up.contains(&format!("WHERE state = 'pending' AND {sql};")),
                "{up}"
            );
        }
    }
}
