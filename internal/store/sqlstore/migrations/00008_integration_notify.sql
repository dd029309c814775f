-- +goose Up
-- Where an integration takes change notifications (request sync, report
-- state); empty when it takes none.
ALTER TABLE integrations ADD COLUMN notify_url TEXT NOT NULL DEFAULT '';
CREATE INDEX links_revoked ON links (revoked_at);

-- +goose Down
DROP INDEX links_revoked;
ALTER TABLE integrations DROP COLUMN notify_url;
