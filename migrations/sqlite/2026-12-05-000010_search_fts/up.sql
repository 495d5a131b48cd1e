-- Search on SQLite: the folded subject and issuer of every document in an FTS5 trigram index,
-- which documents::queries::list asks for the rest of a page when walking the listing's order
-- for `search_walk_rows` rows did not fill it (a rare word). It only narrows the candidates:
-- the query still checks each with the same LIKE as the walk, so the index never changes what
-- a search finds, only how fast a rare word is found.
-- A table of its own (not an external-content index over documents' rowid, which VACUUM may
-- renumber since documents.id is text), keyed by the document's id; `id` is not indexed
-- for search.
CREATE VIRTUAL TABLE documents_fts USING fts5(
    id UNINDEXED,
    subject_search,
    issuer_search,
    tokenize = 'trigram'
);

INSERT INTO documents_fts (id, subject_search, issuer_search)
    SELECT id, subject_search, issuer_search FROM documents;

CREATE TRIGGER documents_fts_insert AFTER INSERT ON documents BEGIN
    INSERT INTO documents_fts (id, subject_search, issuer_search)
        VALUES (new.id, new.subject_search, new.issuer_search);
END;

-- docflow writes a document's folded subject and issuer once, at creation, and deletes no
-- document; these two keep the index true should that ever change (each reads the whole
-- index to find the row: `id` is not indexed).
CREATE TRIGGER documents_fts_update AFTER UPDATE OF id, subject_search, issuer_search
    ON documents BEGIN
    DELETE FROM documents_fts WHERE id = old.id;
    INSERT INTO documents_fts (id, subject_search, issuer_search)
        VALUES (new.id, new.subject_search, new.issuer_search);
END;

CREATE TRIGGER documents_fts_delete AFTER DELETE ON documents BEGIN
    DELETE FROM documents_fts WHERE id = old.id;
END;
