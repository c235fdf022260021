package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/resource"
	"github.com/gatehouse-id/gatehouse/resource/bearer"
	"github.com/gatehouse-id/gatehouse/resource/sqlstore"
)

// allowAll is an Authorizer that allows everything, so that the admin route is open.
type allowAll struct{}

func (allowAll) Authorize(context.Context, string, string, string) (resource.Decision, error) {
	return resource.Decision{Allowed: true, Revision: 1}, nil
}

// TestListTodosQueryCountOverHTTP: through the HTTP handlers (the list, the admin list and one
// todo) a page costs the same fixed number of queries whatever its size, on both dialects: the
// handlers add no query per item.
func TestListTodosQueryCountOverHTTP(t *testing.T) {
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
		var first string
		for i := range 100 {
			td, err := s.CreateTodo(ctx, "owner", resource.Todo{Title: fmt.Sprintf("t%03d", i), CategoryIDs: cats[:i%4]})
			if err != nil {
				t.Fatal(err)
			}
			if first == "" {
				first = td.ID
			}
		}
		c := &counter{}
		sqlstore.WrapReader(s, func(e sqlx.ExtContext) sqlx.ExtContext { c.ExtContext = e; return c })
		auth := func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				p := &bearer.Principal{Subject: "owner", ClientID: "app", Scopes: []string{resource.ScopeRead, resource.ScopeAdmin}}
				next.ServeHTTP(w, r.WithContext(bearer.NewContext(r.Context(), p)))
			})
		}
		srv, err := resource.NewServer(resource.Config{Authorizer: allowAll{}, AdminWithoutIntrospection: true}, s, auth, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		t.Cleanup(ts.Close)
		for _, tt := range []struct {
			path  string
			items int
			want  int64
		}{
			{"/api/v1/todos?limit=1", 1, 2},
			{"/api/v1/todos?limit=10", 10, 2},
			{"/api/v1/todos?limit=100", 100, 2},
			{"/api/v1/todos?limit=100&sort=title&category=" + cats[1], 50, 2},
			{"/api/v1/admin/todos?limit=1", 1, 2},
			{"/api/v1/admin/todos?limit=10", 10, 2},
			{"/api/v1/admin/todos?limit=100", 100, 2},
			{"/api/v1/todos/" + first, -1, 2},
		} {
			t.Run(tt.path, func(t *testing.T) {
				c.n.Store(0)
				resp, err := ts.Client().Get(ts.URL + tt.path)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 {
					t.Fatalf("%d %s", resp.StatusCode, b)
				}
				var page struct {
					Items []struct{ CategoryIDs []string }
				}
				json.Unmarshal(b, &page)
				links := 0
				for _, it := range page.Items {
					links += len(it.CategoryIDs)
				}
				if tt.items >= 0 && (len(page.Items) != tt.items || (tt.items > 1 && links == 0)) {
					t.Fatalf("%d items with %d category links, want %d with links", len(page.Items), links, tt.items)
				}
				if got := c.n.Load(); got != tt.want {
					t.Errorf("GET %s ran %d queries, want %d", tt.path, got, tt.want)
				}
			})
		}
	})
}
