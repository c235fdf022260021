package resource_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/resource"
	"github.com/gatehouse-id/gatehouse/resource/bearer"
	"github.com/gatehouse-id/gatehouse/resource/sqlstore"
)

// Principals the fake auth middleware knows, by the token in the Authorization header.
var principals = map[string]*bearer.Principal{
	"alice":     {Subject: "alice", ClientID: "app", Scopes: []string{"todos:read", "todos:write"}},
	"bob":       {Subject: "bob", ClientID: "app", Scopes: []string{"todos:read", "todos:write", "todos:admin"}},
	"alice-ro":  {Subject: "alice", ClientID: "app", Scopes: []string{"todos:read"}},
	"alice-wo":  {Subject: "alice", ClientID: "app", Scopes: []string{"todos:write"}},
	"client-cc": {Subject: "svc", ClientID: "svc", Scopes: []string{"todos:read", "todos:write"}},
	"carol":     {Subject: "carol", ClientID: "app", Scopes: []string{"todos:read", "todos:write"}},
	"carol-ro":  {Subject: "carol", ClientID: "app", Scopes: []string{"todos:read"}},
	// Tokens with the admin view's own scope (todos:admin, review F4).
	"carol-admin":   {Subject: "carol", ClientID: "console", Scopes: []string{"todos:admin"}},
	"alice-admin":   {Subject: "alice", ClientID: "console", Scopes: []string{"todos:read", "todos:admin"}},
	"client-admin":  {Subject: "svc", ClientID: "svc", Scopes: []string{"todos:admin"}},
	"carol-revoked": {Subject: "carol", ClientID: "console", Scopes: []string{"todos:admin"}},
}

// fakeAuth stands in for bearer.Verifier.Middleware: "Bearer <name>" of principals, else 401.
func fakeAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := principals[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		if !ok {
			w.Header().Set("WWW-Authenticate", "Bearer")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(bearer.NewContext(r.Context(), p)))
	})
}

type env struct {
	t  *testing.T
	ts *httptest.Server
	st resource.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, resource.Config{}, io.Discard)
}

// newEnvWith is newEnv with a configuration and a log destination.
func newEnvWith(t *testing.T, cfg resource.Config, logs io.Writer) *env {
	t.Helper()
	st, err := sqlstore.New(dbtest.NewSQLite(t), []byte(rand.Text()+rand.Text()))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := resource.NewServer(cfg, st, fakeAuth, log)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &env{t: t, ts: ts, st: st}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// do sends a request as who ("" for no token); body is a string (sent raw) or a value (JSON).
func (e *env) do(who, method, path string, body any, header ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+who)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) want(r response, status int) {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("got status %d, want %d: %s", r.status, status, r.body)
	}
}

// wantProblem checks an RFC 9457 answer with status.
func (e *env) wantProblem(r response, status int) map[string]any {
	e.t.Helper()
	e.want(r, status)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		e.t.Fatalf("Content-Type %q, want application/problem+json: %s", ct, r.body)
	}
	m := r.json(e.t)
	if m["status"] != float64(status) || m["title"] == nil {
		e.t.Fatalf("not a problem document: %s", r.body)
	}
	return m
}

func (e *env) createTodo(who string, body any) map[string]any {
	e.t.Helper()
	r := e.do(who, "POST", "/api/v1/todos", body)
	e.want(r, http.StatusCreated)
	return r.json(e.t)
}

func (e *env) countTodos(who string) int {
	e.t.Helper()
	r := e.do(who, "GET", "/api/v1/todos?limit=100", nil)
	e.want(r, http.StatusOK)
	return len(r.json(e.t)["items"].([]any))
}

func TestTodoCRUD(t *testing.T) {
	e := newEnv(t)
	cat := e.do("alice", "POST", "/api/v1/categories", map[string]any{"name": "Home"})
	e.want(cat, http.StatusCreated)
	catID := cat.json(t)["id"].(string)

	r := e.do("alice", "POST", "/api/v1/todos", map[string]any{
		"title": "Buy milk", "notes": "2 l", "dueAt": "2030-01-02T03:04:05Z", "categoryIds": []string{catID},
	})
	e.want(r, http.StatusCreated)
	created := r.json(t)
	id := created["id"].(string)
	if loc := r.header.Get("Location"); loc != "/api/v1/todos/"+id {
		t.Errorf("Location %q", loc)
	}
	if r.header.Get("ETag") != `"1"` {
		t.Errorf("ETag %q, want \"1\"", r.header.Get("ETag"))
	}
	if created["title"] != "Buy milk" || created["done"] != false || created["dueAt"] != "2030-01-02T03:04:05Z" {
		t.Errorf("created %v", created)
	}

	r = e.do("alice", "GET", "/api/v1/todos/"+id, nil)
	e.want(r, http.StatusOK)
	etag := r.header.Get("ETag")
	if got := r.json(t); etag != `"1"` || got["categoryIds"].([]any)[0] != catID {
		t.Errorf("get: ETag %q, body %s", etag, r.body)
	}

	r = e.do("alice", "PATCH", "/api/v1/todos/"+id, map[string]any{"done": true, "dueAt": nil}, "If-Match", etag)
	e.want(r, http.StatusOK)
	got := r.json(t)
	if got["done"] != true || got["dueAt"] != nil || got["title"] != "Buy milk" || got["notes"] != "2 l" || r.header.Get("ETag") != `"2"` {
		t.Errorf("patch: ETag %q, body %s", r.header.Get("ETag"), r.body)
	}

	r = e.do("alice", "PUT", "/api/v1/todos/"+id, map[string]any{"title": "Buy oat milk"}, "If-Match", `"2"`)
	e.want(r, http.StatusOK)
	got = r.json(t)
	if got["title"] != "Buy oat milk" || got["notes"] != "" || got["done"] != false || len(got["categoryIds"].([]any)) != 0 {
		t.Errorf("put replaced nothing: %s", r.body)
	}

	r = e.do("alice", "DELETE", "/api/v1/todos/"+id, nil, "If-Match", `"3"`)
	e.want(r, http.StatusNoContent)
	e.wantProblem(e.do("alice", "GET", "/api/v1/todos/"+id, nil), http.StatusNotFound)

	// Categories: rename, list, delete.
	r = e.do("alice", "PATCH", "/api/v1/categories/"+catID, map[string]any{"name": "House"}, "If-Match", `"1"`)
	e.want(r, http.StatusOK)
	r = e.do("alice", "GET", "/api/v1/categories", nil)
	e.want(r, http.StatusOK)
	if items := r.json(t)["items"].([]any); len(items) != 1 || items[0].(map[string]any)["name"] != "House" {
		t.Errorf("list categories: %s", r.body)
	}
	e.wantProblem(e.do("alice", "POST", "/api/v1/categories", map[string]any{"name": "house"}), http.StatusConflict)
	r = e.do("alice", "DELETE", "/api/v1/categories/"+catID, nil, "If-Match", `"2"`)
	e.want(r, http.StatusNoContent)
}

// TestOwnerIsolation (RB-07): bob sees none of alice's objects, and each is a 404 as if it did
// not exist; nothing of alice's changes.
func TestOwnerIsolation(t *testing.T) {
	e := newEnv(t)
	todo := e.createTodo("alice", map[string]any{"title": "secret"})
	id := todo["id"].(string)
	cat := e.do("alice", "POST", "/api/v1/categories", map[string]any{"name": "Private"})
	e.want(cat, http.StatusCreated)
	catID := cat.json(t)["id"].(string)

	for _, tt := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/todos/" + id, nil},
		{"PATCH", "/api/v1/todos/" + id, map[string]any{"title": "mine"}},
		{"PUT", "/api/v1/todos/" + id, map[string]any{"title": "mine"}},
		{"DELETE", "/api/v1/todos/" + id, nil},
		{"GET", "/api/v1/categories/" + catID, nil},
		{"PATCH", "/api/v1/categories/" + catID, map[string]any{"name": "mine"}},
		{"PUT", "/api/v1/categories/" + catID, map[string]any{"name": "mine"}},
		{"DELETE", "/api/v1/categories/" + catID, nil},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			e.t = t
			e.wantProblem(e.do("bob", tt.method, tt.path, tt.body, "If-Match", "*"), http.StatusNotFound)
		})
	}
	e.t = t
	if n := e.countTodos("bob"); n != 0 {
		t.Errorf("bob lists %d todos", n)
	}
	// bob cannot attach alice's category to his own todo.
	r := e.do("bob", "POST", "/api/v1/todos", map[string]any{"title": "x", "categoryIds": []string{catID}})
	e.wantProblem(r, http.StatusUnprocessableEntity)
	r = e.do("alice", "GET", "/api/v1/todos/"+id, nil)
	e.want(r, http.StatusOK)
	if r.json(t)["title"] != "secret" || r.header.Get("ETag") != `"1"` {
		t.Errorf("alice's todo changed: %s", r.body)
	}
	r = e.do("alice", "GET", "/api/v1/categories/"+catID, nil)
	e.want(r, http.StatusOK)
	if r.json(t)["name"] != "Private" || r.header.Get("ETag") != `"1"` {
		t.Errorf("alice's category changed: %s", r.body)
	}
	r = e.do("bob", "GET", "/api/v1/categories", nil)
	e.want(r, http.StatusOK)
	if n := len(r.json(t)["items"].([]any)); n != 0 {
		t.Errorf("bob lists %d categories", n)
	}
}

func TestScopesAndClients(t *testing.T) {
	e := newEnv(t)
	id := e.createTodo("alice", map[string]any{"title": "t"})["id"].(string)
	for _, tt := range []struct {
		who, method, path string
		body              any
		want              int
	}{
		{"", "GET", "/api/v1/todos", nil, http.StatusUnauthorized}, // the auth middleware's answer
		{"alice-ro", "GET", "/api/v1/todos", nil, http.StatusOK},
		{"alice-ro", "GET", "/api/v1/todos/" + id, nil, http.StatusOK},
		{"alice-ro", "POST", "/api/v1/todos", map[string]any{"title": "x"}, http.StatusForbidden},
		{"alice-ro", "PATCH", "/api/v1/todos/" + id, map[string]any{"title": "x"}, http.StatusForbidden},
		{"alice-ro", "PUT", "/api/v1/todos/" + id, map[string]any{"title": "x"}, http.StatusForbidden},
		{"alice-ro", "DELETE", "/api/v1/todos/" + id, nil, http.StatusForbidden},
		{"alice-ro", "POST", "/api/v1/categories", map[string]any{"name": "x"}, http.StatusForbidden},
		{"alice-wo", "GET", "/api/v1/todos/" + id, nil, http.StatusForbidden},
		{"alice-wo", "GET", "/api/v1/categories", nil, http.StatusForbidden},
		{"client-cc", "GET", "/api/v1/todos", nil, http.StatusForbidden},
		{"client-cc", "POST", "/api/v1/todos", map[string]any{"title": "x"}, http.StatusForbidden},
		{"client-cc", "GET", "/api/v1/categories", nil, http.StatusForbidden},
	} {
		t.Run(fmt.Sprintf("%s %s %s", tt.who, tt.method, tt.path), func(t *testing.T) {
			e.t = t
			r := e.do(tt.who, tt.method, tt.path, tt.body, "If-Match", "*")
			e.want(r, tt.want)
			if tt.want == http.StatusForbidden {
				e.wantProblem(r, tt.want)
				if tt.who != "client-cc" && !strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
					t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
			}
		})
	}
	e.t = t
	if n := e.countTodos("alice"); n != 1 {
		t.Errorf("alice has %d todos, want 1: a refused write wrote", n)
	}
}

func TestConditionalWrites(t *testing.T) {
	e := newEnv(t)
	id := e.createTodo("alice", map[string]any{"title": "v1"})["id"].(string)
	path := "/api/v1/todos/" + id
	for _, tt := range []struct {
		name, method, ifMatch string
		want                  int
	}{
		{"PATCH without If-Match", "PATCH", "", http.StatusPreconditionRequired},
		{"PUT without If-Match", "PUT", "", http.StatusPreconditionRequired},
		{"DELETE without If-Match", "DELETE", "", http.StatusPreconditionRequired},
		{"PATCH stale", "PATCH", `"7"`, http.StatusPreconditionFailed},
		{"PUT stale", "PUT", `"0"`, http.StatusPreconditionFailed},
		{"DELETE stale", "DELETE", `"2"`, http.StatusPreconditionFailed},
		{"weak ETag", "PATCH", `W/"1"`, http.StatusPreconditionFailed},
		{"garbage", "PATCH", `1`, http.StatusPreconditionFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			var h []string
			if tt.ifMatch != "" {
				h = []string{"If-Match", tt.ifMatch}
			}
			e.wantProblem(e.do("alice", tt.method, path, map[string]any{"title": "lost"}, h...), tt.want)
		})
	}
	e.t = t
	r := e.do("alice", "GET", path, nil)
	if r.json(t)["title"] != "v1" || r.header.Get("ETag") != `"1"` {
		t.Fatalf("a refused write changed the todo: ETag %q %s", r.header.Get("ETag"), r.body)
	}
	r = e.do("alice", "PATCH", path, map[string]any{"title": "v2"}, "If-Match", r.header.Get("ETag"))
	e.want(r, http.StatusOK)
	// The ETag read before is now stale.
	e.wantProblem(e.do("alice", "PATCH", path, map[string]any{"title": "v3"}, "If-Match", `"1"`), http.StatusPreconditionFailed)
	r = e.do("alice", "GET", path, nil)
	if r.json(t)["title"] != "v2" || r.header.Get("ETag") != `"2"` {
		t.Fatalf("got ETag %q %s, want v2 at \"2\"", r.header.Get("ETag"), r.body)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	id := e.createTodo("alice", map[string]any{"title": "keep"})["id"].(string)
	catR := e.do("alice", "POST", "/api/v1/categories", map[string]any{"name": "c"})
	e.want(catR, http.StatusCreated)
	big := `{"title":"x","notes":"` + strings.Repeat("a", 70<<10) + `"}`
	for _, tt := range []struct {
		name, method, path string
		body               any
		want               int
		field              string // a location the problem must name
	}{
		{"invalid JSON", "POST", "/api/v1/todos", `{"title":`, http.StatusBadRequest, ""},
		{"not an object", "POST", "/api/v1/todos", `[1,2]`, http.StatusUnprocessableEntity, ""},
		{"wrong type", "POST", "/api/v1/todos", `{"title":42,"done":"yes"}`, http.StatusUnprocessableEntity, "body.title"},
		{"unknown field", "POST", "/api/v1/todos", `{"title":"x","owner":"bob"}`, http.StatusUnprocessableEntity, "body.owner"},
		{"missing title", "POST", "/api/v1/todos", `{}`, http.StatusUnprocessableEntity, "body.title"},
		{"blank title", "POST", "/api/v1/todos", `{"title":"   "}`, http.StatusUnprocessableEntity, "body.title"},
		{"title too long", "POST", "/api/v1/todos", map[string]any{"title": strings.Repeat("é", 201)}, http.StatusUnprocessableEntity, "body.title"},
		{"bad date", "POST", "/api/v1/todos", `{"title":"x","dueAt":"tomorrow"}`, http.StatusUnprocessableEntity, "body.dueAt"},
		{"unknown category", "POST", "/api/v1/todos", `{"title":"x","categoryIds":["nope"]}`, http.StatusUnprocessableEntity, "body.categoryIds"},
		{"oversized body", "POST", "/api/v1/todos", big, http.StatusRequestEntityTooLarge, ""},
		{"patch wrong type", "PATCH", "/api/v1/todos/" + id, `{"done":1}`, http.StatusUnprocessableEntity, "body.done"},
		{"patch unknown field", "PATCH", "/api/v1/todos/" + id, `{"version":9}`, http.StatusUnprocessableEntity, "body.version"},
		{"patch invalid JSON", "PATCH", "/api/v1/todos/" + id, `{"done":tru`, http.StatusBadRequest, ""},
		{"category unknown field", "POST", "/api/v1/categories", `{"name":"n","color":"red"}`, http.StatusUnprocessableEntity, "body.color"},
		{"category wrong type", "POST", "/api/v1/categories", `{"name":7}`, http.StatusUnprocessableEntity, "body.name"},
		{"category invalid JSON", "POST", "/api/v1/categories", `{"name":"x"`, http.StatusBadRequest, ""},
		{"category oversized body", "POST", "/api/v1/categories", `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, http.StatusRequestEntityTooLarge, ""},
		{"patch oversized body", "PATCH", "/api/v1/todos/" + id, big, http.StatusRequestEntityTooLarge, ""},
		{"put wrong type", "PUT", "/api/v1/todos/" + id, `{"title":"x","categoryIds":"c"}`, http.StatusUnprocessableEntity, "body.categoryIds"},
		{"forged cursor", "GET", "/api/v1/todos?cursor=AAAAbm90LWEtY3Vyc29y", nil, http.StatusUnprocessableEntity, "query.cursor"},
		{"forged category cursor", "GET", "/api/v1/categories?cursor=Zm9yZ2Vk", nil, http.StatusUnprocessableEntity, "query.cursor"},
		{"limit too large", "GET", "/api/v1/todos?limit=101", nil, http.StatusUnprocessableEntity, "query.limit"},
		{"limit zero", "GET", "/api/v1/todos?limit=0", nil, http.StatusUnprocessableEntity, "query.limit"},
		{"bad sort", "GET", "/api/v1/todos?sort=owner_id", nil, http.StatusUnprocessableEntity, "query.sort"},
		{"bad done", "GET", "/api/v1/todos?done=maybe", nil, http.StatusUnprocessableEntity, "query.done"},
		{"bad due_before", "GET", "/api/v1/todos?due_before=soon", nil, http.StatusUnprocessableEntity, "query.due_before"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			m := e.wantProblem(e.do("alice", tt.method, tt.path, tt.body, "If-Match", `"1"`), tt.want)
			// huma names a missing property in the message of location "body".
			if errs := fmt.Sprint(m["errors"]); tt.field != "" && !strings.Contains(errs, "location:"+tt.field) &&
				!strings.Contains(errs, "property "+strings.TrimPrefix(tt.field, "body.")) {
				t.Errorf("problem does not name %s: %v", tt.field, m)
			}
		})
	}
	e.t = t
	if n := e.countTodos("alice"); n != 1 {
		t.Errorf("alice has %d todos, want 1", n)
	}
	r := e.do("alice", "GET", "/api/v1/todos/"+id, nil)
	if r.json(t)["title"] != "keep" || r.header.Get("ETag") != `"1"` {
		t.Errorf("a refused PATCH wrote: %s", r.body)
	}
	r = e.do("alice", "GET", "/api/v1/categories", nil)
	if items := r.json(t)["items"].([]any); len(items) != 1 || items[0].(map[string]any)["name"] != "c" {
		t.Errorf("a refused category write wrote: %s", r.body)
	}
}

func TestPagination(t *testing.T) {
	e := newEnv(t)
	want := map[string]bool{}
	for i := range 30 {
		want[e.createTodo("alice", map[string]any{"title": fmt.Sprintf("todo %02d", i), "done": i%3 == 0})["id"].(string)] = true
	}
	e.createTodo("bob", map[string]any{"title": "bob's"})
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		r := e.do("alice", "GET", "/api/v1/todos?limit=7&sort=title&cursor="+cursor, nil)
		e.want(r, http.StatusOK)
		m := r.json(t)
		pages++
		items := m["items"].([]any)
		for _, it := range items {
			id := it.(map[string]any)["id"].(string)
			if seen[id] || !want[id] {
				t.Fatalf("page %d: unexpected or repeated id %s", pages, id)
			}
			seen[id] = true
		}
		cursor = m["next_cursor"].(string)
		if cursor == "" {
			break
		}
		if len(items) != 7 || pages > 5 {
			t.Fatalf("page %d has %d items and a next cursor", pages, len(items))
		}
	}
	if len(seen) != 30 || pages != 5 {
		t.Errorf("saw %d todos in %d pages, want 30 in 5", len(seen), pages)
	}

	r := e.do("alice", "GET", "/api/v1/todos?done=true&limit=100", nil)
	e.want(r, http.StatusOK)
	if n := len(r.json(t)["items"].([]any)); n != 10 {
		t.Errorf("done=true: %d todos, want 10", n)
	}
	r = e.do("alice", "GET", "/api/v1/todos?q=TODO%2029", nil)
	e.want(r, http.StatusOK)
	if n := len(r.json(t)["items"].([]any)); n != 1 {
		t.Errorf("q: %d todos, want 1", n)
	}
	// A cursor made for one sort order is refused for another.
	r = e.do("alice", "GET", "/api/v1/todos?limit=7&sort=title", nil)
	next := r.json(t)["next_cursor"].(string)
	e.wantProblem(e.do("alice", "GET", "/api/v1/todos?limit=7&sort=due_at&cursor="+next, nil), http.StatusUnprocessableEntity)
	// and alice's cursor is refused for bob.
	e.wantProblem(e.do("bob", "GET", "/api/v1/todos?limit=7&sort=title&cursor="+next, nil), http.StatusUnprocessableEntity)
}

func TestOpenAPIAndDocs(t *testing.T) {
	e := newEnv(t)
	r := e.do("", "GET", "/openapi.json", nil)
	e.want(r, http.StatusOK)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi %q, want 3.1", doc.OpenAPI)
	}
	for path, methods := range map[string][]string{
		"/api/v1/todos":           {"get", "post"},
		"/api/v1/todos/{id}":      {"get", "patch", "put", "delete"},
		"/api/v1/categories":      {"get", "post"},
		"/api/v1/categories/{id}": {"get", "patch", "put", "delete"},
		"/api/v1/admin/todos":     {"get"},
	} {
		for _, m := range methods {
			if doc.Paths[path][m] == nil {
				t.Errorf("openapi.json lacks %s %s", m, path)
			}
		}
	}
	patch, _ := json.Marshal(doc.Paths["/api/v1/todos/{id}"]["patch"])
	for _, want := range []string{`"412"`, `"428"`, `"422"`, `"503"`, `"todos:write"`, `"ETag"`} {
		if !strings.Contains(string(patch), want) {
			t.Errorf("PATCH /api/v1/todos/{id} does not document %s", want)
		}
	}
	r = e.do("", "GET", "/docs", nil)
	e.want(r, http.StatusOK)
	if !strings.Contains(r.header.Get("Content-Type"), "text/html") {
		t.Errorf("docs Content-Type %q", r.header.Get("Content-Type"))
	}
}

// TestListInjection_VU03: the list endpoints' cursor, sort, filters and limit take no SQL.
// Injection attempts in sort and direction, an oversized limit and a cursor with its payload
// changed (or another user's) are refused with a 422 problem that shows no SQL or driver text;
// text that looks like SQL in a filter is only text: it matches nothing, and never another
// user's rows. (Sort keys come from an allowlist; cursors carry an HMAC; values are bound.)
func TestListInjection_VU03(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		e.createTodo("alice", map[string]any{"title": fmt.Sprintf("alice %d", i)})
	}
	e.createTodo("bob", map[string]any{"title": "bob's secret"})
	r := e.do("alice", "GET", "/api/v1/todos?limit=1", nil)
	e.want(r, http.StatusOK)
	cur := r.json(t)["next_cursor"].(string)
	payload, mac, _ := strings.Cut(cur, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	forged := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"i":"`, `"i":"' OR 1=1 --`, 1))) + "." + mac
	rb := e.do("bob", "GET", "/api/v1/todos?limit=1", nil)
	bobCursor, _ := rb.json(t)["next_cursor"].(string)
	sqlText := regexp.MustCompile(`(?i)sql: |syntax error|sqlite|pq: |no such (column|table)|near "`)
	for _, q := range []url.Values{
		{"sort": {"(select 1)"}}, {"sort": {"id;--"}}, {"sort": {"created_at desc; drop table todos"}},
		{"order_by": {"id;--"}, "sort": {"title'"}}, {"desc": {"1; drop table todos"}},
		{"limit": {"100000000"}}, {"limit": {"1 OR 1=1"}}, {"limit": {"-1"}},
		{"cursor": {forged}}, {"cursor": {cur + "' OR '1'='1"}},
		{"due_before": {"2026-01-01' OR '1'='1"}}, {"done": {"true OR 1=1"}},
	} {
		r := e.do("alice", "GET", "/api/v1/todos?"+q.Encode(), nil)
		e.wantProblem(r, http.StatusUnprocessableEntity)
		if sqlText.MatchString(string(r.body)) {
			t.Errorf("%v: the problem shows SQL or driver text: %s", q, r.body)
		}
	}
	if bobCursor != "" {
		e.wantProblem(e.do("alice", "GET", "/api/v1/todos?cursor="+url.QueryEscape(bobCursor), nil), http.StatusUnprocessableEntity)
	}
	for _, text := range []string{"' OR '1'='1", "%", "_", `\`, "bob%' --", "') UNION SELECT * FROM todos --"} {
		r := e.do("alice", "GET", "/api/v1/todos?limit=100&q="+url.QueryEscape(text), nil)
		e.want(r, http.StatusOK)
		for _, it := range r.json(t)["items"].([]any) {
			if title := it.(map[string]any)["title"].(string); !strings.HasPrefix(title, "alice") {
				t.Errorf("q=%q returned %q", text, title)
			}
		}
	}
	if n := e.countTodos("alice"); n != 3 {
		t.Errorf("alice has %d todos after the attempts, want 3", n)
	}
	if n := e.countTodos("bob"); n != 1 {
		t.Errorf("bob has %d todos after the attempts, want 1", n)
	}
}
