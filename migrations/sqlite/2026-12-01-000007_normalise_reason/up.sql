-- A clean first signature (issue 12, part 3; docs/SIGNING.md, "Normalising before the first
-- signature"): why the upload check found that a version is rewritten clean before its first
-- signature (a hybrid cross-reference, a repaired structure); NULL when it is signed as it is.
ALTER TABLE document_versions ADD COLUMN normalise_reason TEXT;
