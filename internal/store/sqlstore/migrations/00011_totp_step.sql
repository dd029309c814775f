-- +goose Up
-- The last TOTP time step each account used: a code is accepted only for
-- a later step, so an overheard code cannot be replayed.
ALTER TABLE accounts ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE accounts DROP COLUMN totp_last_step;
