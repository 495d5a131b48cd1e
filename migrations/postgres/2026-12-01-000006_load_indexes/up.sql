-- Speed under load (issue 13; docs/OPERATIONS.md, "Speed under load"). With 100,000
-- documents the document listing read every document and every task per request:
-- * the listing is ordered by (created_at, id) or (updated_at, id) with a LIMIT: these indexes
--   let it walk backwards from the newest and stop after a page of visible rows, instead of
--   sorting the whole table;
-- * visibility asks for the documents of the viewer's tasks (`documents::queries::visible_to`):
--   (assignee_id, document_id) answers it from the index alone, and acting_user_id (set only
--   when a deputy acted) had no index at all, so the OR of the two scanned every task;
-- * every route action loads the route's tasks (`workflow::queries::route_tasks`): without an
--   index on route_id that read every task, and approvals slowed as the tasks grew.
CREATE INDEX documents_created_idx ON documents(created_at, id);
CREATE INDEX documents_updated_idx ON documents(updated_at, id);
CREATE INDEX workflow_tasks_assignee_doc_idx ON workflow_tasks(assignee_id, document_id);
CREATE INDEX workflow_tasks_acting_idx ON workflow_tasks(acting_user_id) WHERE acting_user_id IS NOT NULL;
CREATE INDEX workflow_tasks_route_idx ON workflow_tasks(route_id);
