-- +goose Up
-- A sign-in's stable ID: a new login session (the ID rotates at every sign-in, SE-02) of the
-- same user in the same browser keeps it, so the refresh tokens of browser apps, bound to the
-- sign-in, survive a re-authentication (prompt=login, max_age) and end at logout or timeout.
ALTER TABLE login_sessions ADD COLUMN sid TEXT NOT NULL DEFAULT '';
CREATE INDEX login_sessions_sid ON login_sessions (sid);

-- +goose Down
DROP INDEX login_sessions_sid;
ALTER TABLE login_sessions DROP COLUMN sid;
