//! Writing notifications into the outbox (inside the caller's transaction), preferences,
//! the dead-letter API, digests and the reminder scanner.

use super::model::{
    Delivery, DigestItem, DigestVars, Language, NewNotification, Notification, NotificationKind,
    NotificationRow, PreferenceRow, Preferences, SettingsRow, State, Vars, DIGEST_KIND,
};
use super::queries;
use super::schedule::{self, Notice, OpenTask};
use crate::audit::{self, Action, AuditContext};
use crate::db::{self, DbConn};
use crate::error::{ApiError, ErrorCode};
use chrono::NaiveDateTime;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};

/// Default hour of the daily digest, Vietnam time.
pub const DEFAULT_DIGEST_HOUR: i32 = 8;

/// Whether an urgency (`documents.urgency`) is khẩn or above: always sent at once.
pub fn is_urgent(urgency: &str) -> bool {
    matches!(urgency, "urgent" | "very_urgent" | "flash")
}

/// Writes a notification into the outbox. Call it inside the transaction of the action that
/// causes it: the notification exists exactly when the action is committed.
///
/// Resolves the recipient's address, language and choice for this kind, freezes the message's
/// variables (document type, symbol, subject, urgency, deadline, sender, link path) and inserts
/// one outbox row: `pending` (sent at once), `held` (for the daily digest), or nothing when the
/// recipient turned the kind off or has no usable address. Urgent documents are always sent
/// at once.
pub fn enqueue(conn: &mut DbConn, n: &NewNotification) -> Result<(), ApiError> {
    enqueue_keyed(conn, n, None).map(|_| ())
}

/// Like [`enqueue`], written at most once per `dedupe_key`; true when a row was written.
pub fn enqueue_keyed(
    conn: &mut DbConn,
    n: &NewNotification,
    dedupe_key: Option<&str>,
) -> Result<bool, ApiError> {
    if let Some(key) = dedupe_key {
        if queries::dedupe_key_exists(conn, key)? {
            return Ok(false);
        }
    }
    let Some(recipient) = queries::recipient_with_choices(conn, &n.recipient_id, n.kind.as_str())?
    else {
        return Err(ApiError::validation("recipient_id", "names no user"));
    };
    if !recipient.active || !recipient.email.contains('@') {
        tracing::info!(
            recipient = %n.recipient_id, kind = n.kind.as_str(),
            "notification not written: the recipient is inactive or has no email address"
        );
        return Ok(false);
    }
    let language = recipient.language.unwrap_or_default();
    let digest_hour = recipient.digest_hour.unwrap_or(DEFAULT_DIGEST_HOUR);
    let delivery = recipient.delivery.unwrap_or_default();

    let mut vars = Vars {
        recipient_name: recipient.full_name,
        comment: n.comment.clone().unwrap_or_default(),
        ..Vars::default()
    };
    if let Some(doc_id) = &n.document_id {
        document_vars(conn, doc_id, n.kind, language, &mut vars)?;
    }
    if let Some(deadline) = n.deadline {
        vars.deadline = schedule::deadline_text(deadline);
    }
    if let Some(actor) = &n.actor_id {
        vars.sender_name = queries::full_name(conn, actor)?.unwrap_or_default();
    }
    vars.path = match (&n.task_id, &n.document_id) {
        (Some(t), _) => format!("/tasks/{t}"),
        (None, Some(d)) => format!("/documents/{d}"),
        (None, None) => "/".into(),
    };
    let urgent = is_urgent(&vars.urgency);
    let now = db::now();
    let (state, due_at) = match (delivery, urgent) {
        (_, true) | (Delivery::Immediate, false) => (State::Pending, now),
        (Delivery::Digest, false) => (State::Held, schedule::next_digest_at(now, digest_hour)),
        (Delivery::Off, false) => return Ok(false),
    };
    let row = NotificationRow {
        id: uuid::Uuid::new_v4().to_string(),
        kind: n.kind.as_str().to_string(),
        recipient_id: Some(n.recipient_id.clone()),
        recipient_email: recipient.email,
        language,
        document_id: n.document_id.clone(),
        task_id: n.task_id.clone(),
        actor_id: n.actor_id.clone(),
        vars: serde_json::to_string(&vars).map_err(ApiError::internal)?,
        urgent,
        state,
        message_id: None,
        attempts: 0,
        due_at,
        claimed_until: None,
        last_error: None,
        dedupe_key: dedupe_key.map(str::to_string),
        digest_id: None,
        created_at: now,
        sent_at: None,
    };
    queries::insert(conn, &row)?;
    Ok(true)
}

/// The document's part of a message's variables (type, symbol, subject, urgency, deadline,
/// the issued PDF); false for a classified document, whose subject and file stay in docflow.
fn document_vars(
    conn: &mut DbConn,
    doc_id: &str,
    kind: NotificationKind,
    language: Language,
    vars: &mut Vars,
) -> Result<bool, ApiError> {
    let Some(doc) = queries::document_facts(conn, doc_id)? else {
        return Err(ApiError::validation("document_id", "names no document"));
    };
    vars.document_type = doc.type_name;
    vars.symbol = doc.symbol;
    // Email leaves the office in clear: a classified document's subject and file stay in
    // docflow, the message only says that one awaits the recipient.
    vars.subject = if doc.classified {
        confidential_subject(language).to_string()
    } else {
        doc.subject
    };
    vars.urgency = doc.urgency;
    if let Some(d) = doc.handling_deadline {
        vars.deadline = d.format("%d/%m/%Y").to_string();
    }
    if kind == NotificationKind::DocumentIssued && !doc.classified {
        vars.attachment = queries::latest_version(conn, doc_id)?;
    }
    Ok(!doc.classified)
}

/// An issued document for an address outside the office: one of the recipients (nơi nhận) of
/// its recipients list, written as `Name <address>` or a bare address.
#[derive(Debug, Clone)]
pub struct ExternalIssued {
    /// The address, as it will be written to.
    pub email: String,
    /// The name it is addressed to (the organisation's), or the address.
    pub name: String,
    pub document_id: String,
    /// Who issued it.
    pub actor_id: Option<String>,
}

/// Writes a `document_issued` message with the issued PDF to an address outside the office
/// (no user, so no preferences: Vietnamese, at once), inside the caller's transaction. A
/// classified document goes to nobody outside (false); its file never leaves by email.
pub fn enqueue_external_issued(conn: &mut DbConn, n: &ExternalIssued) -> Result<bool, ApiError> {
    let language = Language::Vi;
    let mut vars = Vars {
        recipient_name: n.name.clone(),
        ..Vars::default()
    };
    if !document_vars(
        conn,
        &n.document_id,
        NotificationKind::DocumentIssued,
        language,
        &mut vars,
    )? {
        return Ok(false);
    }
    if let Some(actor) = &n.actor_id {
        vars.sender_name = queries::full_name(conn, actor)?.unwrap_or_default();
    }
    vars.path = format!("/documents/{}", n.document_id);
    let now = db::now();
    let row = NotificationRow {
        id: uuid::Uuid::new_v4().to_string(),
        kind: NotificationKind::DocumentIssued.as_str().to_string(),
        recipient_id: None,
        recipient_email: n.email.clone(),
        language,
        document_id: Some(n.document_id.clone()),
        task_id: None,
        actor_id: n.actor_id.clone(),
        urgent: is_urgent(&vars.urgency),
        vars: serde_json::to_string(&vars).map_err(ApiError::internal)?,
        state: State::Pending,
        message_id: None,
        attempts: 0,
        due_at: now,
        claimed_until: None,
        last_error: None,
        dedupe_key: None,
        digest_id: None,
        created_at: now,
        sent_at: None,
    };
    queries::insert(conn, &row)?;
    Ok(true)
}

/// The outbox, newest first, optionally in one state (admin).
pub fn list(
    conn: &mut DbConn,
    state: Option<&str>,
    limit: Option<i64>,
) -> Result<Vec<Notification>, ApiError> {
    let state = match state {
        None => None,
        Some(s) => Some(State::parse(s).ok_or_else(|| {
            ApiError::validation(
                "state",
                "must be one of: pending, held, sent, dead, digested",
            )
        })?),
    };
    let limit = limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit", "must be between 1 and 500"));
    }
    Ok(queries::list(conn, state, limit)?
        .into_iter()
        .map(Notification::from)
        .collect())
}

/// Puts a dead notification back in the queue, due at once (admin).
pub fn retry(conn: &mut DbConn, ctx: &AuditContext, id: &str) -> Result<Notification, ApiError> {
    db::write_tx(conn, |conn| {
        let row = queries::find(conn, id)?.ok_or(ApiError::NotFound("notification"))?;
        if row.state != State::Dead {
            return Err(ApiError::conflict(
                ErrorCode::NotificationNotDead,
                format!(
                    "only dead notifications can be retried; this one is {}",
                    row.state.as_str()
                ),
            ));
        }
        queries::requeue(conn, id, db::now())?;
        audit::record(
            conn,
            ctx,
            Action::NotificationRetried,
            "notification",
            Some(id),
            json!({"kind": row.kind, "recipient_id": row.recipient_id, "attempts": row.attempts, "last_error": row.last_error}),
        )?;
        let row = queries::find(conn, id)?.ok_or(ApiError::NotFound("notification"))?;
        Ok(Notification::from(row))
    })
}

/// A user's preferences (defaults when never saved).
pub fn preferences(conn: &mut DbConn, user_id: &str) -> Result<Preferences, ApiError> {
    let settings = queries::settings(conn, user_id)?;
    let mut kinds: BTreeMap<NotificationKind, Delivery> = NotificationKind::ALL
        .into_iter()
        .map(|k| (k, Delivery::Immediate))
        .collect();
    for p in queries::preferences(conn, user_id)? {
        if let Some(k) = NotificationKind::parse(&p.kind) {
            kinds.insert(k, p.delivery);
        }
    }
    Ok(Preferences {
        language: settings.as_ref().map(|s| s.language).unwrap_or_default(),
        digest_hour: settings
            .map(|s| s.digest_hour)
            .unwrap_or(DEFAULT_DIGEST_HOUR),
        kinds,
    })
}

/// Saves a user's preferences; kinds left out go back to `immediate`.
pub fn save_preferences(
    conn: &mut DbConn,
    ctx: &AuditContext,
    user_id: &str,
    p: Preferences,
) -> Result<Preferences, ApiError> {
    if !(0..=23).contains(&p.digest_hour) {
        return Err(ApiError::validation(
            "digest_hour",
            "must be between 0 and 23",
        ));
    }
    db::write_tx(conn, |conn| {
        let settings = SettingsRow {
            user_id: user_id.to_string(),
            language: p.language,
            digest_hour: p.digest_hour,
            updated_at: db::now(),
        };
        let rows: Vec<PreferenceRow> = p
            .kinds
            .iter()
            .filter(|(_, d)| **d != Delivery::Immediate)
            .map(|(k, d)| PreferenceRow {
                user_id: user_id.to_string(),
                kind: k.as_str().to_string(),
                delivery: *d,
            })
            .collect();
        queries::save_preferences(conn, &settings, &rows)?;
        let kinds: BTreeMap<&str, &str> = p
            .kinds
            .iter()
            .map(|(k, d)| (k.as_str(), d.as_str()))
            .collect();
        audit::record(
            conn,
            ctx,
            Action::NotificationPreferencesUpdated,
            "user",
            Some(user_id),
            json!({"language": p.language.as_str(), "digest_hour": p.digest_hour, "kinds": kinds}),
        )?;
        preferences(conn, user_id)
    })
}

/// Records a change of the manual clock (admin).
pub fn record_clock_set(
    conn: &mut DbConn,
    ctx: &AuditContext,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    db::write_tx(conn, |conn| {
        audit::record(
            conn,
            ctx,
            Action::NotificationClockSet,
            "notification_clock",
            None,
            json!({"now": now.format("%Y-%m-%dT%H:%M:%S").to_string()}),
        )?;
        Ok(())
    })
}

/// Folds every held notification whose digest time has come into one digest message per
/// recipient. Returns the number of digests written.
pub fn assemble_digests(conn: &mut DbConn, now: NaiveDateTime) -> Result<usize, ApiError> {
    let held = queries::held_due(conn, now, 2000)?;
    let mut by_recipient: BTreeMap<String, Vec<NotificationRow>> = BTreeMap::new();
    for row in held {
        // Only users' rows are held (an outside address is written pending).
        let Some(recipient_id) = row.recipient_id.clone() else {
            continue;
        };
        by_recipient.entry(recipient_id).or_default().push(row);
    }
    let mut written = 0;
    for (recipient_id, rows) in by_recipient {
        let result = db::write_tx(conn, |conn| -> Result<(), ApiError> {
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let digest_id = uuid::Uuid::new_v4().to_string();
            // Another process may have folded some of them meanwhile: then leave it to it.
            if queries::mark_digested(conn, &ids, &digest_id)? != ids.len() {
                return Err(ApiError::conflict(
                    ErrorCode::ConcurrentUpdate,
                    "folded elsewhere",
                ));
            }
            let mut items = Vec::with_capacity(rows.len());
            let mut recipient_name = String::new();
            for r in &rows {
                let vars: Vars = serde_json::from_str(&r.vars).unwrap_or_default();
                recipient_name = vars.recipient_name.clone();
                items.push(DigestItem {
                    kind: r.kind.clone(),
                    vars,
                });
            }
            let first = &rows[0];
            let vars = DigestVars {
                recipient_name,
                items,
            };
            let at = db::now();
            queries::insert(
                conn,
                &NotificationRow {
                    id: digest_id,
                    kind: DIGEST_KIND.to_string(),
                    recipient_id: Some(recipient_id.clone()),
                    recipient_email: first.recipient_email.clone(),
                    language: first.language,
                    document_id: None,
                    task_id: None,
                    actor_id: None,
                    vars: serde_json::to_string(&vars).map_err(ApiError::internal)?,
                    urgent: false,
                    state: State::Pending,
                    message_id: None,
                    attempts: 0,
                    due_at: at,
                    claimed_until: None,
                    last_error: None,
                    dedupe_key: None,
                    digest_id: None,
                    created_at: at,
                    sent_at: None,
                },
            )?;
            Ok(())
        });
        match result {
            Ok(()) => written += 1,
            Err(ApiError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

/// What an email says instead of a classified document's subject.
fn confidential_subject(language: Language) -> &'static str {
    match language {
        Language::Vi => "(văn bản mật — mời Anh/Chị xem trong docflow)",
        Language::En => "(a confidential document awaits you in docflow)",
    }
}

/// The open tasks with a deadline that the reminder scanner looks at: pending tasks that ask
/// for an answer (approvers, opinions, incoming leads and cooperating units; not "for
/// information"), with their assignees' deputies in force at `now` and the head of the unit
/// that owns the task.
pub fn open_tasks(conn: &mut DbConn, now: NaiveDateTime) -> Result<Vec<OpenTask>, ApiError> {
    let rows = crate::workflow::queries::open_tasks_with_deadline(conn)?;
    let units = crate::accounts::queries::units_by_id(conn)?;
    // One query for every deputy in force, not one per task.
    let mut deputies: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::new();
    for d in crate::workflow::queries::substitutions_in_force(conn, now)? {
        deputies.entry(d.user_id).or_default().push(d.deputy_id);
    }
    let mut out = Vec::with_capacity(rows.len());
    for t in rows {
        let mut assignee_ids = vec![t.assignee_id.clone()];
        for d in deputies.get(&t.assignee_id).into_iter().flatten() {
            if !assignee_ids.contains(d) {
                assignee_ids.push(d.clone());
            }
        }
        let unit_head_id = t
            .unit_id
            .as_ref()
            .and_then(|u| units.get(u))
            .and_then(|u| u.head_user_id.clone());
        out.push(OpenTask {
            task_id: t.task_id,
            document_id: Some(t.document_id),
            assignee_ids,
            unit_head_id,
            assigned_by: t.drafter_id,
            deadline: t.deadline,
        });
    }
    Ok(out)
}

/// The keys of the due notices a process has already written, or found written (by itself
/// or another node): a later scan skips them instead of trying each again. Without it every
/// overdue task cost a write transaction per recipient at every scan, forever (at 100,000
/// documents, thousands a second for nothing).
///
/// The notices are committed without waiting for PostgreSQL's WAL flush, so a database crash,
/// restart or failover may lose the last ones after this process saw them committed: the keys
/// are kept only while the database server is the one that was running when they were written
/// ([`KnownNotices::on_server`]), and the next scan after a change tries every due notice again.
#[derive(Debug, Default)]
pub struct KnownNotices(HashSet<String>, Option<String>);

impl KnownNotices {
    /// Forgets every key when the database server is not the one the keys were written on
    /// (`db::server_started`: PostgreSQL's start time), then remembers this one.
    pub fn on_server(&mut self, started: Option<String>) {
        if self.1 != started {
            self.0.clear();
            self.1 = started;
        }
    }

    /// How many keys are remembered (those of the last scan's due notices).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Writes the reminders, overdue notices and escalations due at `now` for these tasks, each
/// at most once (keyed by task, deadline, step and recipient). Returns how many were written.
pub fn scan_deadlines(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lead_hours: i64,
    cal: &crate::workflow::calendar::Calendar,
    tasks: &[OpenTask],
) -> Result<usize, ApiError> {
    scan_deadlines_with(
        conn,
        now,
        lead_hours,
        cal,
        tasks,
        &mut KnownNotices::default(),
    )
    .map(|s| s.written)
}

/// What one deadline scan did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// Notices written (newly due).
    pub written: usize,
    /// Write transactions tried (notices due and not known to be written already).
    pub tried: usize,
}

/// As [`scan_deadlines`], skipping the notices in `known`; afterwards `known` holds exactly
/// the keys of this scan's due notices (a task done, or yesterday's escalation, drops out, so
/// it stays as small as the set of notices due).
pub fn scan_deadlines_with(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lead_hours: i64,
    cal: &crate::workflow::calendar::Calendar,
    tasks: &[OpenTask],
    known: &mut KnownNotices,
) -> Result<Scanned, ApiError> {
    let mut written = 0;
    let mut tried = 0;
    let mut due = HashSet::new();
    for task in tasks {
        for notice in schedule::due_notices(task.deadline, now, lead_hours, cal) {
            let (kind, recipients): (NotificationKind, Vec<&String>) = match notice {
                Notice::Reminder => (
                    NotificationKind::TaskReminder,
                    task.assignee_ids.iter().collect(),
                ),
                Notice::Overdue => (
                    NotificationKind::TaskOverdue,
                    task.assignee_ids.iter().collect(),
                ),
                Notice::Escalation { .. } => (
                    NotificationKind::TaskEscalated,
                    task.unit_head_id.iter().collect(),
                ),
            };
            for recipient in recipients {
                let key = format!(
                    "task:{}:{}:{}:{}",
                    task.task_id,
                    task.deadline.format("%Y%m%dT%H%M%S"),
                    notice.key(),
                    recipient
                );
                let n = NewNotification {
                    kind,
                    recipient_id: recipient.clone(),
                    document_id: task.document_id.clone(),
                    task_id: Some(task.task_id.clone()),
                    actor_id: task.assigned_by.clone(),
                    comment: None,
                    deadline: Some(task.deadline),
                };
                if !known.0.contains(&key) {
                    tried += 1;
                    // Not waiting for the WAL flush: a notice lost in a database crash is
                    // written again by the next scan (`known` is forgotten when the database
                    // server changes), and its key keeps it from being written twice.
                    let wrote = db::write_tx(conn, |conn| {
                        db::relaxed_commit(conn)?;
                        enqueue_keyed(conn, &n, Some(&key))
                    })?;
                    if wrote {
                        written += 1;
                    }
                }
                due.insert(key);
            }
        }
    }
    known.0 = due;
    Ok(Scanned { written, tried })
}

#[cfg(test)]
mod tests {
    use super::KnownNotices;

    #[test]
    fn known_notices_are_forgotten_when_the_database_server_changes() {
        let mut known = KnownNotices::default();
        known.on_server(Some("2026-12-05 19:00:00+00".into()));
        known.0.insert("task:1:20261205T000000:overdue:u1".into());
        known.on_server(Some("2026-12-05 19:00:00+00".into()));
        assert_eq!(known.len(), 1, "the same server: kept");
        known.on_server(Some("2026-12-05 21:17:03+00".into()));
        assert!(known.is_empty(), "restarted or failed over: forgotten");
        known.0.insert("task:2:20261205T000000:overdue:u1".into());
        known.on_server(None);
        assert!(known.is_empty(), "another backend altogether: forgotten");
    }
}
