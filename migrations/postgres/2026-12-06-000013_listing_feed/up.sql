-- Listings and searches from memory (src/cache, `Caches::listings`). A page of the document
-- listing shows what its viewer may see (documents::access): the documents of their unit if
-- they are its clerk, everything archived if they are an archivist, and the documents they
-- drafted, were granted, hold or acted on a task of (or stand in for an open task of). So a
-- change to a document names, besides 'd:<id>' (cache_feed):
--   'n:<unit id>'  the clerks' listings of its unit,
--   'archived'     the archivists' listings, when it is or was archived,
--   'l:<user id>'  the listings of its drafter, of everyone granted it and of everyone who
--                  holds or acted on a task of it (a deputy's listing follows the people they
--                  stand in for: 'l:' and 'u:' of each).
-- A new grant names its grantee; a registration (number, symbol, register shown in the
-- listing) names what a change to its document names; a deputy acting on a task names the
-- deputy ('l:'; tasks already name their assignee, 'u:').

-- What a change to `doc` (a row as it was or is) touches in the listings.
CREATE FUNCTION docflow_listing_names(doc documents) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('docflow_cache', 'n:' || doc.unit_id);
    PERFORM pg_notify('docflow_cache', 'l:' || doc.created_by);
    IF doc.status = 'archived' THEN
        PERFORM pg_notify('docflow_cache', 'archived');
    END IF;
    PERFORM pg_notify('docflow_cache', 'l:' || p.user_id) FROM (
        SELECT t.assignee_id AS user_id FROM workflow_tasks t WHERE t.document_id = doc.id
        UNION SELECT t.acting_user_id FROM workflow_tasks t
            WHERE t.document_id = doc.id AND t.acting_user_id IS NOT NULL
        UNION SELECT g.user_id FROM document_grants g WHERE g.document_id = doc.id
    ) p;
END
$$;

CREATE FUNCTION docflow_listing_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'documents' THEN
        IF TG_OP <> 'INSERT' THEN PERFORM docflow_listing_names(OLD); END IF;
        IF TG_OP <> 'DELETE' THEN PERFORM docflow_listing_names(NEW); END IF;
    ELSIF TG_TABLE_NAME = 'document_registrations' THEN
        IF TG_OP <> 'INSERT' THEN
            PERFORM docflow_listing_names(d) FROM documents d WHERE d.id = OLD.document_id;
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM docflow_listing_names(d) FROM documents d WHERE d.id = NEW.document_id;
        END IF;
    ELSIF TG_TABLE_NAME = 'document_grants' THEN
        IF TG_OP <> 'INSERT' THEN PERFORM pg_notify('docflow_cache', 'l:' || OLD.user_id); END IF;
        IF TG_OP <> 'DELETE' THEN PERFORM pg_notify('docflow_cache', 'l:' || NEW.user_id); END IF;
    ELSIF TG_TABLE_NAME = 'workflow_tasks' THEN
        IF TG_OP <> 'INSERT' AND OLD.acting_user_id IS NOT NULL THEN
            PERFORM pg_notify('docflow_cache', 'l:' || OLD.acting_user_id);
        END IF;
        IF TG_OP <> 'DELETE' AND NEW.acting_user_id IS NOT NULL THEN
            PERFORM pg_notify('docflow_cache', 'l:' || NEW.acting_user_id);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER listing_changed AFTER INSERT OR UPDATE OR DELETE ON documents
    FOR EACH ROW EXECUTE FUNCTION docflow_listing_changed();
CREATE TRIGGER listing_changed AFTER INSERT OR UPDATE OR DELETE ON document_registrations
    FOR EACH ROW EXECUTE FUNCTION docflow_listing_changed();
CREATE TRIGGER listing_changed AFTER INSERT OR UPDATE OR DELETE ON document_grants
    FOR EACH ROW EXECUTE FUNCTION docflow_listing_changed();
-- Only when a deputy's acting changes (most task writes do not touch it).
CREATE TRIGGER listing_changed_insert AFTER INSERT ON workflow_tasks
    FOR EACH ROW WHEN (NEW.acting_user_id IS NOT NULL)
    EXECUTE FUNCTION docflow_listing_changed();
CREATE TRIGGER listing_changed_update AFTER UPDATE ON workflow_tasks
    FOR EACH ROW WHEN (OLD.acting_user_id IS DISTINCT FROM NEW.acting_user_id)
    EXECUTE FUNCTION docflow_listing_changed();
CREATE TRIGGER listing_changed_delete AFTER DELETE ON workflow_tasks
    FOR EACH ROW WHEN (OLD.acting_user_id IS NOT NULL)
    EXECUTE FUNCTION docflow_listing_changed();
