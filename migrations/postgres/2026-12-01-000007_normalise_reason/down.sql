ALTER TABLE document_versions DROP COLUMN normalise_reason;
