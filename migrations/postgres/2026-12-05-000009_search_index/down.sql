-- The pg_trgm extension stays: it may have been there before, for something else.
DROP INDEX documents_issuer_trgm_idx;
DROP INDEX documents_subject_trgm_idx;
