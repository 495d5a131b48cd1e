DROP TABLE signing_handles;
ALTER TABLE workflow_stages DROP COLUMN signing;
