-- A password set by someone else (an admin's reset, the generated first admin password) must be
-- changed by its holder before anything else is done with the account.
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
