-- Every node keeps recent sessions and inboxes in memory (src/cache). The database itself
-- records what a change touches, so no write path, process or tool can forget to: a trigger
-- appends the people ('u:<user id>') and documents ('d:<document id>') whose cached reads a
-- row change touches to cache_feed, in the transaction of the change. SQLite has one writer
-- at a time, so `seq` grows in commit order and a reader that has applied up to `seq` = n
-- has every change committed before the row n + 1. The server reads the feed every few
-- milliseconds and deletes what it has applied.
CREATE TABLE cache_feed (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL
);

CREATE TRIGGER cache_workflow_tasks_insert AFTER INSERT ON workflow_tasks BEGIN
    INSERT INTO cache_feed (key) VALUES ('u:' || NEW.assignee_id);
END;

CREATE TRIGGER cache_workflow_tasks_update AFTER UPDATE ON workflow_tasks BEGIN
    INSERT INTO cache_feed (key) VALUES ('u:' || OLD.assignee_id), ('u:' || NEW.assignee_id);
END;

CREATE TRIGGER cache_workflow_tasks_delete AFTER DELETE ON workflow_tasks BEGIN
    INSERT INTO cache_feed (key) VALUES ('u:' || OLD.assignee_id);
END;

CREATE TRIGGER cache_substitutions_insert AFTER INSERT ON substitutions BEGIN
    INSERT INTO cache_feed (key) VALUES ('u:' || NEW.deputy_id);
END;

CREATE TRIGGER cache_substitutions_update AFTER UPDATE ON substitutions BEGIN
    INSERT INTO cache_feed (key) VALUES ('u:' || OLD.deputy_id), ('u:' || NEW.deputy_id);
END;

CREATE TRIGGER cache_substitutions_delete AFTER DELETE ON substitutions BEGIN
    INSERT INTO cache_feed (key) VALUES ('u:' || OLD.deputy_id);
END;

CREATE TRIGGER cache_users_update AFTER UPDATE ON users BEGIN
    INSERT INTO cache_feed (key) VALUES ('u:' || OLD.id);
END;

CREATE TRIGGER cache_users_delete AFTER DELETE ON users BEGIN
    INSERT INTO cache_feed (key) VALUES ('u:' || OLD.id);
END;

CREATE TRIGGER cache_user_roles_insert AFTER INSERT ON user_roles BEGIN
    INSERT INTO cache_feed (key) VALUES ('u:' || NEW.user_id);
END;

CREATE TRIGGER cache_user_roles_update AFTER UPDATE ON user_roles BEGIN
    INSERT INTO cache_feed (key) VALUES ('u:' || OLD.user_id), ('u:' || NEW.user_id);
END;

CREATE TRIGGER cache_user_roles_delete AFTER DELETE ON user_roles BEGIN
    INSERT INTO cache_feed (key) VALUES ('u:' || OLD.user_id);
END;

CREATE TRIGGER cache_sessions_update AFTER UPDATE ON sessions BEGIN
    INSERT INTO cache_feed (key) VALUES ('u:' || OLD.user_id), ('u:' || NEW.user_id);
END;

CREATE TRIGGER cache_sessions_delete AFTER DELETE ON sessions BEGIN
    INSERT INTO cache_feed (key) VALUES ('u:' || OLD.user_id);
END;

CREATE TRIGGER cache_documents_update AFTER UPDATE ON documents BEGIN
    INSERT INTO cache_feed (key) VALUES ('d:' || OLD.id);
END;

CREATE TRIGGER cache_documents_delete AFTER DELETE ON documents BEGIN
    INSERT INTO cache_feed (key) VALUES ('d:' || OLD.id);
END;

CREATE TRIGGER cache_signing_handles_insert AFTER INSERT ON signing_handles BEGIN
    INSERT INTO cache_feed (key) VALUES ('d:' || NEW.document_id);
END;

CREATE TRIGGER cache_signing_handles_update AFTER UPDATE ON signing_handles BEGIN
    INSERT INTO cache_feed (key) VALUES ('d:' || OLD.document_id), ('d:' || NEW.document_id);
END;

CREATE TRIGGER cache_signing_handles_delete AFTER DELETE ON signing_handles BEGIN
    INSERT INTO cache_feed (key) VALUES ('d:' || OLD.document_id);
END;

CREATE TRIGGER cache_workflow_stages_update AFTER UPDATE OF kind, position ON workflow_stages BEGIN
    INSERT INTO cache_feed (key) VALUES (coalesce((SELECT 'd:' || document_id FROM workflow_routes WHERE id = OLD.route_id), '*'));
END;

CREATE TRIGGER cache_workflow_stages_delete AFTER DELETE ON workflow_stages BEGIN
    INSERT INTO cache_feed (key) VALUES (coalesce((SELECT 'd:' || document_id FROM workflow_routes WHERE id = OLD.route_id), '*'));
END;
