-- +goose Up
-- Single-use secrets (stream credentials, device challenges, the setup
-- token, login links, passkey ceremonies), shared by every node so that
-- each works at any node and only once. Only hashes of the secrets are
-- kept; a use deletes the row.
CREATE TABLE single_use (
    kind       TEXT NOT NULL,
    key_hash   {{bytes}} NOT NULL,
    owner      TEXT NOT NULL DEFAULT '',
    payload    {{bytes}} NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (kind, key_hash)
);
CREATE INDEX single_use_owner ON single_use (kind, owner, expires_at);
CREATE INDEX single_use_expires ON single_use (expires_at);

-- +goose Down
DROP TABLE single_use;
