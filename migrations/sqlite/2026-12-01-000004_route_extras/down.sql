ALTER TABLE documents DROP COLUMN signatures_checked_at;
ALTER TABLE documents DROP COLUMN signatures_check;
DELETE FROM notifications WHERE recipient_id IS NULL;
CREATE TABLE notifications_old (
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
INSERT INTO notifications_old SELECT id, kind, recipient_id, recipient_email, language,
    document_id, task_id, actor_id, vars, urgent, state, message_id, attempts, due_at,
    claimed_until, last_error, dedupe_key, digest_id, created_at, sent_at FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_old RENAME TO notifications;
CREATE INDEX notifications_due_idx ON notifications(state, due_at);
CREATE INDEX notifications_recipient_idx ON notifications(recipient_id, created_at);
CREATE UNIQUE INDEX notifications_message_id_uq ON notifications(message_id);
CREATE UNIQUE INDEX notifications_dedupe_uq ON notifications(dedupe_key);
