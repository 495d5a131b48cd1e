-- Audit events waiting to be chained: used on PostgreSQL only (see the PostgreSQL migration).
-- SQLite has one writer at a time, so a change appends to the chain directly; the table is
-- here so both databases have the same schema.
CREATE TABLE audit_pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at TIMESTAMP NOT NULL,
    actor_id TEXT,
    on_behalf_of TEXT,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT,
    client_ip TEXT,
    details TEXT NOT NULL
);
