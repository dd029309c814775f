-- +goose Up
-- Device-backed cameras: the enrolled device's key, its agent, and no home
-- while unclaimed.
{{if sqlite -}}
-- SQLite cannot relax NOT NULL in place, so the table is rebuilt.
CREATE TABLE cameras_v2 (
    id            TEXT PRIMARY KEY,
    home_id       TEXT REFERENCES homes (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    generation    BIGINT NOT NULL,
    state         TEXT NOT NULL,
    created_at    BIGINT,
    device_key    BLOB UNIQUE,
    agent_version TEXT NOT NULL DEFAULT '',
    last_seen     BIGINT
);
INSERT INTO cameras_v2 (id, home_id, name, generation, state, created_at)
    SELECT id, home_id, name, generation, state, created_at FROM cameras;
DROP TABLE cameras;
ALTER TABLE cameras_v2 RENAME TO cameras;
CREATE INDEX cameras_home ON cameras (home_id);
{{- else -}}
ALTER TABLE cameras ALTER COLUMN home_id DROP NOT NULL;
ALTER TABLE cameras ADD COLUMN device_key BYTEA UNIQUE;
ALTER TABLE cameras ADD COLUMN agent_version TEXT NOT NULL DEFAULT '';
ALTER TABLE cameras ADD COLUMN last_seen BIGINT;
{{- end}}

CREATE TABLE claim_codes (
    camera_id  TEXT PRIMARY KEY REFERENCES cameras (id) ON DELETE CASCADE,
    hash       {{bytes}} NOT NULL UNIQUE,
    expires_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE claim_codes;
DELETE FROM cameras WHERE home_id IS NULL;
{{if sqlite -}}
CREATE TABLE cameras_v1 (
    id         TEXT PRIMARY KEY,
    home_id    TEXT NOT NULL REFERENCES homes (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    generation BIGINT NOT NULL,
    state      TEXT NOT NULL,
    created_at BIGINT
);
INSERT INTO cameras_v1 SELECT id, home_id, name, generation, state, created_at FROM cameras;
DROP TABLE cameras;
ALTER TABLE cameras_v1 RENAME TO cameras;
CREATE INDEX cameras_home ON cameras (home_id);
{{- else -}}
ALTER TABLE cameras DROP COLUMN last_seen;
ALTER TABLE cameras DROP COLUMN agent_version;
ALTER TABLE cameras DROP COLUMN device_key;
ALTER TABLE cameras ALTER COLUMN home_id SET NOT NULL;
{{- end}}
