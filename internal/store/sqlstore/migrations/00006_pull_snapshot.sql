-- +goose Up
-- Pulled cameras' optional snapshot URL, sealed like their source.
ALTER TABLE cameras ADD COLUMN pull_snapshot TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE cameras DROP COLUMN pull_snapshot;
