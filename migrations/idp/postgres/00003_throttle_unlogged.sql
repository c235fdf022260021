-- +goose Up
-- The per-account login throttle is counters that a flood of wrong passwords updates on every
-- attempt: unlogged, its writes skip the WAL and the commit waits for no disk flush, so a flood
-- does not queue the token endpoint's commits behind its own. A crash empties it, which only
-- forgets recent failures.
ALTER TABLE login_throttle SET UNLOGGED;

-- +goose Down
ALTER TABLE login_throttle SET LOGGED;
