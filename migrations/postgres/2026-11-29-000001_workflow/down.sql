DROP TABLE substitutions;
DROP TABLE workflow_actions;
DROP TABLE workflow_tasks;
DROP TABLE workflow_stages;
DROP TABLE workflow_routes;
DROP TABLE route_templates;
ALTER TABLE units DROP COLUMN head_user_id;
