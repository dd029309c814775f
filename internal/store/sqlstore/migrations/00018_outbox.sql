-- +goose Up
-- Withdrawals of live access, kept for a while after they are published
-- on the bus: every node that serves video polls them, so a withdrawal
-- reaches it even when the bus does not.
CREATE TABLE outbox (
    seq        {{serial}},
    kind       TEXT NOT NULL,
    account_id TEXT NOT NULL DEFAULT '',
    camera_id  TEXT NOT NULL DEFAULT '',
    generation BIGINT NOT NULL DEFAULT 0,
    link_id    TEXT NOT NULL DEFAULT '',
    at         BIGINT NOT NULL
);
CREATE INDEX outbox_at ON outbox (at);

-- +goose Down
DROP TABLE outbox;
