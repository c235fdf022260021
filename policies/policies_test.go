package policies_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/policies"
)

// extraRules are added to the default policy for the decision table.
var extraRules = []policies.Rule{
	policies.Assigning("user:alice", "role:user"),
	policies.Assigning("user:root", "role:admin"),
	policies.Assigning("client:reporter", "role:reports"),
	policies.Allowing("role:reports", "/api/v1/reports/*", "GET"),
	// bob is a user who may not delete todos: his deny beats role:user's allow.
	policies.Assigning("user:bob", "role:user"),
	policies.Denying("user:bob", "/api/v1/todos/:id", "DELETE"),
	// carol is a user and suspended: role:suspended denies everything under /api/v1.
	policies.Assigning("user:carol", "role:user"),
	policies.Assigning("user:carol", "role:suspended"),
	policies.Denying("role:suspended", "/api/v1/*", policies.AnyAction),
	// role:auditor reads all todos through the admin route only.
	policies.Allowing("role:auditor", "/admin/v1/todos", "GET"),
	policies.Assigning("user:dave", "role:auditor"),
}

// newEnforcer returns an enforcer on a migrated database with the default policy and rules.
func newEnforcer(t *testing.T, db *database.DB, rules ...policies.Rule) *policies.Enforcer {
	t.Helper()
	if len(rules) > 0 {
		if _, err := policies.NewService(db, nil).Apply(t.Context(), "test", policies.Change{Add: rules}); err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
	e, err := policies.NewEnforcer(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type decision struct {
	name      string
	sub, obj  string
	act       string
	want      bool
	wantError bool // the request itself is refused (and denied)
}

// TestDecisions_RB01_RB02_RB03_RB04_RB05_RB10 is the table of (subject, object, action, want) on
// the default policy plus extraRules.
func TestDecisions_RB01_RB02_RB03_RB04_RB05_RB10(t *testing.T) {
	e := newEnforcer(t, dbtest.NewSQLite(t), extraRules...)
	huge := "/api/v1/todos/" + strings.Repeat("a", 1<<20)
	deep := "/api/v1/reports" + strings.Repeat("/x", 1000)
	for _, tt := range []decision{
		// The default policy.
		{"user lists todos", "user:alice", "/api/v1/todos", "GET", true, false},
		{"user creates a todo", "user:alice", "/api/v1/todos", "POST", true, false},
		{"user reads a todo", "user:alice", "/api/v1/todos/42", "GET", true, false},
		{"user patches a todo", "user:alice", "/api/v1/todos/42", "PATCH", true, false},
		{"user replaces a todo", "user:alice", "/api/v1/todos/42", "PUT", true, false},
		{"user deletes a todo", "user:alice", "/api/v1/todos/42", "DELETE", true, false},
		{"user deletes a category", "user:alice", "/api/v1/categories/7", "DELETE", true, false},
		{"user may not delete the collection", "user:alice", "/api/v1/todos", "DELETE", false, false},
		{"user may not reach the admin API", "user:alice", "/admin/v1/policies", "GET", false, false},
		{"user may not read all todos", "user:alice", "/admin/v1/todos", "GET", false, false},
		{"admin reaches the admin API", "user:root", "/admin/v1/policies", "POST", true, false},
		{"admin reaches the todos API", "user:root", "/api/v1/todos/1", "DELETE", true, false},
		{"auditor reads all todos on the admin route", "user:dave", "/admin/v1/todos", "GET", true, false},
		{"auditor has no ordinary todo access", "user:dave", "/api/v1/todos", "GET", false, false},
		{"client with a role", "client:reporter", "/api/v1/reports/2026/q1", "GET", true, false},

		// RB-01: default deny.
		{"RB-01 unknown user", "user:nobody", "/api/v1/todos", "GET", false, false},
		{"RB-01 unknown client", "client:nobody", "/api/v1/todos", "GET", false, false},
		{"RB-01 route without a policy", "user:alice", "/api/v1/secrets", "GET", false, false},
		{"RB-01 root path", "user:alice", "/", "GET", false, false},

		// RB-02: patterns end at segment boundaries.
		{"RB-02 todosAdmin", "user:alice", "/api/v1/todosAdmin", "GET", false, false},
		{"RB-02 todos-export", "user:alice", "/api/v1/todos-export", "GET", false, false},
		{"RB-02 :id is one segment", "user:alice", "/api/v1/todos/1/admin", "GET", false, false},
		{"RB-02 reports/* is not reportsAdmin", "client:reporter", "/api/v1/reportsAdmin", "GET", false, false},
		{"RB-02 reports/* is not reports", "client:reporter", "/api/v1/reports", "GET", false, false},
		{"RB-02 dot-dot below a wildcard", "client:reporter", "/api/v1/reports/../../admin/v1/policies", "GET", false, true},
		{"RB-02 dot-dot below :id", "user:alice", "/api/v1/todos/../admin", "GET", false, true},
		{"RB-02 admin/v1/* is not admin/v1x", "user:root", "/admin/v1x/policies", "GET", false, false},

		// RB-03: only canonical paths are decided.
		{"RB-03 double slash", "user:root", "/api//v1/todos", "GET", false, true},
		{"RB-03 dot segment", "user:alice", "/api/./v1/todos", "GET", false, true},
		{"RB-03 encoded slash", "user:alice", "/api/v1/todos%2F1", "GET", false, true},
		{"RB-03 encoded letter", "user:alice", "/api/v1/%74odos", "GET", false, true},
		{"RB-03 trailing slash", "user:alice", "/api/v1/todos/", "GET", false, true},
		{"RB-03 matrix parameter", "user:alice", "/api/v1/todos;x=1", "GET", false, true},
		{"RB-03 backslash", "user:alice", `/api/v1/todos\1`, "GET", false, true},
		{"RB-03 upper case is another path", "user:alice", "/API/v1/todos", "GET", false, false},
		{"RB-03 relative path", "user:alice", "api/v1/todos", "GET", false, true},
		{"RB-03 query string", "user:alice", "/api/v1/todos?x=1", "GET", false, true},

		// RB-04: actions compare exactly.
		{"RB-04 lower-case get", "user:alice", "/api/v1/todos", "get", false, true},
		{"RB-04 XGET", "user:alice", "/api/v1/todos", "XGET", false, true},
		{"RB-04 GETS", "user:alice", "/api/v1/todos", "GETS", false, true},
		{"RB-04 FORGET", "user:alice", "/api/v1/todos", "FORGET", false, true},
		{"RB-04 HEAD is not GET", "user:alice", "/api/v1/todos", "HEAD", false, false},
		{"RB-04 OPTIONS", "user:alice", "/api/v1/todos", "OPTIONS", false, true},
		{"RB-04 a request for any action", "user:alice", "/api/v1/todos", "*", false, true},
		{"RB-04 empty action", "user:alice", "/api/v1/todos", "", false, true},
		{"RB-04 admin's * covers HEAD", "user:root", "/api/v1/todos", "HEAD", true, false},

		// RB-05: names never collide.
		{"RB-05 user named admin", "user:admin", "/admin/v1/policies", "GET", false, false},
		{"RB-05 user named role:admin", "user:role:admin", "/admin/v1/policies", "GET", false, false},
		{"RB-05 client named admin", "client:admin", "/admin/v1/policies", "GET", false, false},
		{"RB-05 client named role:admin", "client:role:admin", "/api/v1/todos", "GET", false, false},
		{"RB-05 a role as the requester", "role:admin", "/admin/v1/policies", "GET", false, true},
		{"RB-05 bare name", "admin", "/admin/v1/policies", "GET", false, true},
		{"RB-05 empty subject", "", "/api/v1/todos", "GET", false, true},

		// Deny over allow.
		{"deny beats allow on the denied action", "user:bob", "/api/v1/todos/1", "DELETE", false, false},
		{"bob keeps the other actions", "user:bob", "/api/v1/todos/1", "GET", true, false},
		{"a role's deny beats another role's allow", "user:carol", "/api/v1/todos", "GET", false, false},

		// RB-10: robustness.
		{"RB-10 huge path", "user:alice", huge, "GET", false, true},
		{"RB-10 deep path below a wildcard", "client:reporter", deep, "GET", true, false},
		{"RB-10 regex characters in the path", "user:alice", "/api/v1/todos/(.*)", "GET", true, false},
		{"RB-10 newline", "user:alice", "/api/v1/todos\n", "GET", false, true},
		{"RB-10 NUL", "user:alice", "/api/v1/todos/\x00", "GET", false, true},
		{"RB-10 non-ASCII", "user:alice", "/api/v1/todos/é", "GET", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.Check(tt.sub, tt.obj, tt.act)
			if d.Allowed != tt.want || (err != nil) != tt.wantError {
				t.Fatalf("Check(%q, %.60q, %q) = %v, %v; want %v, error %v", tt.sub, tt.obj, tt.act, d.Allowed, err, tt.want, tt.wantError)
			}
			ok, err2 := e.Enforce(tt.sub, tt.obj, tt.act)
			if ok != tt.want || (err2 != nil) != tt.wantError {
				t.Fatalf("Enforce = %v, %v; want %v", ok, err2, tt.want)
			}
			if d.Revision != e.Revision() {
				t.Errorf("decision revision %d, enforcer holds %d", d.Revision, e.Revision())
			}
		})
	}
}

// TestDecisionRule reports the rule that decided: the deny that won, the allow that matched,
// none for a default deny (what POST /admin/v1/policies/check answers).
func TestDecisionRule(t *testing.T) {
	e := newEnforcer(t, dbtest.NewSQLite(t), extraRules...)
	for _, tt := range []struct {
		sub, obj, act string
		want          *policies.Rule
	}{
		{"user:bob", "/api/v1/todos/1", "DELETE", &extraRules[5]},
		{"user:alice", "/api/v1/todos/1", "DELETE", ptr(policies.Allowing("role:user", "/api/v1/todos/:id", "DELETE"))},
		{"user:carol", "/api/v1/todos", "GET", &extraRules[8]},
		{"user:nobody", "/api/v1/todos", "GET", nil},
	} {
		d, err := e.Check(tt.sub, tt.obj, tt.act)
		if err != nil {
			t.Fatal(err)
		}
		if (d.Rule == nil) != (tt.want == nil) || d.Rule != nil && *d.Rule != *tt.want {
			t.Errorf("Check(%s, %s, %s).Rule = %v, want %v", tt.sub, tt.obj, tt.act, d.Rule, tt.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestCanonicalPath_RB03 accepts only the canonical form and says why it refuses the rest.
func TestCanonicalPath_RB03(t *testing.T) {
	for _, p := range []string{"/", "/api/v1/todos", "/api/v1/todos/0f8e-1", "/a/b~c/d_e", "/api/v1/todos/(x)"} {
		if got, err := policies.CanonicalPath(p); err != nil || got != p {
			t.Errorf("CanonicalPath(%q) = %q, %v; want it unchanged", p, got, err)
		}
	}
	for _, p := range []string{
		"", "api", "//", "/api//admin", "/api/./admin", "/api/../admin", "/api/..", "/api/.", "/api/admin/",
		"/api/admin;x=1", "/api/%61dmin", "/api/public%2F..%2Fadmin", "/api/public/..%2Fadmin", `/api\admin`,
		"/api/admin?x", "/api/admin#x", "/api/ad min", "/api/\tadmin", "/api/é", "/" + strings.Repeat("a", policies.MaxPathLength),
	} {
		if _, err := policies.CanonicalPath(p); !errors.Is(err, policies.ErrNonCanonicalPath) {
			t.Errorf("CanonicalPath(%.40q) = %v, want ErrNonCanonicalPath", p, err)
		}
	}
}

// TestDefaultPolicyOnBothDialects checks the seeded policy decides the same on PostgreSQL.
func TestDefaultPolicyOnBothDialects(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		e := newEnforcer(t, newDB(t), policies.Assigning("user:alice", "role:user"), policies.Assigning("user:root", "role:admin"))
		if e.Revision() != 2 {
			t.Errorf("revision = %d, want 2 (the seed, then our change)", e.Revision())
		}
		for _, tt := range []decision{
			{"", "user:alice", "/api/v1/categories", "POST", true, false},
			{"", "user:alice", "/api/v1/categoriesX", "POST", false, false},
			{"", "user:alice", "/admin/v1/roles", "GET", false, false},
			{"", "user:root", "/admin/v1/roles", "GET", true, false},
			{"", "user:admin", "/admin/v1/roles", "GET", false, false},
		} {
			if d, _ := e.Check(tt.sub, tt.obj, tt.act); d.Allowed != tt.want {
				t.Errorf("Check(%s, %s, %s) = %v, want %v", tt.sub, tt.obj, tt.act, d.Allowed, tt.want)
			}
		}
	})
}

// TestScopesAndRoles_RB06: what a delegated token may do is what both its scopes and its user's
// roles allow. alice (role:user) with only todos:read cannot write; with both scopes she can;
// an admin's token with only todos:read cannot write either; scopes never exceed the roles.
func TestScopesAndRoles_RB06(t *testing.T) {
	e := newEnforcer(t, dbtest.NewSQLite(t), extraRules...)
	sc := policies.DefaultScopes()
	decide := func(sub string, scopes []string, obj, act string) bool {
		d, err := e.Check(sub, obj, act)
		return err == nil && d.Allowed && sc.Allows(scopes, obj, act)
	}
	read, both := []string{policies.ScopeTodosRead}, []string{policies.ScopeTodosRead, policies.ScopeTodosWrite}
	for _, tt := range []struct {
		name     string
		sub      string
		scopes   []string
		obj, act string
		want     bool
	}{
		{"read scope reads", "user:alice", read, "/api/v1/todos", "GET", true},
		{"RB-06 read scope cannot write", "user:alice", read, "/api/v1/todos", "POST", false},
		{"RB-06 read scope cannot delete", "user:alice", read, "/api/v1/todos/1", "DELETE", false},
		{"full scope writes", "user:alice", both, "/api/v1/todos/1", "DELETE", true},
		{"RB-06 admin with read scope cannot write", "user:root", read, "/api/v1/todos/1", "PUT", false},
		{"RB-06 scope without role", "user:nobody", both, "/api/v1/todos", "GET", false},
		{"RB-06 scope does not reach the admin API", "user:root", both, "/admin/v1/policies", "GET", false},
		{"RB-06 no scopes", "user:alice", nil, "/api/v1/todos", "GET", false},
		{"RB-06 unknown scope", "user:alice", []string{"todos:*"}, "/api/v1/todos", "GET", false},
		{"RB-06 deny still wins", "user:bob", both, "/api/v1/todos/1", "DELETE", false},
		{"scope and path traversal", "user:alice", both, "/api/v1/todos/../todos", "GET", false},
	} {
		if got := decide(tt.sub, tt.scopes, tt.obj, tt.act); got != tt.want {
			t.Errorf("%s: %s %v %s %s = %v, want %v", tt.name, tt.sub, tt.scopes, tt.act, tt.obj, got, tt.want)
		}
	}
	if _, err := policies.NewScopes(map[string][]policies.Grant{"x": {{Object: "/*", Action: "GET"}}}); err == nil {
		t.Error("NewScopes accepted /*")
	}
	if _, err := policies.NewScopes(map[string][]policies.Grant{"x": {{Object: "/a", Action: "get"}}}); err == nil {
		t.Error("NewScopes accepted action get")
	}
}
