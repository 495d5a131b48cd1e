DROP INDEX workflow_tasks_route_idx;
DROP INDEX workflow_tasks_acting_idx;
DROP INDEX workflow_tasks_assignee_doc_idx;
DROP INDEX documents_updated_idx;
DROP INDEX documents_created_idx;
