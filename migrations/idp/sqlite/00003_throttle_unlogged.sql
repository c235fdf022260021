-- +goose Up
-- PostgreSQL makes login_throttle unlogged here; SQLite has no such notion.
SELECT 1;

-- +goose Down
SELECT 1;
