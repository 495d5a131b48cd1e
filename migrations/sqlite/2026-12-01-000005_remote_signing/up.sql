-- Remote signing that waits for the holder (VNPT SmartCA: confirmed in the app on the phone).
-- A `sign` with such a credential prepares its signature as a USB token's is prepared (a
-- signing_handles row with the plan), sends the digest to the provider and keeps the
-- provider's transaction here; the background poller (remote_signing_poll_ms) asks the
-- provider until the holder confirms (the task is completed with that signature), refuses or
-- the transaction expires (the reason is kept, the task stays open). Rows survive a crash, so
-- a confirmed signature is never lost; the poller takes a row by moving next_poll_at, so two
-- nodes do not ask for the same one at once.
-- certs_pem: the certificate and chain the signature was prepared with (PEM, signer first).
-- remote_state: pending | failed | done; none for a USB token's handle.
ALTER TABLE signing_handles ADD COLUMN certs_pem TEXT;
ALTER TABLE signing_handles ADD COLUMN remote_transaction TEXT;
ALTER TABLE signing_handles ADD COLUMN remote_state TEXT;
ALTER TABLE signing_handles ADD COLUMN remote_reason TEXT;
ALTER TABLE signing_handles ADD COLUMN next_poll_at TIMESTAMP;
CREATE INDEX signing_handles_remote_due ON signing_handles(remote_state, next_poll_at);
-- One pending remote signature per task and signer: two `sign` requests at the same moment (a
-- double click) cannot both reach the provider and ask the phone twice; the second finds the
-- first's row and answers it.
CREATE UNIQUE INDEX signing_handles_one_pending ON signing_handles(task_id, user_id)
    WHERE remote_state = 'pending';
