-- Search (issue 13; docs/OPERATIONS.md, "Speed under load"): `?q=` and `?issuer=` look for
-- the folded text anywhere in the folded subject or issuer (`LIKE '%…%'`), which no B-tree
-- index answers: a rare word read every visible document. Trigram indexes (pg_trgm, shipped
-- with PostgreSQL and a trusted extension since PostgreSQL 13: the database's owner may
-- create it) answer such a LIKE from the three-character runs of the pattern; the planner
-- uses them when they are cheaper than walking the date index (a rare word), not when the
-- word is everywhere.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX documents_subject_trgm_idx ON documents USING gin (subject_search gin_trgm_ops);
CREATE INDEX documents_issuer_trgm_idx ON documents USING gin (issuer_search gin_trgm_ops);
