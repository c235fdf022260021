-- +goose Up

-- The admin view (ListAllTodos) pages through every owner's todos by (created_at, id).
CREATE INDEX todos_created ON todos (created_at, id);

-- +goose Down
DROP INDEX todos_created;
