-- +goose Up
-- Registered integrations (OAuth clients) and the links accounts give them.
CREATE TABLE integrations (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    client_id     TEXT NOT NULL UNIQUE,
    secret_hash   TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    enabled       INTEGER NOT NULL,
    created_at    BIGINT,
    changed_at    BIGINT
);

CREATE TABLE links (
    id             TEXT PRIMARY KEY,
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    home_id        TEXT NOT NULL REFERENCES homes (id) ON DELETE CASCADE,
    account_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    cameras        TEXT NOT NULL,
    actions        TEXT NOT NULL,
    created_at     BIGINT,
    revoked_at     BIGINT,
    last_used_at   BIGINT
);
CREATE INDEX links_account ON links (account_id);
CREATE INDEX links_home ON links (home_id);
CREATE INDEX links_integration ON links (integration_id);

-- +goose Down
DROP TABLE links;
DROP TABLE integrations;
