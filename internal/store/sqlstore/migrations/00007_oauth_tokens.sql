-- +goose Up
-- OAuth 2.0 grants of integrations: authorization codes, PKCE requests,
-- access and refresh tokens, each kept under the HMAC signature of the
-- token (never the token itself), with the request it came from (for
-- revoking a whole family) and the link it acts under.
CREATE TABLE oauth_tokens (
    kind        TEXT NOT NULL,
    signature   TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    link_id     TEXT NOT NULL,
    active      INTEGER NOT NULL,
    expires_at  BIGINT,
    data        TEXT NOT NULL,
    PRIMARY KEY (kind, signature)
);
CREATE INDEX oauth_tokens_request ON oauth_tokens (request_id);
CREATE INDEX oauth_tokens_link ON oauth_tokens (link_id);

-- +goose Down
DROP TABLE oauth_tokens;
