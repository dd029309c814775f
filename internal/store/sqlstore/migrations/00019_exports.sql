-- +goose Up
-- Exports, kept in the store so that any node reports and serves them:
-- their bytes are sealed in the shared blob storage, and the node
-- building one writes its progress now and then.
CREATE TABLE exports (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    camera_id  TEXT NOT NULL,
    generation BIGINT NOT NULL,
    home_id    TEXT NOT NULL,
    since_us   BIGINT NOT NULL,
    until_us   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    state      TEXT NOT NULL,
    progress   INTEGER NOT NULL DEFAULT 0,
    size       BIGINT NOT NULL DEFAULT 0,
    key_id     TEXT NOT NULL DEFAULT '',
    updated_at BIGINT
);
CREATE INDEX exports_account ON exports (account_id, camera_id);
CREATE INDEX exports_home ON exports (home_id);
CREATE INDEX exports_created ON exports (created_at);

-- Deletions of recordings go through the outbox too, with the times
-- they cover (NULL is unbounded).
ALTER TABLE outbox ADD COLUMN since_us BIGINT;
ALTER TABLE outbox ADD COLUMN until_us BIGINT;

-- +goose Down
ALTER TABLE outbox DROP COLUMN until_us;
ALTER TABLE outbox DROP COLUMN since_us;
DROP TABLE exports;
