-- +goose Up
-- Data keys belong to one generation of a camera: a camera that changes
-- hands starts new keys, and the old owner's are shredded on their own.
ALTER TABLE data_keys ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
CREATE INDEX data_keys_camera_generation ON data_keys (camera_id, generation);

-- What and how long each camera records.
CREATE TABLE recording_settings (
    camera_id    TEXT PRIMARY KEY,
    mode         TEXT NOT NULL,
    pre_roll_ms  BIGINT NOT NULL,
    post_roll_ms BIGINT NOT NULL,
    retain_days  INTEGER NOT NULL,
    retain_bytes BIGINT NOT NULL,
    updated_at   BIGINT
);

-- A home's limits over all its cameras, and how long a removed camera's
-- recordings stay exportable before they are shredded.
CREATE TABLE home_recording (
    home_id          TEXT PRIMARY KEY,
    retain_days      INTEGER NOT NULL,
    retain_bytes     BIGINT NOT NULL,
    export_window_ms BIGINT NOT NULL,
    updated_at       BIGINT
);

-- The index of recorded segments; the bytes are sealed in blob storage.
CREATE TABLE segments (
    id          TEXT PRIMARY KEY,
    camera_id   TEXT NOT NULL,
    generation  BIGINT NOT NULL,
    home_id     TEXT NOT NULL,
    start_us    BIGINT NOT NULL,
    end_us      BIGINT NOT NULL,
    size        BIGINT NOT NULL,
    init_size   BIGINT NOT NULL,
    key_id      TEXT NOT NULL,
    blob_key    TEXT NOT NULL,
    created_at  BIGINT
);
CREATE INDEX segments_camera_start ON segments (camera_id, start_us);
CREATE INDEX segments_home_start ON segments (home_id, start_us);
CREATE INDEX segments_start ON segments (start_us);

-- Recordings of a camera generation to be shredded when due (camera
-- removed, transferred or reset; home deleted).
CREATE TABLE recording_purges (
    camera_id   TEXT NOT NULL,
    generation  BIGINT NOT NULL,
    home_id     TEXT NOT NULL,
    due_at      BIGINT NOT NULL,
    created_at  BIGINT,
    PRIMARY KEY (camera_id, generation)
);

-- +goose Down
DROP TABLE recording_purges;
DROP TABLE segments;
DROP TABLE home_recording;
DROP TABLE recording_settings;
DROP INDEX data_keys_camera_generation;
ALTER TABLE data_keys DROP COLUMN generation;
