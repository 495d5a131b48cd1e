CREATE TABLE units (
    id TEXT NOT NULL PRIMARY KEY,
    parent_id TEXT REFERENCES units(id),
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX units_parent_idx ON units(parent_id);

CREATE TABLE users (
    id TEXT NOT NULL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    full_name TEXT NOT NULL,
    position_title TEXT NOT NULL,
    email TEXT NOT NULL,
    unit_id TEXT REFERENCES units(id),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX users_unit_idx ON users(unit_id);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'clerk', 'official', 'archivist')),
    PRIMARY KEY (user_id, role)
);

CREATE TABLE sessions (
    id TEXT NOT NULL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    client_ip TEXT
);
CREATE INDEX sessions_user_idx ON sessions(user_id);

CREATE TABLE login_throttle (
    key TEXT NOT NULL PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_start TIMESTAMP NOT NULL,
    locked_until TIMESTAMP
);

CREATE TABLE audit_events (
    seq BIGINT NOT NULL PRIMARY KEY,
    occurred_at TIMESTAMP NOT NULL,
    actor_id TEXT,
    on_behalf_of TEXT,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT,
    client_ip TEXT,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_events_object_idx ON audit_events(object_type, object_id);

-- One row: the chain's head, locked by every append so appends are serialised.
CREATE TABLE audit_head (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    last_seq BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, last_seq, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
