-- Email notifications (issue 6): the durable outbox and each user's choices.

-- The outbox. A row is written in the same transaction as the action that causes it and is
-- sent by a worker: `pending` rows are claimed (claimed_until is the lease: a sender that dies
-- mid-send leaves the row due again once it passes), `sent` only after the SMTP server accepted
-- it, `dead` after the last failed attempt. `held` rows wait for the recipient's daily digest and
-- become `digested` when folded into one (digest_id names the digest row).
CREATE TABLE notifications (
    id TEXT NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL,
    recipient_id TEXT NOT NULL REFERENCES users(id),
    recipient_email TEXT NOT NULL,
    language TEXT NOT NULL CHECK (language IN ('vi', 'en')),
    document_id TEXT REFERENCES documents(id),
    task_id TEXT,
    actor_id TEXT REFERENCES users(id),
    vars TEXT NOT NULL,
    urgent BOOLEAN NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'held', 'sent', 'dead', 'digested')),
    message_id TEXT,
    attempts INTEGER NOT NULL,
    due_at TIMESTAMP NOT NULL,
    claimed_until TIMESTAMP,
    last_error TEXT,
    dedupe_key TEXT,
    digest_id TEXT,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX notifications_due_idx ON notifications(state, due_at);
CREATE INDEX notifications_recipient_idx ON notifications(recipient_id, created_at);
CREATE UNIQUE INDEX notifications_message_id_uq ON notifications(message_id);
-- Reminders and escalations are written once per task and step.
CREATE UNIQUE INDEX notifications_dedupe_uq ON notifications(dedupe_key);

-- Per user: language of the emails and the hour (Vietnam time) of the daily digest.
CREATE TABLE notification_settings (
    user_id TEXT NOT NULL PRIMARY KEY REFERENCES users(id),
    language TEXT NOT NULL CHECK (language IN ('vi', 'en')),
    digest_hour INTEGER NOT NULL CHECK (digest_hour BETWEEN 0 AND 23),
    updated_at TIMESTAMP NOT NULL
);

-- Per user and kind: immediately, in the daily digest, or not at all (absent: immediately).
CREATE TABLE notification_preferences (
    user_id TEXT NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL,
    delivery TEXT NOT NULL CHECK (delivery IN ('immediate', 'digest', 'off')),
    PRIMARY KEY (user_id, kind)
);
