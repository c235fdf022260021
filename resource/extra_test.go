package resource_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/resource"
	"github.com/gatehouse-id/gatehouse/resource/sqlstore"
)

func TestMergePatchAndHeaders(t *testing.T) {
	e := newEnv(t)
	id := e.createTodo("alice", map[string]any{"title": "a"})["id"].(string)
	r := e.do("alice", "GET", "/api/v1/todos/"+id, nil)
	e.want(r, http.StatusOK)
	if _, ok := r.header["Location"]; ok {
		t.Errorf("GET sends a Location header: %q", r.header.Get("Location"))
	}
	if cc := r.header.Get("Cache-Control"); cc != "private, no-cache" {
		t.Errorf("Cache-Control %q, want private, no-cache", cc)
	}
	r = e.do("alice", "PATCH", "/api/v1/todos/"+id, `{"notes":"n"}`, "If-Match", `"1"`, "Content-Type", "application/merge-patch+json")
	e.want(r, http.StatusOK)
	if m := r.json(t); m["notes"] != "n" || m["title"] != "a" || r.header.Get("ETag") != `"2"` {
		t.Errorf("merge patch: ETag %q %s", r.header.Get("ETag"), r.body)
	}
}

// TestNoAuthFailsClosed: an auth middleware that lets a request through without a principal
// does not open the API.
func TestNoAuthFailsClosed(t *testing.T) {
	st, err := sqlstore.New(dbtest.NewSQLite(t), []byte(rand.Text()+rand.Text()))
	if err != nil {
		t.Fatal(err)
	}
	passthrough := func(next http.Handler) http.Handler { return next }
	srv, err := resource.NewServer(resource.Config{}, st, passthrough, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e := &env{t: t, ts: ts, st: st}
	e.wantProblem(e.do("", "GET", "/api/v1/todos", nil), http.StatusUnauthorized)
	e.wantProblem(e.do("", "POST", "/api/v1/todos", map[string]any{"title": "x"}), http.StatusUnauthorized)
}

func TestNewServerRefuses(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	auth := func(next http.Handler) http.Handler { return next }
	for _, tt := range []struct {
		name string
		cfg  resource.Config
		st   resource.Store
		auth func(http.Handler) http.Handler
	}{
		{"negative body cap", resource.Config{MaxBodyBytes: -1}, failingStore{}, auth},
		{"no store", resource.Config{}, nil, auth},
		{"no auth", resource.Config{}, failingStore{}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := resource.NewServer(tt.cfg, tt.st, tt.auth, log); err == nil {
				t.Error("NewServer accepted it")
			}
		})
	}
}

// failingStore fails every call with a cause that must not reach the client.
type failingStore struct{ resource.Store }

var errSecret = errors.New("pq: password authentication failed for user secret_db_user")

func (failingStore) GetTodo(context.Context, string, string) (resource.Todo, error) {
	return resource.Todo{}, errSecret
}

// TestInternalErrorHidesCause: a store failure is a 500 problem with the request ID, the cause
// only in the log.
func TestInternalErrorHidesCause(t *testing.T) {
	var logs strings.Builder
	srv, err := resource.NewServer(resource.Config{}, failingStore{}, fakeAuth, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e := &env{t: t, ts: ts}
	r := e.do("alice", "GET", "/api/v1/todos/x", nil)
	m := e.wantProblem(r, http.StatusInternalServerError)
	id := r.header.Get("X-Request-Id")
	if strings.Contains(string(r.body), "secret") || !strings.Contains(m["detail"].(string), id) || id == "" {
		t.Errorf("500 body %s (request id %q)", r.body, id)
	}
	if !strings.Contains(logs.String(), "secret_db_user") || !strings.Contains(logs.String(), id) {
		t.Errorf("the log lacks the cause or the request id: %s", logs.String())
	}
}

// TestConcurrentUpdates: of writes racing with the same If-Match exactly one wins; the others
// get 412, so no update is lost.
func TestConcurrentUpdates(t *testing.T) {
	e := newEnv(t)
	id := e.createTodo("alice", map[string]any{"title": "race"})["id"].(string)
	const n = 8
	statuses := make(chan int, n)
	for i := range n {
		go func() {
			req, _ := http.NewRequestWithContext(t.Context(), "PATCH", e.ts.URL+"/api/v1/todos/"+id,
				strings.NewReader(`{"notes":"writer `+string(rune('a'+i))+`"}`))
			req.Header.Set("Authorization", "Bearer alice")
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("If-Match", `"1"`)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	won := 0
	for range n {
		switch s := <-statuses; s {
		case http.StatusOK:
			won++
		case http.StatusPreconditionFailed:
		default:
			t.Errorf("status %d, want 200 or 412", s)
		}
	}
	if won != 1 {
		t.Errorf("%d writers won, want 1", won)
	}
	r := e.do("alice", "GET", "/api/v1/todos/"+id, nil)
	if r.header.Get("ETag") != `"2"` {
		t.Errorf("ETag %q after one winning write, want \"2\"", r.header.Get("ETag"))
	}
}

func TestListFilters(t *testing.T) {
	e := newEnv(t)
	c := e.do("alice", "POST", "/api/v1/categories", map[string]any{"name": "Work"})
	e.want(c, http.StatusCreated)
	catID := c.json(t)["id"].(string)
	e.createTodo("alice", map[string]any{"title": "early", "dueAt": "2030-01-01T00:00:00Z", "categoryIds": []string{catID}})
	e.createTodo("alice", map[string]any{"title": "late", "dueAt": "2031-01-01T00:00:00Z"})
	e.createTodo("alice", map[string]any{"title": "never"})
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"category=" + catID, []string{"early"}},
		{"due_before=2030-06-01T00:00:00Z", []string{"early"}},
		{"due_after=2030-06-01T00:00:00Z", []string{"late"}},
		{"sort=due_at", []string{"early", "late", "never"}},
		{"sort=due_at&desc=true", []string{"never", "late", "early"}},
		{"sort=title&desc=true", []string{"never", "late", "early"}},
		{"q=LAT", []string{"late"}},
		{"done=false&q=e&sort=title", []string{"early", "late", "never"}},
	} {
		t.Run(tt.query, func(t *testing.T) {
			e.t = t
			r := e.do("alice", "GET", "/api/v1/todos?"+tt.query, nil)
			e.want(r, http.StatusOK)
			var got []string
			for _, it := range r.json(t)["items"].([]any) {
				got = append(got, it.(map[string]any)["title"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
