package resource_test

import (
	"crypto/rand"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/resource"
	"github.com/gatehouse-id/gatehouse/resource/sqlstore"
)

// fakeIntrospection stands in for bearer.Verifier.RequireActive (whose introspection is tested
// in package bearer and internal/e2e): the tokens in revoked are inactive (401 invalid_token),
// and down makes the issuer unreachable (503). It counts the tokens it was asked about.
type fakeIntrospection struct {
	mu      sync.Mutex
	revoked map[string]bool
	down    bool
	asked   []string
}

func (f *fakeIntrospection) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		f.asked = append(f.asked, tok)
		revoked, down := f.revoked[tok], f.down
		f.mu.Unlock()
		switch {
		case down:
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
		case revoked:
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (f *fakeIntrospection) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.asked)
}

// adminRules grants the admin view to carol (both her tokens), alice and the svc client.
func adminRules() [][3]string {
	rules := userRules("user:alice")
	for _, s := range []string{"user:carol", "user:alice", "client:svc"} {
		rules = append(rules, [3]string{s, "/api/v1/admin/todos", "GET"})
	}
	return rules
}

// TestAdminRouteNeedsAdminScope_F4_RB06_RB07: the cross-owner admin view needs the scope
// todos:admin on top of the policy grant (review F4). An admin (by policy) who lets an app read
// her own todos (todos:read, todos:write) has not let it read everyone's: 403
// insufficient_scope, before the policy is asked; the same user's todos:admin token gets 200.
// The OpenAPI document names the scope.
func TestAdminRouteNeedsAdminScope_F4_RB06_RB07(t *testing.T) {
	authz := &tableAuthorizer{rules: adminRules()}
	e := newEnvWith(t, resource.Config{Authorizer: authz, RequireActive: (&fakeIntrospection{}).middleware}, &syncBuffer{})
	e.createTodo("alice", map[string]any{"title": "alice's"})
	for _, who := range []string{"alice", "alice-ro", "carol", "carol-ro", "client-cc"} {
		before := len(authz.calls)
		r := e.do(who, "GET", "/api/v1/admin/todos", nil)
		e.wantProblem(r, http.StatusForbidden)
		if !strings.Contains(string(r.body), "todos:admin") {
			t.Errorf("%s: the refusal does not name the missing scope: %s", who, r.body)
		}
		if len(authz.calls) != before {
			t.Errorf("%s: the Authorizer was asked %v; the scope check comes first", who, authz.last())
		}
	}
	for _, who := range []string{"alice-admin", "carol-admin", "client-admin"} {
		e.want(e.do(who, "GET", "/api/v1/admin/todos", nil), 200)
	}
	// todos:admin opens nothing else: a token with only it cannot read its own todos.
	e.wantProblem(e.do("carol-admin", "GET", "/api/v1/todos", nil), http.StatusForbidden)
	r := e.do("", "GET", "/openapi.json", nil)
	e.want(r, 200)
	sec := r.json(t)["paths"].(map[string]any)["/api/v1/admin/todos"].(map[string]any)["get"].(map[string]any)["security"].([]any)
	if got := sec[0].(map[string]any)["bearer"].([]any); len(got) != 1 || got[0] != "todos:admin" {
		t.Errorf("OpenAPI security of the admin view: %v, want [todos:admin]", got)
	}
	if !slices.Contains(resource.Scopes(), resource.ScopeAdmin) {
		t.Errorf("Scopes() = %v lacks %s", resource.Scopes(), resource.ScopeAdmin)
	}
}

// TestAdminRouteIntrospects_F15_RS09: the admin view asks the issuer whether the token is still
// active on every request (Config.RequireActive), after the scope and the policy allowed, so a
// revoked token or a disabled admin loses it at once: an inactive token gets 401, an issuer
// that cannot answer 503 (fail closed). Ordinary routes do not introspect. Without
// RequireActive the admin view is closed (403) unless AdminWithoutIntrospection opens it, and
// setting both is a configuration error.
func TestAdminRouteIntrospects_F15_RS09(t *testing.T) {
	authz := &tableAuthorizer{rules: adminRules()}
	intro := &fakeIntrospection{revoked: map[string]bool{"carol-revoked": true}}
	e := newEnvWith(t, resource.Config{Authorizer: authz, RequireActive: intro.middleware}, &syncBuffer{})
	e.createTodo("alice", map[string]any{"title": "alice's"})
	e.want(e.do("carol-admin", "GET", "/api/v1/admin/todos", nil), 200)
	if intro.count() != 1 {
		t.Fatalf("introspections: %d, want 1", intro.count())
	}
	if r := e.do("carol-revoked", "GET", "/api/v1/admin/todos", nil); r.status != http.StatusUnauthorized || strings.Contains(string(r.body), "alice's") {
		t.Fatalf("a revoked token on the admin view: %d %s, want 401", r.status, r.body)
	}
	// Refused by the policy: no introspection (no round trip for callers without a grant).
	authz.rules = userRules("user:alice")
	n := intro.count()
	e.wantProblem(e.do("carol-admin", "GET", "/api/v1/admin/todos", nil), http.StatusForbidden)
	e.want(e.do("alice", "GET", "/api/v1/todos", nil), 200)
	if intro.count() != n {
		t.Errorf("introspected %d times for a policy refusal and an ordinary route", intro.count()-n)
	}
	authz.rules = adminRules()
	intro.mu.Lock()
	intro.down = true
	intro.mu.Unlock()
	if r := e.do("carol-admin", "GET", "/api/v1/admin/todos", nil); r.status != http.StatusServiceUnavailable || strings.Contains(string(r.body), "alice's") {
		t.Fatalf("issuer down: %d %s, want 503", r.status, r.body)
	}

	// Without introspection: closed by default, open only when the operator accepts the delay.
	closed := newEnvWith(t, resource.Config{Authorizer: authz}, &syncBuffer{})
	r := closed.do("carol-admin", "GET", "/api/v1/admin/todos", nil)
	closed.wantProblem(r, http.StatusForbidden)
	if !strings.Contains(string(r.body), "introspection") {
		t.Errorf("the refusal does not say why: %s", r.body)
	}
	closed.want(closed.do("alice", "GET", "/api/v1/todos", nil), 200)
	open := newEnvWith(t, resource.Config{Authorizer: authz, AdminWithoutIntrospection: true}, &syncBuffer{})
	open.want(open.do("carol-admin", "GET", "/api/v1/admin/todos", nil), 200)

	st, err := sqlstore.New(dbtest.NewSQLite(t), []byte(rand.Text()+rand.Text()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resource.NewServer(resource.Config{Authorizer: authz, RequireActive: intro.middleware, AdminWithoutIntrospection: true}, st, fakeAuth, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("NewServer accepted RequireActive with AdminWithoutIntrospection")
	}
}
