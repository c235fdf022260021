-- +goose Up

-- The resource API's todo app: users own todos and categories; a todo has any number of its
-- owner's categories (the store checks the owner in the transaction that links them).
-- Timestamps are Unix milliseconds (BIGINT), so that one query text serves both dialects.
-- version is the optimistic-concurrency counter behind ETags: every write adds one.
-- Keep this file in step with ../sqlite/00001_init.sql.

CREATE TABLE categories (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    name_key    TEXT NOT NULL,                -- normalized name (NFKC, lower case): the uniqueness key
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL CHECK (version > 0),
    UNIQUE (owner_id, name_key)               -- also the index of ListCategories (owner, name_key, id)
);

CREATE TABLE todos (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL,
    title       TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    notes       TEXT NOT NULL DEFAULT '' CHECK (length(notes) <= 10000),
    done        BOOLEAN NOT NULL DEFAULT FALSE,
    due_at      BIGINT,                       -- NULL: no due date
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL CHECK (version > 0)
);
-- Keyset orders of ListTodos: (sort key, id) within an owner. A todo without a due date sorts
-- after every dated one, hence the COALESCE with the largest BIGINT.
CREATE INDEX todos_owner_created ON todos (owner_id, created_at, id);
CREATE INDEX todos_owner_due ON todos (owner_id, (COALESCE(due_at, 9223372036854775807)), id);
CREATE INDEX todos_owner_title ON todos (owner_id, title, id);
CREATE INDEX todos_owner_done ON todos (owner_id, done, created_at, id);

CREATE TABLE todo_categories (
    todo_id      TEXT NOT NULL REFERENCES todos(id) ON DELETE CASCADE,
    category_id  TEXT NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
    PRIMARY KEY (todo_id, category_id)        -- a page's categories: WHERE todo_id IN (…)
);
CREATE INDEX todo_categories_category ON todo_categories (category_id, todo_id);

-- +goose Down
DROP TABLE todo_categories;
DROP TABLE todos;
DROP TABLE categories;
