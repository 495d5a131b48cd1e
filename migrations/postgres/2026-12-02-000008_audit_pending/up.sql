-- Audit events waiting to be chained (docs/ARCHITECTURE.md, "The audit chain on PostgreSQL").
-- On PostgreSQL a change's transaction writes its events here, taking no lock, and the chainer
-- (one per node, serialised by the audit_head row) moves them into audit_events in id order,
-- giving each its seq and hash. Until then the row is as durable as the change it records.
CREATE TABLE audit_pending (
    id BIGSERIAL PRIMARY KEY,
    occurred_at TIMESTAMP NOT NULL,
    actor_id TEXT,
    on_behalf_of TEXT,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT,
    client_ip TEXT,
    details TEXT NOT NULL
);
