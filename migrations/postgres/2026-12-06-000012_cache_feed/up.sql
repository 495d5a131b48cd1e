-- Every node keeps recent sessions and inboxes in memory (src/cache). The database itself
-- tells every node what a change touches, so no write path, node or tool can forget to: a
-- trigger names the people ('u:<user id>') and documents ('d:<document id>') whose cached
-- reads a row change touches, and pg_notify hands the names to every node listening on
-- 'docflow_cache' when (and only if) the transaction commits.
CREATE FUNCTION docflow_cache_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME IN ('workflow_tasks') THEN
        IF TG_OP <> 'INSERT' THEN PERFORM pg_notify('docflow_cache', 'u:' || OLD.assignee_id); END IF;
        IF TG_OP <> 'DELETE' THEN PERFORM pg_notify('docflow_cache', 'u:' || NEW.assignee_id); END IF;
    ELSIF TG_TABLE_NAME = 'substitutions' THEN
        IF TG_OP <> 'INSERT' THEN PERFORM pg_notify('docflow_cache', 'u:' || OLD.deputy_id); END IF;
        IF TG_OP <> 'DELETE' THEN PERFORM pg_notify('docflow_cache', 'u:' || NEW.deputy_id); END IF;
    ELSIF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('docflow_cache', 'u:' || OLD.id);
    ELSIF TG_TABLE_NAME IN ('user_roles', 'sessions') THEN
        IF TG_OP <> 'INSERT' THEN PERFORM pg_notify('docflow_cache', 'u:' || OLD.user_id); END IF;
        IF TG_OP <> 'DELETE' THEN PERFORM pg_notify('docflow_cache', 'u:' || NEW.user_id); END IF;
    ELSIF TG_TABLE_NAME = 'documents' THEN
        PERFORM pg_notify('docflow_cache', 'd:' || OLD.id);
    ELSIF TG_TABLE_NAME = 'signing_handles' THEN
        IF TG_OP <> 'INSERT' THEN PERFORM pg_notify('docflow_cache', 'd:' || OLD.document_id); END IF;
        IF TG_OP <> 'DELETE' THEN PERFORM pg_notify('docflow_cache', 'd:' || NEW.document_id); END IF;
    ELSIF TG_TABLE_NAME = 'workflow_stages' THEN
        PERFORM pg_notify('docflow_cache', 'd:' || r.document_id)
            FROM workflow_routes r WHERE r.id = OLD.route_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER cache_changed AFTER INSERT OR UPDATE OR DELETE ON workflow_tasks
    FOR EACH ROW EXECUTE FUNCTION docflow_cache_changed();
CREATE TRIGGER cache_changed AFTER INSERT OR UPDATE OR DELETE ON substitutions
    FOR EACH ROW EXECUTE FUNCTION docflow_cache_changed();
CREATE TRIGGER cache_changed AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION docflow_cache_changed();
CREATE TRIGGER cache_changed AFTER INSERT OR UPDATE OR DELETE ON user_roles
    FOR EACH ROW EXECUTE FUNCTION docflow_cache_changed();
-- A new session is not in any cache yet.
CREATE TRIGGER cache_changed AFTER UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION docflow_cache_changed();
-- A new document is not in any cache yet.
CREATE TRIGGER cache_changed AFTER UPDATE OR DELETE ON documents
    FOR EACH ROW EXECUTE FUNCTION docflow_cache_changed();
CREATE TRIGGER cache_changed AFTER INSERT OR UPDATE OR DELETE ON signing_handles
    FOR EACH ROW EXECUTE FUNCTION docflow_cache_changed();
-- An inbox shows a stage's kind and position; a new stage's tasks are new tasks.
CREATE TRIGGER cache_changed AFTER UPDATE OF kind, position OR DELETE ON workflow_stages
    FOR EACH ROW EXECUTE FUNCTION docflow_cache_changed();
