-- +goose Up
CREATE TABLE accounts (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    instance_admin INTEGER NOT NULL,
    disabled       INTEGER NOT NULL,
    totp_secret    TEXT NOT NULL,
    totp_enabled   INTEGER NOT NULL,
    created_at     BIGINT
);

-- One row once the first account exists: makes setup happen once.
CREATE TABLE first_account (
    one        INTEGER PRIMARY KEY CHECK (one = 1),
    account_id TEXT NOT NULL
);

CREATE TABLE recovery_codes (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    hash       {{bytes}} NOT NULL,
    PRIMARY KEY (account_id, hash)
);

CREATE TABLE homes (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT
);

CREATE TABLE memberships (
    home_id      TEXT NOT NULL REFERENCES homes (id) ON DELETE CASCADE,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'guest')),
    cameras      TEXT NOT NULL,
    actions      TEXT NOT NULL,
    access_until BIGINT,
    history_from BIGINT,
    created_at   BIGINT,
    PRIMARY KEY (home_id, account_id)
);
CREATE INDEX memberships_account ON memberships (account_id);

CREATE TABLE invites (
    id           TEXT PRIMARY KEY,
    token_hash   {{bytes}} NOT NULL UNIQUE,
    home_id      TEXT NOT NULL REFERENCES homes (id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'guest')),
    cameras      TEXT NOT NULL,
    actions      TEXT NOT NULL,
    access_until BIGINT,
    no_history   INTEGER NOT NULL,
    expires_at   BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT,
    used_at      BIGINT,
    used_by      TEXT NOT NULL
);
CREATE INDEX invites_home ON invites (home_id);

CREATE TABLE cameras (
    id         TEXT PRIMARY KEY,
    home_id    TEXT NOT NULL REFERENCES homes (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    generation BIGINT NOT NULL,
    state      TEXT NOT NULL,
    created_at BIGINT
);
CREATE INDEX cameras_home ON cameras (home_id);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    token_hash {{bytes}} NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at BIGINT,
    last_seen  BIGINT,
    expires_at BIGINT,
    client     TEXT NOT NULL,
    user_agent TEXT NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);

CREATE TABLE credentials (
    id         {{bytes}} PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    data       {{bytes}} NOT NULL,
    created_at BIGINT,
    last_used  BIGINT
);
CREATE INDEX credentials_account ON credentials (account_id);

-- The audit log outlives what it mentions: no foreign keys.
CREATE TABLE audit (
    seq       {{serial}},
    id        TEXT NOT NULL UNIQUE,
    at        BIGINT NOT NULL,
    home_id   TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    principal TEXT NOT NULL,
    action    TEXT NOT NULL,
    result    TEXT NOT NULL,
    client    TEXT NOT NULL,
    detail    TEXT NOT NULL
);
CREATE INDEX audit_home_at ON audit (home_id, at);

-- +goose Down
DROP TABLE audit;
DROP TABLE credentials;
DROP TABLE sessions;
DROP TABLE cameras;
DROP TABLE invites;
DROP TABLE memberships;
DROP TABLE homes;
DROP TABLE recovery_codes;
DROP TABLE first_account;
DROP TABLE accounts;
