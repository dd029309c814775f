-- +goose Up
-- Device-backed cameras: the enrolled device's key, its agent, and no home
-- while unclaimed.
ALTER TABLE cameras ALTER COLUMN home_id DROP NOT NULL;
ALTER TABLE cameras ADD COLUMN device_key BYTEA UNIQUE;
ALTER TABLE cameras ADD COLUMN agent_version TEXT NOT NULL DEFAULT '';
ALTER TABLE cameras ADD COLUMN last_seen BIGINT;

CREATE TABLE claim_codes (
    camera_id  TEXT PRIMARY KEY REFERENCES cameras (id) ON DELETE CASCADE,
    hash       BYTEA NOT NULL UNIQUE,
    expires_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE claim_codes;
DELETE FROM cameras WHERE home_id IS NULL;
ALTER TABLE cameras DROP COLUMN last_seen;
ALTER TABLE cameras DROP COLUMN agent_version;
ALTER TABLE cameras DROP COLUMN device_key;
ALTER TABLE cameras ALTER COLUMN home_id SET NOT NULL;
