package policies

import (
	"fmt"
	"slices"
)

// Grant is an (object pattern, action) pair that a scope covers, in the grammar of rules.
type Grant struct {
	Object string `json:"object"`
	Action string `json:"action"`
}

// Scopes maps OAuth scopes to what they cover, for RB-06: a delegated token may do only what both
// its scopes and its subject's roles allow, so the resource server checks Scopes.Allows (a
// failure is 403 insufficient_scope, RFC 6750 §3.1) and Enforcer.Check (a failure is 403), and
// serves the request only when both allow it.
type Scopes struct {
	grants map[string][]compiledGrant
}

type compiledGrant struct {
	pat    pattern
	action string
}

// NewScopes validates and compiles a scope map. Patterns follow ValidPattern; actions are those
// of rules (Actions, "*" for any).
func NewScopes(m map[string][]Grant) (*Scopes, error) {
	s := &Scopes{grants: map[string][]compiledGrant{}}
	for scope, grants := range m {
		for i, g := range grants {
			if err := ValidPattern(g.Object); err != nil {
				return nil, fmt.Errorf("scope %q grant %d: %w", scope, i, err)
			}
			if !slices.Contains(Actions, g.Action) {
				return nil, fmt.Errorf("scope %q grant %d: action %q is not one of %v", scope, i, g.Action, Actions)
			}
			s.grants[scope] = append(s.grants[scope], compiledGrant{pat: compilePattern(g.Object), action: g.Action})
		}
	}
	return s, nil
}

// Allows reports whether one of scopes covers act on obj (the canonical path, see CanonicalPath).
// Unknown scopes cover nothing; a non-canonical path is never covered.
func (s *Scopes) Allows(scopes []string, obj, act string) bool {
	if _, err := CanonicalPath(obj); err != nil {
		return false
	}
	for _, sc := range scopes {
		for _, g := range s.grants[sc] {
			if (g.action == AnyAction || g.action == act) && g.pat.match(obj) {
				return true
			}
		}
	}
	return false
}

// Scopes of the todos API (resource.ScopeRead and resource.ScopeWrite) and what they cover,
// matching the default policy's role:user rules.
const (
	ScopeTodosRead  = "todos:read"
	ScopeTodosWrite = "todos:write"
)

// DefaultScopes is the scope map of the todos API: todos:read reads todos and categories (GET,
// HEAD), todos:write creates, replaces, changes and deletes them.
func DefaultScopes() *Scopes {
	var read, write []Grant
	for _, c := range []string{"/api/v1/todos", "/api/v1/categories"} {
		read = append(read, Grant{c, "GET"}, Grant{c, "HEAD"}, Grant{c + "/:id", "GET"}, Grant{c + "/:id", "HEAD"})
		write = append(write, Grant{c, "POST"}, Grant{c + "/:id", "PUT"}, Grant{c + "/:id", "PATCH"}, Grant{c + "/:id", "DELETE"})
	}
	s, err := NewScopes(map[string][]Grant{ScopeTodosRead: read, ScopeTodosWrite: write})
	if err != nil {
		panic(err) // constant data, exercised by TestScopesAndRoles_RB06
	}
	return s
}
