-- Listings and searches from memory (src/cache, `Caches::listings`): what a change touches in
-- the document listings, appended to cache_feed as the PostgreSQL migration of the same name
-- notifies it (read its comment):
--   'n:<unit id>'  the clerks' listings of the document's unit,
--   'archived'     the archivists' listings, when it is or was archived,
--   'l:<user id>'  the listings of its drafter, of everyone granted it, and of everyone who
--                  holds or acted on a task of it.
-- SQLite has no trigger on several events and no functions: one trigger per table and event.

CREATE TRIGGER listing_documents_insert AFTER INSERT ON documents BEGIN
    INSERT INTO cache_feed (key) VALUES ('n:' || NEW.unit_id), ('l:' || NEW.created_by);
    INSERT INTO cache_feed (key) SELECT 'archived' WHERE NEW.status = 'archived';
    INSERT INTO cache_feed (key)
        SELECT 'l:' || assignee_id FROM workflow_tasks WHERE document_id = NEW.id
        UNION SELECT 'l:' || acting_user_id FROM workflow_tasks
            WHERE document_id = NEW.id AND acting_user_id IS NOT NULL
        UNION SELECT 'l:' || user_id FROM document_grants WHERE document_id = NEW.id;
END;

CREATE TRIGGER listing_documents_update AFTER UPDATE ON documents BEGIN
    INSERT INTO cache_feed (key) VALUES ('n:' || OLD.unit_id), ('l:' || OLD.created_by);
    INSERT INTO cache_feed (key) SELECT 'archived' WHERE OLD.status = 'archived';
    INSERT INTO cache_feed (key)
        SELECT 'l:' || assignee_id FROM workflow_tasks WHERE document_id = OLD.id
        UNION SELECT 'l:' || acting_user_id FROM workflow_tasks
            WHERE document_id = OLD.id AND acting_user_id IS NOT NULL
        UNION SELECT 'l:' || user_id FROM document_grants WHERE document_id = OLD.id;
    INSERT INTO cache_feed (key) VALUES ('n:' || NEW.unit_id), ('l:' || NEW.created_by);
    INSERT INTO cache_feed (key) SELECT 'archived' WHERE NEW.status = 'archived';
    INSERT INTO cache_feed (key)
        SELECT 'l:' || assignee_id FROM workflow_tasks WHERE document_id = NEW.id
        UNION SELECT 'l:' || acting_user_id FROM workflow_tasks
            WHERE document_id = NEW.id AND acting_user_id IS NOT NULL
        UNION SELECT 'l:' || user_id FROM document_grants WHERE document_id = NEW.id;
END;

CREATE TRIGGER listing_documents_delete AFTER DELETE ON documents BEGIN
    INSERT INTO cache_feed (key) VALUES ('n:' || OLD.unit_id), ('l:' || OLD.created_by);
    INSERT INTO cache_feed (key) SELECT 'archived' WHERE OLD.status = 'archived';
    INSERT INTO cache_feed (key)
        SELECT 'l:' || assignee_id FROM workflow_tasks WHERE document_id = OLD.id
        UNION SELECT 'l:' || acting_user_id FROM workflow_tasks
            WHERE document_id = OLD.id AND acting_user_id IS NOT NULL
        UNION SELECT 'l:' || user_id FROM document_grants WHERE document_id = OLD.id;
END;

CREATE TRIGGER listing_registrations_insert AFTER INSERT ON document_registrations BEGIN
    INSERT INTO cache_feed (key)
        SELECT 'n:' || unit_id FROM documents WHERE id = NEW.document_id
        UNION SELECT 'l:' || created_by FROM documents WHERE id = NEW.document_id
        UNION SELECT 'archived' FROM documents WHERE id = NEW.document_id AND status = 'archived'
        UNION SELECT 'l:' || assignee_id FROM workflow_tasks WHERE document_id = NEW.document_id
        UNION SELECT 'l:' || acting_user_id FROM workflow_tasks
            WHERE document_id = NEW.document_id AND acting_user_id IS NOT NULL
        UNION SELECT 'l:' || user_id FROM document_grants WHERE document_id = NEW.document_id;
END;

CREATE TRIGGER listing_registrations_update AFTER UPDATE ON document_registrations BEGIN
    INSERT INTO cache_feed (key)
        SELECT 'n:' || unit_id FROM documents WHERE id = OLD.document_id
        UNION SELECT 'l:' || created_by FROM documents WHERE id = OLD.document_id
        UNION SELECT 'archived' FROM documents WHERE id = OLD.document_id AND status = 'archived'
        UNION SELECT 'l:' || assignee_id FROM workflow_tasks WHERE document_id = OLD.document_id
        UNION SELECT 'l:' || acting_user_id FROM workflow_tasks
            WHERE document_id = OLD.document_id AND acting_user_id IS NOT NULL
        UNION SELECT 'l:' || user_id FROM document_grants WHERE document_id = OLD.document_id;
    INSERT INTO cache_feed (key)
        SELECT 'n:' || unit_id FROM documents WHERE id = NEW.document_id
        UNION SELECT 'l:' || created_by FROM documents WHERE id = NEW.document_id
        UNION SELECT 'archived' FROM documents WHERE id = NEW.document_id AND status = 'archived'
        UNION SELECT 'l:' || assignee_id FROM workflow_tasks WHERE document_id = NEW.document_id
        UNION SELECT 'l:' || acting_user_id FROM workflow_tasks
            WHERE document_id = NEW.document_id AND acting_user_id IS NOT NULL
        UNION SELECT 'l:' || user_id FROM document_grants WHERE document_id = NEW.document_id;
END;

CREATE TRIGGER listing_registrations_delete AFTER DELETE ON document_registrations BEGIN
    INSERT INTO cache_feed (key)
        SELECT 'n:' || unit_id FROM documents WHERE id = OLD.document_id
        UNION SELECT 'l:' || created_by FROM documents WHERE id = OLD.document_id
        UNION SELECT 'archived' FROM documents WHERE id = OLD.document_id AND status = 'archived'
        UNION SELECT 'l:' || assignee_id FROM workflow_tasks WHERE document_id = OLD.document_id
        UNION SELECT 'l:' || acting_user_id FROM workflow_tasks
            WHERE document_id = OLD.document_id AND acting_user_id IS NOT NULL
        UNION SELECT 'l:' || user_id FROM document_grants WHERE document_id = OLD.document_id;
END;

CREATE TRIGGER listing_grants_insert AFTER INSERT ON document_grants BEGIN
    INSERT INTO cache_feed (key) VALUES ('l:' || NEW.user_id);
END;

CREATE TRIGGER listing_grants_update AFTER UPDATE ON document_grants BEGIN
    INSERT INTO cache_feed (key) VALUES ('l:' || OLD.user_id), ('l:' || NEW.user_id);
END;

CREATE TRIGGER listing_grants_delete AFTER DELETE ON document_grants BEGIN
    INSERT INTO cache_feed (key) VALUES ('l:' || OLD.user_id);
END;

CREATE TRIGGER listing_tasks_insert AFTER INSERT ON workflow_tasks WHEN NEW.acting_user_id IS NOT NULL BEGIN
    INSERT INTO cache_feed (key) VALUES ('l:' || NEW.acting_user_id);
END;

CREATE TRIGGER listing_tasks_update AFTER UPDATE ON workflow_tasks WHEN OLD.acting_user_id IS NOT NEW.acting_user_id BEGIN
    INSERT INTO cache_feed (key) SELECT 'l:' || OLD.acting_user_id WHERE OLD.acting_user_id IS NOT NULL
        UNION SELECT 'l:' || NEW.acting_user_id WHERE NEW.acting_user_id IS NOT NULL;
END;

CREATE TRIGGER listing_tasks_delete AFTER DELETE ON workflow_tasks WHEN OLD.acting_user_id IS NOT NULL BEGIN
    INSERT INTO cache_feed (key) VALUES ('l:' || OLD.acting_user_id);
END;
