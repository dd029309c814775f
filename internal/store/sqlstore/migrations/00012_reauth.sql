-- +goose Up
-- When the holder of a session last proved who they are (password or
-- second factor) while signed in: credential changes need it to be recent.
ALTER TABLE sessions ADD COLUMN reauth_at BIGINT;
-- The session that registered a passkey, so that a password change can
-- remove passkeys another session added.
ALTER TABLE credentials ADD COLUMN added_by TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE credentials DROP COLUMN added_by;
ALTER TABLE sessions DROP COLUMN reauth_at;
