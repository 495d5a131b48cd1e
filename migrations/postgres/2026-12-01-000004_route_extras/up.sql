-- Issue 14's remaining pieces.
-- `document_issued` also goes to the external recipients of the recipients list (nơi nhận):
-- email addresses, not users, so an outbox row may name no user.
ALTER TABLE notifications ALTER COLUMN recipient_id DROP NOT NULL;
-- What the signature check of an incoming electronic document found at registration
-- (`valid`, `invalid`, `unsigned`; NULL: not checked — paper, or registered before this), and when.
ALTER TABLE documents ADD COLUMN signatures_check TEXT
    CHECK (signatures_check IN ('valid', 'invalid', 'unsigned'));
ALTER TABLE documents ADD COLUMN signatures_checked_at TIMESTAMP;
