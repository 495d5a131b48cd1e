-- Signing credentials (issue 14): whose key, kept how. See docs/SIGNING.md, "Signing credentials".

-- A credential belongs to one user, or (the organisation seal) to one unit. `server` rows hold
-- the certificate chain and the private key encrypted under a key derived from the KEK and the
-- holder's PIN (never the key in plain, never the PKCS#12 file); `token` rows only the
-- certificate; `csc` rows only the remote service's settings (JSON). A deleted row keeps its
-- certificate facts for the record, its encrypted key is wiped.
CREATE TABLE signing_credentials (
    id TEXT NOT NULL PRIMARY KEY,
    owner_user_id TEXT REFERENCES users(id),
    owner_unit_id TEXT REFERENCES units(id),
    kind TEXT NOT NULL CHECK (kind IN ('server', 'token', 'csc')),
    label TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'deleted')),
    cert_der BYTEA,
    chain_der BYTEA,
    subject TEXT,
    issuer TEXT,
    serial TEXT,
    not_before TIMESTAMP,
    not_after TIMESTAMP,
    cert_sha256 TEXT,
    key_ciphertext BYTEA,
    key_nonce BYTEA,
    key_salt BYTEA,
    key_kdf TEXT,
    kek_id TEXT,
    csc_config TEXT,
    pin_failures INTEGER NOT NULL,
    locked_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP,
    CHECK ((owner_user_id IS NULL) <> (owner_unit_id IS NULL))
);
CREATE INDEX signing_credentials_user_idx ON signing_credentials(owner_user_id, created_at);
-- One active seal per unit: a new one replaces the old in the same transaction.
CREATE UNIQUE INDEX signing_credentials_one_seal_uq ON signing_credentials(owner_unit_id)
    WHERE status = 'active';

-- The handwritten-signature image of a user, or the red seal image of a unit: a PNG in the
-- file store (content-addressed, like document files), one per owner.
CREATE TABLE signature_images (
    id TEXT NOT NULL PRIMARY KEY,
    owner_user_id TEXT REFERENCES users(id),
    owner_unit_id TEXT REFERENCES units(id),
    sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    size BIGINT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK ((owner_user_id IS NULL) <> (owner_unit_id IS NULL))
);
CREATE UNIQUE INDEX signature_images_user_uq ON signature_images(owner_user_id);
CREATE UNIQUE INDEX signature_images_unit_uq ON signature_images(owner_unit_id);
