package resource_test

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/resource"
	"github.com/gatehouse-id/gatehouse/resource/sqlstore"
)

// tableAuthorizer is a hand-written Authorizer that forces decisions: a request is allowed when
// a rule names its subject, its action and its object (a rule object ending in "/*" matches
// one more path segment). It records what it was asked. err, when set, fails every call.
type tableAuthorizer struct {
	mu    sync.Mutex
	rules [][3]string // subject, object, action
	err   error
	calls [][3]string
}

const revision = 42

func (a *tableAuthorizer) Authorize(_ context.Context, subject, object, action string) (resource.Decision, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, [3]string{subject, object, action})
	if a.err != nil {
		return resource.Decision{}, a.err
	}
	for _, r := range a.rules {
		prefix, wild := strings.CutSuffix(r[1], "/*")
		rest, ok := strings.CutPrefix(object, prefix+"/")
		match := object == r[1] || (wild && ok && rest != "" && !strings.Contains(rest, "/"))
		if r[0] == subject && r[2] == action && match {
			return resource.Decision{Allowed: true, Revision: revision}, nil
		}
	}
	return resource.Decision{Revision: revision}, nil
}

func (a *tableAuthorizer) last() [3]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.calls) == 0 {
		return [3]string{}
	}
	return a.calls[len(a.calls)-1]
}

// userRules lets subject do everything on the owner-scoped routes.
func userRules(subject string) [][3]string {
	var rules [][3]string
	for _, m := range []string{"GET", "POST"} {
		rules = append(rules, [3]string{subject, "/api/v1/todos", m}, [3]string{subject, "/api/v1/categories", m})
	}
	for _, m := range []string{"GET", "PATCH", "PUT", "DELETE"} {
		rules = append(rules, [3]string{subject, "/api/v1/todos/*", m}, [3]string{subject, "/api/v1/categories/*", m})
	}
	return rules
}

// TestAuthorizer_RB01_RB05_RB06_RB07 drives the API's policy hook with forced decisions.
func TestAuthorizer_RB01_RB05_RB06_RB07(t *testing.T) {
	authz := &tableAuthorizer{}
	authz.rules = append(userRules("user:alice"), userRules("user:carol")...)
	authz.rules = append(authz.rules,
		[3]string{"user:carol", "/api/v1/admin/todos", "GET"},    // carol is an admin
		[3]string{"client:svc", "/api/v1/admin/todos", "GET"},    // so is the svc client
		[3]string{"user:bob", "/api/v1/todos", "GET"},            // bob may only list
		[3]string{"user:svc", "/api/v1/admin/todos", "GET"},      // a user named like the client: not the client (RB-05)
		[3]string{"user:alice-ro", "/api/v1/admin/todos", "GET"}, // a user named like a token: irrelevant
	)
	var logs syncBuffer
	e := newEnvWith(t, resource.Config{Authorizer: authz, RequireActive: (&fakeIntrospection{}).middleware}, &logs)

	aliceTodo := e.createTodo("alice", map[string]any{"title": "alice's"})["id"].(string)
	if got := authz.last(); got != [3]string{"user:alice", "/api/v1/todos", "POST"} {
		t.Errorf("Authorize(%v), want user:alice /api/v1/todos POST", got)
	}
	time.Sleep(2 * time.Millisecond) // creation order is by millisecond, ties by random ID
	carolTodo := e.createTodo("carol", map[string]any{"title": "carol's"})["id"].(string)

	for _, tt := range []struct {
		name, who, method, path string
		body                    any
		want                    int
		object                  string // what the Authorizer must have been asked, "" if not asked
	}{
		{"granted read", "alice", "GET", "/api/v1/todos/" + aliceTodo, nil, 200, "/api/v1/todos/" + aliceTodo},
		{"RB-01 default deny: no rule for bob's write", "bob", "POST", "/api/v1/todos", map[string]any{"title": "x"}, 403, "/api/v1/todos"},
		{"RB-01 default deny: no rule for bob's read of one todo", "bob", "GET", "/api/v1/todos/" + aliceTodo, nil, 403, "/api/v1/todos/" + aliceTodo},
		{"bob's granted list is his own", "bob", "GET", "/api/v1/todos", nil, 200, "/api/v1/todos"},
		{"RB-06 scope narrows the role: alice's read-only token writes", "alice-ro", "POST", "/api/v1/todos", map[string]any{"title": "x"}, 403, ""},
		{"RB-06 role narrows the scope: bob's write token, no rule", "bob", "DELETE", "/api/v1/todos/" + aliceTodo, nil, 403, "/api/v1/todos/" + aliceTodo},
		{"RB-07 admin's ordinary route stays owner-scoped", "carol-ro", "GET", "/api/v1/todos/" + aliceTodo, nil, 404, "/api/v1/todos/" + aliceTodo},
		{"admin route granted", "carol-admin", "GET", "/api/v1/admin/todos", nil, 200, "/api/v1/admin/todos"},
		{"RB-06 F4 admin route: todos:read is not the admin scope, grant or not", "carol-ro", "GET", "/api/v1/admin/todos", nil, 403, ""},
		{"admin route without a grant", "alice-admin", "GET", "/api/v1/admin/todos", nil, 403, "/api/v1/admin/todos"},
		{"admin route for a client granted by policy", "client-admin", "GET", "/api/v1/admin/todos", nil, 200, "/api/v1/admin/todos"},
		{"RB-06 F4 admin route: a client's todos:read token, granted", "client-cc", "GET", "/api/v1/admin/todos", nil, 403, ""},
		{"RS-11 a client token on an owned route", "client-cc", "GET", "/api/v1/todos", nil, 403, ""},
		{"no token", "", "GET", "/api/v1/admin/todos", nil, 401, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			before := len(authz.calls)
			r := e.do(tt.who, tt.method, tt.path, tt.body, "If-Match", "*")
			if tt.want >= 400 && tt.who != "" { // the fake auth middleware's 401 has no body
				e.wantProblem(r, tt.want)
			} else {
				e.want(r, tt.want)
			}
			asked := len(authz.calls) > before
			switch {
			case tt.object == "" && asked:
				t.Errorf("the Authorizer was asked %v; the request should have been refused before", authz.last())
			case tt.object != "" && (!asked || authz.last()[1] != tt.object || authz.last()[2] != tt.method):
				t.Errorf("Authorize(%v), want object %s action %s", authz.last(), tt.object, tt.method)
			}
			if rev := r.header.Get(resource.PolicyRevisionHeader); asked && rev != "42" {
				t.Errorf("%s = %q, want 42", resource.PolicyRevisionHeader, rev)
			}
		})
	}
	e.t = t
	// The client's subject is client:svc, never user:svc (RB-05, RS-11).
	e.do("client-admin", "GET", "/api/v1/admin/todos", nil)
	if got := authz.last()[0]; got != "client:svc" {
		t.Errorf("client-credentials subject %q, want client:svc", got)
	}
	// The admin view lists every owner's todos with their owners.
	r := e.do("carol-admin", "GET", "/api/v1/admin/todos?limit=1", nil)
	e.want(r, 200)
	m := r.json(t)
	items := m["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["ownerId"] != "alice" || m["next_cursor"] == "" {
		t.Fatalf("admin page 1: %s", r.body)
	}
	r = e.do("carol-admin", "GET", "/api/v1/admin/todos?limit=1&cursor="+m["next_cursor"].(string), nil)
	e.want(r, 200)
	if items := r.json(t)["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != carolTodo || items[0].(map[string]any)["ownerId"] != "carol" {
		t.Fatalf("admin page 2: %s", r.body)
	}
	e.wantProblem(e.do("carol-admin", "GET", "/api/v1/admin/todos?cursor=Zm9yZ2Vk.Zm9yZ2Vk", nil), http.StatusUnprocessableEntity)
	// Refused writes wrote nothing.
	if n := e.countTodos("bob"); n != 0 {
		t.Errorf("bob has %d todos after refused writes", n)
	}
	if r := e.do("alice", "GET", "/api/v1/todos/"+aliceTodo, nil); r.status != 200 {
		t.Errorf("alice's todo after bob's refused DELETE: %d", r.status)
	}
	// Decisions are logged with the revision.
	if s := logs.String(); !strings.Contains(s, "policy denied") || !strings.Contains(s, "policy_revision=42") || !strings.Contains(s, "subject=user:bob") {
		t.Errorf("the log lacks the denial with its revision:\n%s", s)
	}
}

// TestAuthorizerFailsClosed: an Authorizer that cannot decide gets 503 problem+json with
// Retry-After, never a pass and never a 500, and nothing is written.
func TestAuthorizerFailsClosed(t *testing.T) {
	authz := &tableAuthorizer{rules: userRules("user:alice")}
	e := newEnvWith(t, resource.Config{Authorizer: authz}, &syncBuffer{})
	id := e.createTodo("alice", map[string]any{"title": "keep"})["id"].(string)
	authz.err = errors.New("policy store unreachable")
	for _, tt := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/todos", nil},
		{"POST", "/api/v1/todos", map[string]any{"title": "x"}},
		{"PATCH", "/api/v1/todos/" + id, map[string]any{"title": "changed"}},
		{"DELETE", "/api/v1/todos/" + id, nil},
		{"GET", "/api/v1/admin/todos", nil},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			e.t = t
			who := "alice"
			if strings.Contains(tt.path, "/admin/") {
				who = "alice-admin"
			}
			r := e.do(who, tt.method, tt.path, tt.body, "If-Match", "*")
			m := e.wantProblem(r, http.StatusServiceUnavailable)
			if r.header.Get("Retry-After") == "" || strings.Contains(string(r.body), "unreachable") {
				t.Errorf("503 without Retry-After or with the cause: %v %s", r.header, m)
			}
		})
	}
	e.t = t
	authz.err = nil
	r := e.do("alice", "GET", "/api/v1/todos/"+id, nil)
	e.want(r, 200)
	if r.json(t)["title"] != "keep" || r.header.Get("ETag") != `"1"` || e.countTodos("alice") != 1 {
		t.Errorf("a refused write wrote: %s", r.body)
	}
}

// TestAuthorizerNone_RB07: without an Authorizer the admin route is closed to everyone and the
// ordinary routes work on scopes and ownership alone.
func TestAuthorizerNone_RB07(t *testing.T) {
	e := newEnv(t)
	e.createTodo("alice", map[string]any{"title": "t"})
	for _, who := range []string{"alice", "carol-ro", "client-cc", "carol-admin", "client-admin"} {
		r := e.do(who, "GET", "/api/v1/admin/todos", nil)
		e.wantProblem(r, http.StatusForbidden)
		if r.header.Get(resource.PolicyRevisionHeader) != "" {
			t.Errorf("%s without an Authorizer", resource.PolicyRevisionHeader)
		}
	}
	e.wantProblem(e.do("alice-wo", "GET", "/api/v1/admin/todos", nil), http.StatusForbidden)
}

// TestAuthorizerSeesTheRoutedPath_RB03: path variants either miss every route (404) or reach
// the route whose pattern the Authorizer is asked about, with the parameter escaped as one
// segment; none reaches the admin view without the admin grant.
func TestAuthorizerSeesTheRoutedPath_RB03(t *testing.T) {
	authz := &tableAuthorizer{rules: append(userRules("user:alice"), userRules("user:bob")...)}
	e := newEnvWith(t, resource.Config{Authorizer: authz}, &syncBuffer{})
	e.createTodo("bob", map[string]any{"title": "bob's"})
	for _, path := range []string{
		"/api/v1/admin//todos", "/api/v1/./admin/todos", "/API/v1/admin/todos", "/api/v1/admin/todos/",
		"/api/v1/admin;x=1/todos", "/api/v1/%61dmin/todos", "/api/v1/todos/..%2Fadmin%2Ftodos",
		"/api/v1/todos/../admin/todos", "/api/v1/todos/%2E%2E", "/api/v1/todos/..", "/api/v1/todos/.",
		"/api/v1/todos/a%2Fb", "/api/v1//todos",
	} {
		t.Run(path, func(t *testing.T) {
			e.t = t
			before := len(authz.calls)
			req, _ := http.NewRequestWithContext(t.Context(), "GET", e.ts.URL, nil)
			req.URL.Opaque = path // sent as written, not cleaned
			req.Header.Set("Authorization", "Bearer alice")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 404 && resp.StatusCode != 403 {
				t.Fatalf("GET %s: %d, want 404 or 403", path, resp.StatusCode)
			}
			if len(authz.calls) > before {
				obj := authz.last()[1]
				t.Logf("GET %s: %d, object %s", path, resp.StatusCode, obj)
				rest, ok := strings.CutPrefix(obj, "/api/v1/todos/")
				if !ok || strings.Contains(rest, "/") || slices.Contains([]string{".", ".."}, rest) {
					t.Errorf("GET %s asked about object %q: not one segment under /api/v1/todos/", path, obj)
				}
			}
		})
	}
}

// syncBuffer is a strings.Builder safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRoutesDefaultDeny_RB01: every operation Routes lists is refused (403) for a user whose
// token has every scope but whom no rule names, and the Authorizer is asked about each.
func TestRoutesDefaultDeny_RB01(t *testing.T) {
	authz := &tableAuthorizer{rules: userRules("user:alice")}
	st, err := sqlstore.New(dbtest.NewSQLite(t), []byte(rand.Text()+rand.Text()))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := resource.NewServer(resource.Config{Authorizer: authz}, st, fakeAuth, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e := &env{t: t, ts: ts, st: st}
	routes := srv.Routes()
	if len(routes) != 13 {
		t.Errorf("Routes() = %d operations, want 13: %v", len(routes), routes)
	}
	for _, r := range routes {
		t.Run(r.Action+" "+r.Pattern, func(t *testing.T) {
			e.t = t
			path := strings.ReplaceAll(r.Pattern, "{id}", "some-id")
			var body any
			if r.Action == "POST" || r.Action == "PUT" || r.Action == "PATCH" {
				body = map[string]any{"title": "x", "name": "x"}
			}
			e.wantProblem(e.do("bob", r.Action, path, body, "If-Match", "*"), http.StatusForbidden)
			if got := authz.last(); got != [3]string{"user:bob", path, r.Action} {
				t.Errorf("Authorize(%v), want user:bob %s %s", got, path, r.Action)
			}
		})
	}
}
