-- +goose Up
-- Failure counts of the sign-in, claim and client-authentication
-- throttles, shared by every node so that N nodes give an attacker no
-- more tries than one. Keys are hashes: no address or email is kept.
CREATE TABLE throttle (
    key      TEXT PRIMARY KEY,
    fails    INTEGER NOT NULL,
    last_at  BIGINT NOT NULL,
    until_at BIGINT NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE throttle;
