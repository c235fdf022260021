-- +goose Up

-- Per-account login throttling (RL-05). One row per throttle key: the hex SHA-256 of the
-- normalized email (so unknown accounts are throttled alike and no typed address is stored), or
-- of a device cookie's nonce. failures counts attempts since the last success; an attempt is only
-- admitted when locked_until (Unix ms) has passed, by one conditional upsert (INSERT … ON CONFLICT DO UPDATE … WHERE).
CREATE TABLE login_throttle (
    key           TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL DEFAULT 0,
    locked_until  BIGINT NOT NULL DEFAULT 0,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX login_throttle_updated ON login_throttle (updated_at);

-- Single-use links mailed to a user: email verification and password reset. Only the SHA-256
-- of the token in the link is stored; redeeming deletes the row.
CREATE TABLE user_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX user_tokens_user ON user_tokens (user_id, purpose);
CREATE INDEX user_tokens_expires ON user_tokens (expires_at);

-- +goose Down
DROP TABLE user_tokens;
DROP TABLE login_throttle;
