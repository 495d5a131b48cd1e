DROP TRIGGER cache_changed ON workflow_stages;
DROP TRIGGER cache_changed ON signing_handles;
DROP TRIGGER cache_changed ON documents;
DROP TRIGGER cache_changed ON sessions;
DROP TRIGGER cache_changed ON user_roles;
DROP TRIGGER cache_changed ON users;
DROP TRIGGER cache_changed ON substitutions;
DROP TRIGGER cache_changed ON workflow_tasks;
DROP FUNCTION docflow_cache_changed();
