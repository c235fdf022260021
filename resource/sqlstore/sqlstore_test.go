package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/resource"
	"github.com/gatehouse-id/gatehouse/resource/sqlstore"
	"github.com/gatehouse-id/gatehouse/resource/storetest"
)

func newStore(t *testing.T, db *database.DB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(db, []byte(rand.Text()+rand.Text()))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStore runs the conformance suite on SQLite, and on PostgreSQL when
// GATEHOUSE_TEST_DATABASE_URL is set; each store gets a fresh database and cursor key.
func TestStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		storetest.Run(t, func(t *testing.T) resource.Store { return newStore(t, newDB(t)) })
	})
}

func TestNewRejectsShortKey(t *testing.T) {
	if _, err := sqlstore.New(dbtest.NewSQLite(t), make([]byte, sqlstore.MinCursorKeyLength-1)); err == nil {
		t.Error("New with a 31-byte cursor key = nil error, want one")
	}
}

// counter is an sqlx.ExtContext that counts the statements run through it.
type counter struct {
	sqlx.ExtContext
	n atomic.Int64
}

func (c *counter) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	c.n.Add(1)
	return c.ExtContext.QueryContext(ctx, q, args...)
}

func (c *counter) QueryxContext(ctx context.Context, q string, args ...any) (*sqlx.Rows, error) {
	c.n.Add(1)
	return c.ExtContext.QueryxContext(ctx, q, args...)
}

func (c *counter) QueryRowxContext(ctx context.Context, q string, args ...any) *sqlx.Row {
	c.n.Add(1)
	return c.ExtContext.QueryRowxContext(ctx, q, args...)
}

func (c *counter) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	c.n.Add(1)
	return c.ExtContext.ExecContext(ctx, q, args...)
}

// TestListTodosQueryCount checks that a page of todos with their categories costs two queries
// whatever its size: no N+1.
func TestListTodosQueryCount(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		s := newStore(t, newDB(t))
		ctx := t.Context()
		var cats []string
		for i := range 3 {
			c, err := s.CreateCategory(ctx, "owner", resource.Category{Name: fmt.Sprintf("c%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			cats = append(cats, c.ID)
		}
		for i := range 100 {
			if _, err := s.CreateTodo(ctx, "owner", resource.Todo{Title: fmt.Sprintf("t%03d", i), CategoryIDs: cats[:i%4]}); err != nil {
				t.Fatal(err)
			}
		}
		c := &counter{}
		sqlstore.WrapReader(s, func(e sqlx.ExtContext) sqlx.ExtContext { c.ExtContext = e; return c })
		for _, tt := range []struct {
			name string
			size int
			q    resource.ListTodosQuery
		}{
			{"page of 1", 1, resource.ListTodosQuery{}},
			{"page of 10", 10, resource.ListTodosQuery{}},
			{"page of 100", 100, resource.ListTodosQuery{}},
			{"page of 10 by due date, text filter", 10, resource.ListTodosQuery{Sort: resource.SortDueAt, Text: "T0"}},
			{"page of 25, category filter", 25, resource.ListTodosQuery{CategoryID: cats[0], Desc: true}},
		} {
			size := tt.size
			t.Run(tt.name, func(t *testing.T) {
				c.n.Store(0)
				q := tt.q
				q.OwnerID, q.Limit = "owner", size
				page, _, err := s.ListTodos(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				links := 0
				for _, td := range page {
					links += len(td.CategoryIDs)
				}
				if len(page) != size || (size > 1 && links == 0) {
					t.Fatalf("page of %d todos with %d category links, want %d todos with links", len(page), links, size)
				}
				if got := c.n.Load(); got != 2 {
					t.Errorf("ListTodos(limit %d) ran %d queries, want 2", size, got)
				}
			})
		}
	})
}
