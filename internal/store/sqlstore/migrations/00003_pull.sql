-- +goose Up
-- Cameras the server pulls over RTSP itself: the sealed source URL.
ALTER TABLE cameras ADD COLUMN pull_source TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE cameras DROP COLUMN pull_source;
