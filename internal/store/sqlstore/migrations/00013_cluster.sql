-- +goose Up
-- The cluster's identity: a MAC of a fixed string under the server key,
-- recorded by the first node. A node started with another key refuses to
-- run instead of failing later on every sealed secret.
CREATE TABLE cluster_identity (
    id         INTEGER PRIMARY KEY,
    mac        {{bytes}} NOT NULL,
    created_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE cluster_identity;
