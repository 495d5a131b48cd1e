DROP INDEX signing_handles_one_pending;
DROP INDEX signing_handles_remote_due;
ALTER TABLE signing_handles DROP COLUMN next_poll_at;
ALTER TABLE signing_handles DROP COLUMN remote_reason;
ALTER TABLE signing_handles DROP COLUMN remote_state;
ALTER TABLE signing_handles DROP COLUMN remote_transaction;
ALTER TABLE signing_handles DROP COLUMN certs_pem;
