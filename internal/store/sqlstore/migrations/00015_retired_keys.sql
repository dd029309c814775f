-- +goose Up
-- Device keys retired when their camera left its home (transfer, removal,
-- factory reset), by SHA-256: a copy of a retired key kept by a former
-- owner can never enrol again.
CREATE TABLE retired_device_keys (
    key_hash   {{bytes}} PRIMARY KEY,
    retired_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE retired_device_keys;
