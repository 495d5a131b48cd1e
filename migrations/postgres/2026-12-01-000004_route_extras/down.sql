ALTER TABLE documents DROP COLUMN signatures_checked_at;
ALTER TABLE documents DROP COLUMN signatures_check;
DELETE FROM notifications WHERE recipient_id IS NULL;
ALTER TABLE notifications ALTER COLUMN recipient_id SET NOT NULL;
