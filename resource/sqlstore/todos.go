package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-id/gatehouse/resource"
)

const todoColumns = "id, owner_id, title, notes, done, due_at, created_at, updated_at, version"

// noDue is the sort value of a todo without a due date: it comes after every dated one.
const noDue = "9223372036854775807"

// todoSorts is the allowlist of ListTodos sort keys: the SQL expression of each (it must match
// the expression of its index in migrations/resource) and whether its value is an integer.
var todoSorts = map[resource.TodoSort]struct {
	expr    string
	integer bool
}{
	resource.SortCreatedAt: {"created_at", true},
	resource.SortDueAt:     {"COALESCE(due_at, " + noDue + ")", true},
	resource.SortTitle:     {"title", false},
}

type todoRow struct {
	ID        string        `db:"id"`
	OwnerID   string        `db:"owner_id"`
	Title     string        `db:"title"`
	Notes     string        `db:"notes"`
	Done      bool          `db:"done"`
	DueAt     sql.NullInt64 `db:"due_at"`
	CreatedAt int64         `db:"created_at"`
	UpdatedAt int64         `db:"updated_at"`
	Version   int64         `db:"version"`
}

func (r todoRow) todo() resource.Todo {
	t := resource.Todo{
		ID: r.ID, OwnerID: r.OwnerID, Title: r.Title, Notes: r.Notes, Done: r.Done,
		CreatedAt: fromMillis(r.CreatedAt), UpdatedAt: fromMillis(r.UpdatedAt), Version: r.Version,
		CategoryIDs: []string{},
	}
	if r.DueAt.Valid {
		d := fromMillis(r.DueAt.Int64)
		t.DueAt = &d
	}
	return t
}

func dueArg(d *time.Time) any {
	if d == nil {
		return nil
	}
	return d.UnixMilli()
}

// normalizeCategories sorts and de-duplicates a todo's category ids.
func normalizeCategories(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// CreateTodo implements resource.Store.
func (s *Store) CreateTodo(ctx context.Context, owner string, t resource.Todo) (resource.Todo, error) {
	if err := checkOwner(owner); err != nil {
		return resource.Todo{}, err
	}
	if err := t.Validate(); err != nil {
		return resource.Todo{}, fmt.Errorf("create todo: %w", err)
	}
	now := s.now().UnixMilli()
	t.ID, t.OwnerID, t.Version = newID(), owner, 1
	t.CreatedAt, t.UpdatedAt = fromMillis(now), fromMillis(now)
	t.CategoryIDs = normalizeCategories(t.CategoryIDs)
	if t.DueAt != nil {
		d := fromMillis(t.DueAt.UnixMilli())
		t.DueAt = &d
	}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.checkCategories(ctx, tx, owner, t.CategoryIDs); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.rebind("INSERT INTO todos ("+todoColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
			t.ID, owner, t.Title, t.Notes, t.Done, dueArg(t.DueAt), now, now, t.Version)
		if err != nil {
			return domainErr("create todo", err)
		}
		return s.linkCategories(ctx, tx, t.ID, t.CategoryIDs)
	})
	if err != nil {
		return resource.Todo{}, err
	}
	return t, nil
}

// checkCategories returns ErrInvalid unless every id is a category of owner. On PostgreSQL it
// share-locks them, so that none is deleted before the transaction links it.
func (s *Store) checkCategories(ctx context.Context, tx *sqlx.Tx, owner string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	q, args, err := sqlx.In("SELECT id FROM categories WHERE owner_id = ? AND id IN (?)"+s.forShare, owner, ids)
	if err != nil {
		return fmt.Errorf("check categories: %w", err)
	}
	var found []string
	if err := sqlx.SelectContext(ctx, tx, &found, s.rebind(q), args...); err != nil {
		return domainErr("check categories", err)
	}
	for _, id := range ids {
		if !slices.Contains(found, id) {
			// The same answer for another owner's category as for none: never reveal existence.
			return resource.Invalid("categoryIds", "unknown category %q", id)
		}
	}
	return nil
}

// linkCategories adds the rows of todo_categories for a todo, in one statement.
func (s *Store) linkCategories(ctx context.Context, tx *sqlx.Tx, todoID string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("INSERT INTO todo_categories (todo_id, category_id) VALUES ")
	args := make([]any, 0, 2*len(ids))
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?)")
		args = append(args, todoID, id)
	}
	if _, err := tx.ExecContext(ctx, s.rebind(b.String()), args...); err != nil {
		return domainErr("link categories", err)
	}
	return nil
}

// GetTodo implements resource.Store.
func (s *Store) GetTodo(ctx context.Context, owner, id string) (resource.Todo, error) {
	var r todoRow
	err := sqlx.GetContext(ctx, s.reader, &r, s.rebind("SELECT "+todoColumns+" FROM todos WHERE id = ? AND owner_id = ?"), id, owner)
	if err != nil {
		return resource.Todo{}, domainErr("get todo", err)
	}
	t := r.todo()
	if err := sqlx.SelectContext(ctx, s.reader, &t.CategoryIDs,
		s.rebind("SELECT category_id FROM todo_categories WHERE todo_id = ?"), id); err != nil {
		return resource.Todo{}, domainErr("get todo categories", err)
	}
	t.CategoryIDs = normalizeCategories(t.CategoryIDs)
	return t, nil
}

// escapeLike escapes LIKE's wildcards (and the escape character !) in s.
func escapeLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// ListTodos implements resource.Store.
func (s *Store) ListTodos(ctx context.Context, q resource.ListTodosQuery) ([]resource.Todo, string, error) {
	if err := checkOwner(q.OwnerID); err != nil {
		return nil, "", err
	}
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return nil, "", err
	}
	if q.Sort == "" {
		q.Sort = resource.SortCreatedAt
	}
	sort, ok := todoSorts[q.Sort]
	if !ok {
		return nil, "", resource.Invalid("sort", "must be one of created_at, due_at, title, not %q", string(q.Sort))
	}

	var where strings.Builder
	where.WriteString("owner_id = ?")
	args := []any{q.OwnerID}
	if q.Done != nil {
		where.WriteString(" AND done = ?")
		args = append(args, *q.Done)
	}
	if q.CategoryID != "" {
		where.WriteString(" AND EXISTS (SELECT 1 FROM todo_categories tc WHERE tc.todo_id = todos.id AND tc.category_id = ?)")
		args = append(args, q.CategoryID)
	}
	if q.DueBefore != nil {
		where.WriteString(" AND due_at < ?")
		args = append(args, q.DueBefore.UnixMilli())
	}
	if q.DueAfter != nil {
		where.WriteString(" AND due_at > ?")
		args = append(args, q.DueAfter.UnixMilli())
	}
	if q.Text != "" {
		// SQLite's LOWER folds ASCII only; PostgreSQL's folds all of Unicode.
		where.WriteString(" AND (LOWER(title) LIKE ? ESCAPE '!' OR LOWER(notes) LIKE ? ESCAPE '!')")
		pat := "%" + escapeLike(strings.ToLower(q.Text)) + "%"
		args = append(args, pat, pat)
	}
	cmp, dir := ">", "ASC"
	if q.Desc {
		cmp, dir = "<", "DESC"
	}
	if q.After != "" {
		c, err := s.decodeCursor("todos", q.OwnerID, q.After)
		if err != nil {
			return nil, "", err
		}
		if c.Sort != string(q.Sort) || c.Desc != q.Desc || (c.Num != nil) != sort.integer {
			return nil, "", errBadCursor
		}
		// sort.expr and cmp come from the allowlist above, never from the request.
		where.WriteString(" AND (" + sort.expr + ", id) " + cmp + " (?, ?)")
		if sort.integer {
			args = append(args, *c.Num, c.ID)
		} else {
			args = append(args, c.Str, c.ID)
		}
	}
	query := "SELECT " + todoColumns + " FROM todos WHERE " + where.String() +
		" ORDER BY " + sort.expr + " " + dir + ", id " + dir + " LIMIT ?"
	args = append(args, limit+1)

	var rows []todoRow
	if err := sqlx.SelectContext(ctx, s.reader, &rows, s.rebind(query), args...); err != nil {
		return nil, "", domainErr("list todos", err)
	}
	var next string
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		c := cursor{Sort: string(q.Sort), Desc: q.Desc, ID: last.ID}
		switch q.Sort {
		case resource.SortCreatedAt:
			c.Num = &last.CreatedAt
		case resource.SortDueAt:
			v := int64(1<<63 - 1)
			if last.DueAt.Valid {
				v = last.DueAt.Int64
			}
			c.Num = &v
		case resource.SortTitle:
			c.Str = last.Title
		}
		next = s.encodeCursor("todos", q.OwnerID, c)
	}
	page := make([]resource.Todo, len(rows))
	for i, r := range rows {
		page[i] = r.todo()
	}
	if err := s.loadCategories(ctx, page); err != nil {
		return nil, "", err
	}
	return page, next, nil
}

// ListAllTodos implements resource.Store: every owner's todos by (created_at, id), on the
// todos_created index.
func (s *Store) ListAllTodos(ctx context.Context, q resource.AllTodosQuery) ([]resource.Todo, string, error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return nil, "", err
	}
	where, args := "", []any{}
	if q.After != "" {
		// The owner slot of the MAC is empty: no owner's cursor is valid here, nor this one there.
		c, err := s.decodeCursor("all-todos", "", q.After)
		if err != nil {
			return nil, "", err
		}
		if c.Sort != string(resource.SortCreatedAt) || c.Desc || c.Num == nil {
			return nil, "", errBadCursor
		}
		where = " WHERE (created_at, id) > (?, ?)"
		args = append(args, *c.Num, c.ID)
	}
	args = append(args, limit+1)
	var rows []todoRow
	query := "SELECT " + todoColumns + " FROM todos" + where + " ORDER BY created_at, id LIMIT ?"
	if err := sqlx.SelectContext(ctx, s.reader, &rows, s.rebind(query), args...); err != nil {
		return nil, "", domainErr("list all todos", err)
	}
	var next string
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		next = s.encodeCursor("all-todos", "", cursor{Sort: string(resource.SortCreatedAt), Num: &last.CreatedAt, ID: last.ID})
	}
	page := make([]resource.Todo, len(rows))
	for i, r := range rows {
		page[i] = r.todo()
	}
	if err := s.loadCategories(ctx, page); err != nil {
		return nil, "", err
	}
	return page, next, nil
}

// loadCategories fills in the category ids of a page of todos with one query.
func (s *Store) loadCategories(ctx context.Context, page []resource.Todo) error {
	if len(page) == 0 {
		return nil
	}
	ids := make([]string, len(page))
	index := make(map[string]int, len(page))
	for i, t := range page {
		ids[i] = t.ID
		index[t.ID] = i
	}
	q, args, err := sqlx.In("SELECT todo_id, category_id FROM todo_categories WHERE todo_id IN (?)", ids)
	if err != nil {
		return fmt.Errorf("list todo categories: %w", err)
	}
	var links []struct {
		TodoID     string `db:"todo_id"`
		CategoryID string `db:"category_id"`
	}
	if err := sqlx.SelectContext(ctx, s.reader, &links, s.rebind(q), args...); err != nil {
		return domainErr("list todo categories", err)
	}
	for _, l := range links {
		t := &page[index[l.TodoID]]
		t.CategoryIDs = append(t.CategoryIDs, l.CategoryID)
	}
	for i := range page {
		slices.Sort(page[i].CategoryIDs)
	}
	return nil
}

// UpdateTodo implements resource.Store.
func (s *Store) UpdateTodo(ctx context.Context, owner, id string, ifVersion int64, fn func(*resource.Todo) error) (resource.Todo, error) {
	if err := checkOwner(owner); err != nil {
		return resource.Todo{}, err
	}
	var t resource.Todo
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		// Lock order on PostgreSQL: categories (FOR SHARE, in checkCategories) before the todo
		// (by the UPDATE), as DeleteCategory takes them, so that the two cannot deadlock. The
		// read does not lock: the UPDATE's version condition catches a write in between.
		var r todoRow
		err := tx.GetContext(ctx, &r, s.rebind("SELECT "+todoColumns+" FROM todos WHERE id = ? AND owner_id = ?"), id, owner)
		if err != nil {
			return domainErr("update todo", err)
		}
		if err := checkVersion("update todo", r.Version, ifVersion); err != nil {
			return err
		}
		old := r.todo()
		if err := tx.SelectContext(ctx, &old.CategoryIDs, s.rebind("SELECT category_id FROM todo_categories WHERE todo_id = ?"), id); err != nil {
			return domainErr("update todo", err)
		}
		old.CategoryIDs = normalizeCategories(old.CategoryIDs)
		t = old
		t.CategoryIDs = slices.Clone(old.CategoryIDs)
		if err := fn(&t); err != nil {
			return err
		}
		if err := t.Validate(); err != nil {
			return fmt.Errorf("update todo: %w", err)
		}
		now := s.now().UnixMilli()
		t.ID, t.OwnerID, t.CreatedAt = old.ID, old.OwnerID, old.CreatedAt
		t.UpdatedAt, t.Version = fromMillis(now), old.Version+1
		t.CategoryIDs = normalizeCategories(t.CategoryIDs)
		if t.DueAt != nil {
			d := fromMillis(t.DueAt.UnixMilli())
			t.DueAt = &d
		}
		changed := !slices.Equal(t.CategoryIDs, old.CategoryIDs)
		if changed {
			if err := s.checkCategories(ctx, tx, owner, t.CategoryIDs); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, s.rebind("UPDATE todos SET title = ?, notes = ?, done = ?, due_at = ?, updated_at = ?, version = ? "+
			"WHERE id = ? AND version = ?"), t.Title, t.Notes, t.Done, dueArg(t.DueAt), now, t.Version, id, old.Version)
		if err != nil {
			return domainErr("update todo", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("update todo: %w", err)
		} else if n != 1 {
			return fmt.Errorf("update todo: changed concurrently: %w", resource.ErrPrecondition)
		}
		if !changed {
			return nil
		}
		if _, err := tx.ExecContext(ctx, s.rebind("DELETE FROM todo_categories WHERE todo_id = ?"), id); err != nil {
			return domainErr("update todo", err)
		}
		return s.linkCategories(ctx, tx, id, t.CategoryIDs)
	})
	if err != nil {
		return resource.Todo{}, err
	}
	return t, nil
}

// DeleteTodo implements resource.Store.
func (s *Store) DeleteTodo(ctx context.Context, owner, id string, ifVersion int64) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var version int64
		err := tx.GetContext(ctx, &version, s.rebind("SELECT version FROM todos WHERE id = ? AND owner_id = ?"+s.forUpdate), id, owner)
		if err != nil {
			return domainErr("delete todo", err)
		}
		if err := checkVersion("delete todo", version, ifVersion); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.rebind("DELETE FROM todos WHERE id = ?"), id); err != nil {
			return domainErr("delete todo", err)
		}
		return nil
	})
}
