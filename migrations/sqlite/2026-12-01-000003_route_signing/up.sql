-- Signing in the route. How a stage's signing is done: whether a `sign` stage needs a digital
-- signature, where its stamp goes. JSON (workflow::model::StageSigning).
ALTER TABLE workflow_stages ADD COLUMN signing TEXT NOT NULL DEFAULT '{}';

-- A signature prepared for a USB token (POST /tasks/{id}/sign/prepare): bound to the user, the
-- task, the credential and the exact version signed over; single use, until expires_at. `plan`
-- is the JSON of the stamp and options, so `complete` makes the very bytes that were signed.
CREATE TABLE signing_handles (
    id TEXT NOT NULL PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES workflow_tasks(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    credential_id TEXT NOT NULL REFERENCES signing_credentials(id),
    document_id TEXT NOT NULL REFERENCES documents(id),
    parent_version INTEGER NOT NULL,
    plan TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX signing_handles_task ON signing_handles(task_id);
