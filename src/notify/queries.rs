//! SQL of notifications through diesel (the claim with `FOR UPDATE SKIP LOCKED` is in `db/`).

use super::model::{
    AttachmentRef, Delivery, Language, NotificationRow, PreferenceRow, SettingsRow, State,
};
use crate::db::schema::{
    document_registrations, document_types, document_versions, documents, notification_preferences,
    notification_settings, notifications, users,
};
use crate::db::DbConn;
use crate::documents::model::Confidentiality;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::Error;

/// What a message says about its recipient, and their choices.
pub struct Recipient {
    pub email: String,
    pub full_name: String,
    pub active: bool,
    /// Language of their emails, when they chose one.
    pub language: Option<Language>,
    /// Hour of their digest, when they chose one.
    pub digest_hour: Option<i32>,
    /// Their choice for the kind asked about, when they made one.
    pub delivery: Option<Delivery>,
}

/// The recipient with their language, digest hour and choice for `kind` (one query: this runs
/// inside every action that notifies).
pub fn recipient_with_choices(
    conn: &mut DbConn,
    user_id: &str,
    kind: &str,
) -> Result<Option<Recipient>, Error> {
    users::table
        .left_join(notification_settings::table.on(notification_settings::user_id.eq(users::id)))
        .left_join(
            notification_preferences::table.on(notification_preferences::user_id
                .eq(users::id)
                .and(notification_preferences::kind.eq(kind))),
        )
        .filter(users::id.eq(user_id))
        .select((
            users::email,
            users::full_name,
            users::active,
            notification_settings::language.nullable(),
            notification_settings::digest_hour.nullable(),
            notification_preferences::delivery.nullable(),
        ))
        .first::<(
            String,
            String,
            bool,
            Option<Language>,
            Option<i32>,
            Option<Delivery>,
        )>(conn)
        .optional()
        .map(|r| {
            r.map(
                |(email, full_name, active, language, digest_hour, delivery)| Recipient {
                    email,
                    full_name,
                    active,
                    language,
                    digest_hour,
                    delivery,
                },
            )
        })
}

/// A user's full name.
pub fn full_name(conn: &mut DbConn, user_id: &str) -> Result<Option<String>, Error> {
    users::table
        .find(user_id)
        .select(users::full_name)
        .first(conn)
        .optional()
}

/// A user's settings row, when they saved one.
pub fn settings(conn: &mut DbConn, user_id: &str) -> Result<Option<SettingsRow>, Error> {
    notification_settings::table
        .find(user_id)
        .select(SettingsRow::as_select())
        .first(conn)
        .optional()
}

/// Every delivery choice of a user.
pub fn preferences(conn: &mut DbConn, user_id: &str) -> Result<Vec<PreferenceRow>, Error> {
    notification_preferences::table
        .filter(notification_preferences::user_id.eq(user_id))
        .select(PreferenceRow::as_select())
        .load(conn)
}

/// Replaces a user's settings and choices.
pub fn save_preferences(
    conn: &mut DbConn,
    settings: &SettingsRow,
    prefs: &[PreferenceRow],
) -> Result<(), Error> {
    diesel::delete(notification_settings::table.find(&settings.user_id)).execute(conn)?;
    diesel::insert_into(notification_settings::table)
        .values(settings)
        .execute(conn)?;
    diesel::delete(
        notification_preferences::table
            .filter(notification_preferences::user_id.eq(&settings.user_id)),
    )
    .execute(conn)?;
    for p in prefs {
        diesel::insert_into(notification_preferences::table)
            .values(p)
            .execute(conn)?;
    }
    Ok(())
}

/// What a message says about a document.
pub struct DocumentFacts {
    pub type_name: String,
    pub symbol: String,
    pub subject: String,
    pub urgency: String,
    pub handling_deadline: Option<chrono::NaiveDate>,
    pub created_by: String,
    /// Mật or above: its subject and file never go into an email.
    pub classified: bool,
}

/// Type name, number and symbol (the document's own, or its registration's), subject, urgency.
pub fn document_facts(conn: &mut DbConn, id: &str) -> Result<Option<DocumentFacts>, Error> {
    let row = documents::table
        .inner_join(document_types::table.on(document_types::code.eq(documents::type_code)))
        .left_join(document_registrations::table)
        .filter(documents::id.eq(id))
        .select((
            document_types::name,
            documents::number_symbol,
            document_registrations::symbol.nullable(),
            documents::subject,
            documents::urgency,
            documents::handling_deadline,
            documents::created_by,
            documents::confidentiality,
        ))
        .first::<(
            String,
            Option<String>,
            Option<String>,
            String,
            String,
            Option<chrono::NaiveDate>,
            String,
            Confidentiality,
        )>(conn)
        .optional()?;
    Ok(row.map(
        |(type_name, own, registered, subject, urgency, deadline, created_by, confidentiality)| {
            // The sender's symbol of an incoming paper; the register's of our own documents.
            let symbol = own.or(registered).unwrap_or_default();
            DocumentFacts {
                type_name,
                symbol,
                subject,
                urgency,
                handling_deadline: deadline,
                created_by,
                classified: confidentiality != Confidentiality::Normal,
            }
        },
    ))
}

/// The latest version of a document's main file.
pub fn latest_version(conn: &mut DbConn, id: &str) -> Result<Option<AttachmentRef>, Error> {
    document_versions::table
        .filter(document_versions::document_id.eq(id))
        .order(document_versions::number.desc())
        .select((
            document_versions::blob_sha256,
            document_versions::file_name,
            document_versions::content_type,
        ))
        .first::<(String, String, String)>(conn)
        .optional()
        .map(|r| {
            r.map(|(sha256, file_name, content_type)| AttachmentRef {
                sha256,
                file_name,
                content_type,
            })
        })
}

/// Writes an outbox row.
pub fn insert(conn: &mut DbConn, row: &NotificationRow) -> Result<(), Error> {
    diesel::insert_into(notifications::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Whether a row with this once-only key exists.
///
/// Written as SQL text, which diesel does not keep prepared, so PostgreSQL plans it at each
/// call. Prepared, a connection that asked while the outbox was empty kept a plan that walks
/// every row (its generic plan), and a first deadline scan writing tens of thousands of notices
/// read the whole outbox for each (180 million rows in 40 s at 100,000 documents; the test
/// `notify::the_outbox_key_check_stays_an_index_lookup_as_the_outbox_grows`).
pub fn dedupe_key_exists(conn: &mut DbConn, key: &str) -> Result<bool, Error> {
    use diesel::sql_types::Text;
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        #[allow(dead_code)]
        one: i32,
    }
    let found = match conn {
        DbConn::Pg(c) => {
            diesel::sql_query("SELECT 1 AS one FROM notifications WHERE dedupe_key = $1")
                .bind::<Text, _>(key)
                .load::<Found>(c)?
        }
        DbConn::Sqlite(c) => {
            diesel::sql_query("SELECT 1 AS one FROM notifications WHERE dedupe_key = ?")
                .bind::<Text, _>(key)
                .load::<Found>(c)?
        }
    };
    Ok(!found.is_empty())
}

/// One row.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<NotificationRow>, Error> {
    notifications::table
        .find(id)
        .select(NotificationRow::as_select())
        .first(conn)
        .optional()
}

/// Rows by id, in due order.
pub fn load(conn: &mut DbConn, ids: &[String]) -> Result<Vec<NotificationRow>, Error> {
    notifications::table
        .filter(notifications::id.eq_any(ids))
        .order((notifications::due_at.asc(), notifications::id.asc()))
        .select(NotificationRow::as_select())
        .load(conn)
}

/// The newest rows, optionally in one state.
pub fn list(
    conn: &mut DbConn,
    state: Option<State>,
    limit: i64,
) -> Result<Vec<NotificationRow>, Error> {
    let mut q = notifications::table
        .select(NotificationRow::as_select())
        .order((notifications::created_at.desc(), notifications::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(s) = state {
        q = q.filter(notifications::state.eq(s));
    }
    q.load(conn)
}

/// Marks a claimed row sent, unless it left `pending` meanwhile.
pub fn mark_sent(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> Result<usize, Error> {
    diesel::update(
        notifications::table
            .filter(notifications::id.eq(id))
            .filter(notifications::state.eq(State::Pending)),
    )
    .set((
        notifications::state.eq(State::Sent),
        notifications::sent_at.eq(at),
        notifications::claimed_until.eq(None::<NaiveDateTime>),
        notifications::last_error.eq(None::<String>),
    ))
    .execute(conn)
}

/// Records a failed attempt: due again at `retry_at`, or dead when `retry_at` is none.
pub fn mark_failed(
    conn: &mut DbConn,
    id: &str,
    error: &str,
    retry_at: Option<NaiveDateTime>,
) -> Result<usize, Error> {
    let target = notifications::table
        .filter(notifications::id.eq(id))
        .filter(notifications::state.eq(State::Pending));
    let error: String = error.chars().take(2000).collect();
    match retry_at {
        Some(at) => diesel::update(target)
            .set((
                notifications::due_at.eq(at),
                notifications::claimed_until.eq(None::<NaiveDateTime>),
                notifications::last_error.eq(error),
            ))
            .execute(conn),
        None => diesel::update(target)
            .set((
                notifications::state.eq(State::Dead),
                notifications::claimed_until.eq(None::<NaiveDateTime>),
                notifications::last_error.eq(error),
            ))
            .execute(conn),
    }
}

/// Gives claimed rows back untouched (a sender stopping mid-batch): due at once, the attempt
/// not counted.
pub fn release(conn: &mut DbConn, ids: &[String]) -> Result<usize, Error> {
    diesel::update(
        notifications::table
            .filter(notifications::id.eq_any(ids))
            .filter(notifications::state.eq(State::Pending)),
    )
    .set((
        notifications::claimed_until.eq(None::<NaiveDateTime>),
        notifications::attempts.eq(notifications::attempts - 1),
    ))
    .execute(conn)
}

/// Puts a dead row back in the queue.
pub fn requeue(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> Result<usize, Error> {
    diesel::update(
        notifications::table
            .filter(notifications::id.eq(id))
            .filter(notifications::state.eq(State::Dead)),
    )
    .set((
        notifications::state.eq(State::Pending),
        notifications::attempts.eq(0),
        notifications::due_at.eq(at),
        notifications::claimed_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)
}

/// Held rows whose digest time has come (oldest first).
pub fn held_due(
    conn: &mut DbConn,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<NotificationRow>, Error> {
    notifications::table
        .filter(notifications::state.eq(State::Held))
        .filter(notifications::due_at.le(now))
        .order((
            notifications::recipient_id.asc(),
            notifications::created_at.asc(),
        ))
        .limit(limit)
        .select(NotificationRow::as_select())
        .load(conn)
}

/// Folds held rows into a digest; returns how many were still held.
pub fn mark_digested(conn: &mut DbConn, ids: &[String], digest_id: &str) -> Result<usize, Error> {
    diesel::update(
        notifications::table
            .filter(notifications::id.eq_any(ids))
            .filter(notifications::state.eq(State::Held)),
    )
    .set((
        notifications::state.eq(State::Digested),
        notifications::digest_id.eq(digest_id),
    ))
    .execute(conn)
}
