DROP TRIGGER listing_changed_delete ON workflow_tasks;
DROP TRIGGER listing_changed_update ON workflow_tasks;
DROP TRIGGER listing_changed_insert ON workflow_tasks;
DROP TRIGGER listing_changed ON document_grants;
DROP TRIGGER listing_changed ON document_registrations;
DROP TRIGGER listing_changed ON documents;
DROP FUNCTION docflow_listing_changed();
DROP FUNCTION docflow_listing_names(documents);
