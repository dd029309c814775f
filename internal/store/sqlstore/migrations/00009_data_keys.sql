-- +goose Up
-- Per-camera data keys for recordings at rest, wrapped by the server key;
-- wrapped is erased when a key is destroyed (crypto-shredding).
CREATE TABLE data_keys (
    id           TEXT PRIMARY KEY,
    camera_id    TEXT NOT NULL,
    wrapped      {{bytes}},
    created_at   BIGINT,
    destroyed_at BIGINT
);
CREATE INDEX data_keys_camera ON data_keys (camera_id);

-- +goose Down
DROP TABLE data_keys;
