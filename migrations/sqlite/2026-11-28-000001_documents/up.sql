-- Documents, their files, registers and yearly counters (issue 4).

-- The managed list of document types (Decree 30, Appendix III); the code goes into symbols.
CREATE TABLE document_types (
    code TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1
);
INSERT INTO document_types (code, name, active) VALUES
    ('NQ', 'Nghị quyết', 1),
    ('QĐ', 'Quyết định', 1),
    ('CT', 'Chỉ thị', 1),
    ('QC', 'Quy chế', 1),
    ('QyĐ', 'Quy định', 1),
    ('TC', 'Thông cáo', 1),
    ('TB', 'Thông báo', 1),
    ('HD', 'Hướng dẫn', 1),
    ('CTr', 'Chương trình', 1),
    ('KH', 'Kế hoạch', 1),
    ('PA', 'Phương án', 1),
    ('ĐA', 'Đề án', 1),
    ('DA', 'Dự án', 1),
    ('BC', 'Báo cáo', 1),
    ('BB', 'Biên bản', 1),
    ('TTr', 'Tờ trình', 1),
    ('HĐ', 'Hợp đồng', 1),
    ('CV', 'Công văn', 1),
    ('CĐ', 'Công điện', 1),
    ('BGN', 'Bản ghi nhớ', 1),
    ('BTT', 'Bản thỏa thuận', 1),
    ('GUQ', 'Giấy ủy quyền', 1),
    ('GM', 'Giấy mời', 1),
    ('GGT', 'Giấy giới thiệu', 1),
    ('GNP', 'Giấy nghỉ phép', 1),
    ('PG', 'Phiếu gửi', 1),
    ('PC', 'Phiếu chuyển', 1),
    ('PB', 'Phiếu báo', 1);

-- Content-addressed files: one row per distinct content, keyed by its SHA-256.
CREATE TABLE blobs (
    sha256 TEXT NOT NULL PRIMARY KEY,
    size BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Registers (sổ văn bản) of a unit.
CREATE TABLE registers (
    id TEXT NOT NULL PRIMARY KEY,
    unit_id TEXT NOT NULL REFERENCES units(id),
    kind TEXT NOT NULL CHECK (kind IN ('incoming', 'outgoing', 'internal')),
    name TEXT NOT NULL,
    symbol_template TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX registers_unit_idx ON registers(unit_id);

-- The last number given per register, series and year; locked by each registration.
CREATE TABLE register_counters (
    register_id TEXT NOT NULL REFERENCES registers(id),
    series TEXT NOT NULL CHECK (series IN ('normal', 'confidential')),
    year INTEGER NOT NULL,
    last_number BIGINT NOT NULL,
    PRIMARY KEY (register_id, series, year)
);

CREATE TABLE documents (
    id TEXT NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('incoming', 'outgoing', 'internal')),
    status TEXT NOT NULL,
    unit_id TEXT NOT NULL REFERENCES units(id),
    created_by TEXT NOT NULL REFERENCES users(id),
    type_code TEXT NOT NULL REFERENCES document_types(code),
    number_symbol TEXT,
    issue_date DATE,
    issue_place TEXT,
    issuer TEXT,
    issuer_search TEXT,
    subject TEXT NOT NULL,
    subject_search TEXT NOT NULL,
    signer_name TEXT,
    signer_position TEXT,
    recipients TEXT NOT NULL,
    urgency TEXT NOT NULL CHECK (urgency IN ('normal', 'urgent', 'very_urgent', 'flash')),
    confidentiality TEXT NOT NULL CHECK (confidentiality IN ('normal', 'confidential', 'secret', 'top_secret')),
    handling_deadline DATE,
    received_at TIMESTAMP,
    received_channel TEXT,
    page_count INTEGER,
    notes TEXT NOT NULL,
    acknowledged_at TIMESTAMP,
    acknowledged_by TEXT REFERENCES users(id),
    returned_at TIMESTAMP,
    return_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX documents_unit_idx ON documents(unit_id, created_at);
CREATE INDEX documents_created_by_idx ON documents(created_by);
CREATE INDEX documents_duplicate_idx ON documents(unit_id, number_symbol, issue_date);

-- The register entry of a document: its number in a register's series and year.
CREATE TABLE document_registrations (
    document_id TEXT NOT NULL PRIMARY KEY REFERENCES documents(id),
    register_id TEXT NOT NULL REFERENCES registers(id),
    series TEXT NOT NULL CHECK (series IN ('normal', 'confidential')),
    year INTEGER NOT NULL,
    number BIGINT NOT NULL,
    symbol TEXT NOT NULL,
    registered_at TIMESTAMP NOT NULL,
    registered_by TEXT REFERENCES users(id)
);
-- The safety net under the counter: a number is given once per register, series and year.
CREATE UNIQUE INDEX document_registrations_number_uq
    ON document_registrations(register_id, series, year, number);
CREATE INDEX document_registrations_time_idx ON document_registrations(register_id, registered_at);

-- Immutable versions of a document's main PDF, numbered from 1.
CREATE TABLE document_versions (
    document_id TEXT NOT NULL REFERENCES documents(id),
    number INTEGER NOT NULL,
    blob_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    size BIGINT NOT NULL,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    pdf_version TEXT,
    page_count INTEGER,
    signable BOOLEAN NOT NULL,
    signable_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (document_id, number)
);

-- Attachments (phụ lục, any file type).
CREATE TABLE document_attachments (
    id TEXT NOT NULL PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents(id),
    blob_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    size BIGINT NOT NULL,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL REFERENCES users(id)
);
CREATE INDEX document_attachments_doc_idx ON document_attachments(document_id);

-- Who may see a document beyond the default rules (the only way to see a confidential one).
CREATE TABLE document_grants (
    document_id TEXT NOT NULL REFERENCES documents(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    granted_by TEXT REFERENCES users(id),
    granted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (document_id, user_id)
);
CREATE INDEX document_grants_user_idx ON document_grants(user_id);
