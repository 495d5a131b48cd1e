-- The senders claim what a person did before what the clock wrote (db::claim_notifications):
-- the due notices of every kind but reminders, overdue notices, escalations and digests, by
-- due time, without walking past a backlog of reminders. The predicate is db::PEOPLE_KINDS_SQL
-- word for word (the planners match it as written).
CREATE INDEX notifications_people_due_idx ON notifications(due_at)
    WHERE state = 'pending' AND kind NOT IN ('task_reminder', 'task_overdue', 'task_escalated', 'digest');
