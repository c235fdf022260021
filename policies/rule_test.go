package policies_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/policies"
)

// TestValidPattern_RB02_RB08 accepts only anchored keyMatch2 patterns without regex syntax.
func TestValidPattern_RB02_RB08(t *testing.T) {
	for _, p := range []string{"/", "/api/v1/todos", "/api/v1/todos/:id", "/api/v1/*", "/admin/v1/*", "/a/:x/b/*", "/a-b_c~d"} {
		if err := policies.ValidPattern(p); err != nil {
			t.Errorf("ValidPattern(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{
		"", "api/v1", "*", "/*", ".*", "*/admin/*", "/api/*/admin", "/api/v1*", "/api/v1/todos*", "/api//v1",
		"/api/v1/", "/api/v1.0/x", "/api/(admin|v1)", "/api/[a-z]+", "/api/v1/x$", "/^api", "/api/v1/a+",
		"/api/v1/x?", "/api/{id}", "/api/:", "/api/:1d", "/api/:id-x", "/api,GET", `/api/"x"`, "/api/'x'",
		"/api/x\ny", "/api/x y", "/api/é", `/api\x`, "/api/eval(1)", "/" + strings.Repeat("a", 2000),
	} {
		if err := policies.ValidPattern(p); err == nil {
			t.Errorf("ValidPattern(%.40q) = nil, want an error", p)
		}
	}
}

// TestRuleValidate_RB05_RB08 checks subjects, actions, effects and roles of single rules.
func TestRuleValidate_RB05_RB08(t *testing.T) {
	for _, r := range []policies.Rule{
		policies.Allowing("user:0f8e2f6c-1", "/api/v1/todos", "GET"),
		policies.Allowing("client:svc-1", "/api/v1/*", "*"),
		policies.Denying("role:suspended", "/api/v1/*", "*"),
		policies.Assigning("user:42", "role:admin"),
		policies.Assigning("role:editor", "role:user"),
	} {
		if err := r.Validate(); err != nil {
			t.Errorf("%v: %v", r, err)
		}
	}
	for _, tt := range []struct {
		rule policies.Rule
		want string
	}{
		{policies.Allowing("alice", "/api/v1/todos", "GET"), "user:<id>"},
		{policies.Allowing("admin", "/api/v1/todos", "GET"), "user:<id>"},
		{policies.Allowing("user:", "/api/v1/todos", "GET"), "empty"},
		{policies.Allowing("user:a,b", "/api/v1/todos", "GET"), "not allowed"},
		{policies.Allowing("user:a\"b", "/api/v1/todos", "GET"), "not allowed"},
		{policies.Allowing("user:a\nb", "/api/v1/todos", "GET"), "not allowed"},
		{policies.Allowing("role:Admin", "/api/v1/todos", "GET"), "only a-z"},
		{policies.Allowing("role:", "/api/v1/todos", "GET"), "role name"},
		{policies.Allowing("user:1", "/*", "GET"), "every path"},
		{policies.Allowing("user:1", ".*", "GET"), "start with '/'"},
		{policies.Allowing("user:1", "/api/v1/todos", "get"), "action"},
		{policies.Allowing("user:1", "/api/v1/todos", "GET|POST"), "action"},
		{policies.Allowing("user:1", "/api/v1/todos", "(GET)|(POST)"), "action"},
		{policies.Allowing("user:1", "/api/v1/todos", "OPTIONS"), "action"},
		{policies.Allowing("user:1", "/api/v1/todos", ""), "action"},
		{policies.Rule{Type: "p", Subject: "user:1", Object: "/a", Action: "GET", Effect: "indeterminate"}, "effect"},
		{policies.Rule{Type: "p", Subject: "user:1", Object: "/a", Action: "GET", Effect: "allow", Role: "role:x"}, "no role"},
		{policies.Rule{Type: "x", Subject: "user:1"}, "type"},
		{policies.Assigning("user:1", "admin"), "role:<name>"},
		{policies.Assigning("user:1", "user:2"), "role:<name>"},
		{policies.Assigning("role:a", "role:a"), "itself"},
		{policies.Rule{Type: "g", Subject: "user:1", Role: "role:a", Object: "/x"}, "only a subject"},
	} {
		err := tt.rule.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: Validate() = %v, want an error about %q", tt.rule, err, tt.want)
		}
	}
}

// TestParseRule round-trips Casbin's CSV lines.
func TestParseRule(t *testing.T) {
	for _, r := range []policies.Rule{policies.Allowing("role:user", "/api/v1/todos/:id", "PATCH"), policies.Assigning("user:1", "role:admin")} {
		got, err := policies.ParseRule(r.String())
		if err != nil || got != r {
			t.Errorf("ParseRule(%q) = %+v, %v", r.String(), got, err)
		}
	}
	for _, line := range []string{"", "p, a", "g, a, b, c", "x, a, b", "p, a, b, c, d, e"} {
		if _, err := policies.ParseRule(line); err == nil {
			t.Errorf("ParseRule(%q) accepted", line)
		}
	}
}
