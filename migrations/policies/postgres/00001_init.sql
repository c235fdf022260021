-- +goose Up

-- The Casbin policy (model in policies/model.conf) and its history. Keep this file in step with
-- ../sqlite/00001_init.sql.
--
-- casbin_rule is the table of Casbin's adapters: one row per rule, ptype 'p' (sub, obj, act, eft in
-- v0..v3) or 'g' (subject, role in v0, v1). Unused columns are '' (never NULL) so that the UNIQUE
-- constraint refuses duplicates.
CREATE TABLE casbin_rule (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ptype       TEXT NOT NULL,
    v0          TEXT NOT NULL DEFAULT '',
    v1          TEXT NOT NULL DEFAULT '',
    v2          TEXT NOT NULL DEFAULT '',
    v3          TEXT NOT NULL DEFAULT '',
    v4          TEXT NOT NULL DEFAULT '',
    v5          TEXT NOT NULL DEFAULT '',
    UNIQUE (ptype, v0, v1, v2, v3, v4, v5)
);

-- Every change of the policy is a revision: its number (1, 2, …, assigned under a lock by the
-- policies service), who made it, when (Unix milliseconds), why, and the rules it added and
-- removed (JSON arrays of policies.Rule). Replaying revisions 1..n rebuilds the policy of n.
CREATE TABLE policy_revisions (
    id            BIGINT PRIMARY KEY,
    actor         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    comment       TEXT NOT NULL DEFAULT '',
    added         TEXT NOT NULL,
    removed       TEXT NOT NULL,
    restored_from BIGINT                         -- the revision this one restored, if any
);

-- The default policy (revision 1). role:admin may do anything on the admin API and the todos
-- API; role:user may list and create todos and categories and read, replace, change and delete
-- one by id (":id" is one path segment). Nobody holds a role yet: `gatehouse roles assign`.
INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES ('p', 'role:admin', '/admin/v1/*', '*', 'allow');
INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES ('p', 'role:admin', '/api/v1/*', '*', 'allow');
INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES ('p', 'role:user', '/api/v1/todos', 'GET', 'allow');
INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES ('p', 'role:user', '/api/v1/todos', 'POST', 'allow');
INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES ('p', 'role:user', '/api/v1/todos/:id', 'GET', 'allow');
INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES ('p', 'role:user', '/api/v1/todos/:id', 'PUT', 'allow');
INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES ('p', 'role:user', '/api/v1/todos/:id', 'PATCH', 'allow');
INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES ('p', 'role:user', '/api/v1/todos/:id', 'DELETE', 'allow');
INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES ('p', 'role:user', '/api/v1/categories', 'GET', 'allow');
INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES ('p', 'role:user', '/api/v1/categories', 'POST', 'allow');
INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES ('p', 'role:user', '/api/v1/categories/:id', 'GET', 'allow');
INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES ('p', 'role:user', '/api/v1/categories/:id', 'PUT', 'allow');
INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES ('p', 'role:user', '/api/v1/categories/:id', 'PATCH', 'allow');
INSERT INTO casbin_rule (ptype, v0, v1, v2, v3) VALUES ('p', 'role:user', '/api/v1/categories/:id', 'DELETE', 'allow');

INSERT INTO policy_revisions (id, actor, created_at, comment, added, removed)
VALUES (1, 'migration', (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT, 'default policy', '[{"type":"p","subject":"role:admin","object":"/admin/v1/*","action":"*","effect":"allow"},{"type":"p","subject":"role:admin","object":"/api/v1/*","action":"*","effect":"allow"},{"type":"p","subject":"role:user","object":"/api/v1/todos","action":"GET","effect":"allow"},{"type":"p","subject":"role:user","object":"/api/v1/todos","action":"POST","effect":"allow"},{"type":"p","subject":"role:user","object":"/api/v1/todos/:id","action":"GET","effect":"allow"},{"type":"p","subject":"role:user","object":"/api/v1/todos/:id","action":"PUT","effect":"allow"},{"type":"p","subject":"role:user","object":"/api/v1/todos/:id","action":"PATCH","effect":"allow"},{"type":"p","subject":"role:user","object":"/api/v1/todos/:id","action":"DELETE","effect":"allow"},{"type":"p","subject":"role:user","object":"/api/v1/categories","action":"GET","effect":"allow"},{"type":"p","subject":"role:user","object":"/api/v1/categories","action":"POST","effect":"allow"},{"type":"p","subject":"role:user","object":"/api/v1/categories/:id","action":"GET","effect":"allow"},{"type":"p","subject":"role:user","object":"/api/v1/categories/:id","action":"PUT","effect":"allow"},{"type":"p","subject":"role:user","object":"/api/v1/categories/:id","action":"PATCH","effect":"allow"},{"type":"p","subject":"role:user","object":"/api/v1/categories/:id","action":"DELETE","effect":"allow"}]', '[]');

-- +goose Down
DROP TABLE policy_revisions;
DROP TABLE casbin_rule;
