-- Approval chains, task routing, substitution and incoming assignment (issue 5).

-- The head of a unit (trưởng đơn vị): "head of unit X" assignees and incoming leads resolve to it.
ALTER TABLE units ADD COLUMN head_user_id TEXT REFERENCES users(id);

-- Route templates per document type and unit, edited by admins; stages as JSON.
CREATE TABLE route_templates (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    type_code TEXT REFERENCES document_types(code),
    unit_id TEXT REFERENCES units(id),
    stages TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_by TEXT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX route_templates_scope_idx ON route_templates(type_code, unit_id);

-- A route a document travels; at most one active per document.
CREATE TABLE workflow_routes (
    id TEXT NOT NULL PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents(id),
    template_id TEXT REFERENCES route_templates(id),
    drafter_id TEXT NOT NULL REFERENCES users(id),
    status TEXT NOT NULL CHECK (status IN ('active', 'completed', 'returned', 'rejected', 'recalled')),
    current_stage INTEGER NOT NULL,
    -- Bumped by every transition: the optimistic check under the row lock.
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    -- The whole route's deadline, when the drafter set one; no stage is due after it.
    deadline TIMESTAMP
);
CREATE UNIQUE INDEX workflow_routes_one_active_uq ON workflow_routes(document_id) WHERE status = 'active';

CREATE TABLE workflow_stages (
    id TEXT NOT NULL PRIMARY KEY,
    route_id TEXT NOT NULL REFERENCES workflow_routes(id),
    position INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('review', 'sign', 'issue', 'inform')),
    policy TEXT NOT NULL CHECK (policy IN ('all', 'any', 'quorum')),
    quorum INTEGER,
    -- JSON list of the user ids a round gives a task to.
    assignees TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('waiting', 'active', 'done', 'closed')),
    round INTEGER NOT NULL,
    deadline_days INTEGER
);
CREATE INDEX workflow_stages_route_idx ON workflow_stages(route_id, position);

-- Work for one person: a stage's task, an opinion asked, or an incoming paper's assignment.
CREATE TABLE workflow_tasks (
    id TEXT NOT NULL PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents(id),
    route_id TEXT REFERENCES workflow_routes(id),
    stage_id TEXT REFERENCES workflow_stages(id),
    round INTEGER NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('approver', 'opinion', 'inform', 'lead', 'cooperate')),
    assignee_id TEXT NOT NULL REFERENCES users(id),
    -- The assignee's unit when assigned (or the lead unit): what the lateness report groups by.
    unit_id TEXT REFERENCES units(id),
    acting_user_id TEXT REFERENCES users(id),
    capacity TEXT CHECK (capacity IN ('kt', 'tl', 'tuq')),
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'returned', 'rejected', 'delegated', 'answered', 'informed', 'cancelled', 'completed')),
    urgency TEXT NOT NULL,
    deadline TIMESTAMP,
    assigned_at TIMESTAMP NOT NULL,
    acted_at TIMESTAMP,
    result TEXT,
    delegated_from TEXT REFERENCES workflow_tasks(id)
);
CREATE INDEX workflow_tasks_assignee_idx ON workflow_tasks(assignee_id, status);
CREATE INDEX workflow_tasks_document_idx ON workflow_tasks(document_id);
CREATE INDEX workflow_tasks_stage_idx ON workflow_tasks(stage_id, round);
CREATE INDEX workflow_tasks_report_idx ON workflow_tasks(unit_id, acted_at);
-- One task, one lead: an incoming paper has at most one lead assignment.
CREATE UNIQUE INDEX workflow_tasks_one_lead_uq ON workflow_tasks(document_id) WHERE role = 'lead';

-- Everything done on a task, with the key a client retries under.
CREATE TABLE workflow_actions (
    id TEXT NOT NULL PRIMARY KEY,
    route_id TEXT REFERENCES workflow_routes(id),
    task_id TEXT REFERENCES workflow_tasks(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    on_behalf_of TEXT REFERENCES users(id),
    capacity TEXT,
    action TEXT NOT NULL,
    comment TEXT,
    target_user_id TEXT REFERENCES users(id),
    idempotency_key TEXT,
    request_hash TEXT,
    response TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX workflow_actions_idempotency_uq ON workflow_actions(user_id, idempotency_key);
CREATE INDEX workflow_actions_task_idx ON workflow_actions(task_id);

-- Time-boxed substitution: the deputy sees and acts on the user's tasks in the capacity given.
CREATE TABLE substitutions (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    deputy_id TEXT NOT NULL REFERENCES users(id),
    capacity TEXT NOT NULL CHECK (capacity IN ('kt', 'tl', 'tuq')),
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    created_by TEXT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX substitutions_deputy_idx ON substitutions(deputy_id, ends_at);
CREATE INDEX substitutions_user_idx ON substitutions(user_id, ends_at);
