-- Issue 14's remaining pieces.
-- `document_issued` also goes to the external recipients of the recipients list (nơi nhận):
-- email addresses, not users, so an outbox row may name no user. SQLite cannot drop a NOT NULL:
-- the table is rebuilt (nothing references it).
CREATE TABLE notifications_new (
    id TEXT NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL,
    recipient_id TEXT REFERENCES users(id),
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
INSERT INTO notifications_new SELECT id, kind, recipient_id, recipient_email, language,
    document_id, task_id, actor_id, vars, urgent, state, message_id, attempts, due_at,
    claimed_until, last_error, dedupe_key, digest_id, created_at, sent_at FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_new RENAME TO notifications;
CREATE INDEX notifications_due_idx ON notifications(state, due_at);
CREATE INDEX notifications_recipient_idx ON notifications(recipient_id, created_at);
CREATE UNIQUE INDEX notifications_message_id_uq ON notifications(message_id);
CREATE UNIQUE INDEX notifications_dedupe_uq ON notifications(dedupe_key);
-- What the signature check of an incoming electronic document found at registration
-- (`valid`, `invalid`, `unsigned`; NULL: not checked — paper, or registered before this), and when.
ALTER TABLE documents ADD COLUMN signatures_check TEXT
    CHECK (signatures_check IN ('valid', 'invalid', 'unsigned'));
ALTER TABLE documents ADD COLUMN signatures_checked_at TIMESTAMP;
