package admin_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/idp/admin"
	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/policies"
)

// refused posts body to path with tok and wants 403 with a problem naming the rule, and no new
// revision.
func (e *env) refused(tok, path, body, want string) {
	e.t.Helper()
	before := e.policy().Revision
	r := e.call(tok, "POST", path, body)
	var p problem
	r.json(e.t, &p)
	if r.status != 403 || len(p.Errors) == 0 || !strings.Contains(p.Errors[0].Message, want) {
		e.t.Errorf("POST %s %s: %d %s, want 403 naming the rule (%q)", path, body, r.status, r.body, want)
	}
	if got := e.policy().Revision; got != before {
		e.t.Errorf("POST %s: a refused change made revision %d", path, got)
	}
}

func (e *env) accepted(tok, path, body string) {
	e.t.Helper()
	if r := e.call(tok, "POST", path, body); r.status != 201 {
		e.t.Fatalf("POST %s %s: %d %s, want 201", path, body, r.status, r.body)
	}
}

// setup makes the permissions of rules through POST /admin/v1/policies, then the assignments
// through POST /admin/v1/roles.
func (e *env) setup(tok string, rules ...policies.Rule) {
	e.t.Helper()
	var perms []policies.Rule
	var assign []map[string]string
	for _, r := range rules {
		if r.Type == policies.Assignment {
			assign = append(assign, map[string]string{"subject": r.Subject, "role": r.Role})
		} else {
			perms = append(perms, r)
		}
	}
	if len(perms) > 0 {
		e.accepted(tok, "/admin/v1/policies", add(e.t, perms...))
	}
	if len(assign) > 0 {
		e.accepted(tok, "/admin/v1/roles", mustJSON(e.t, map[string]any{"assign": assign}))
	}
}

func add(t *testing.T, rules ...policies.Rule) string {
	return mustJSON(t, map[string]any{"add": rules})
}

// TestEscalationWildcard_F1_RB08: a delegated admin whose grant is one segment
// (GET /api/v1/:collection) may not grant itself, another user, or a role it assigns, the "*"
// tail /api/v1/* (which would open /api/v1/admin/todos, every user's todos); nor turn
// POST /admin/v1/:x into POST /admin/v1/*. It may grant what its pattern covers.
func TestEscalationWildcard_F1_RB08(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		e := newEnv(t, newDB(t))
		alice := e.user("alice@example.com")
		dana := e.user("dana@example.com")
		carl := e.user("carl@example.com")
		e.bootstrap(alice)
		atok := e.login("alice@example.com", "openid", admin.Scope)
		e.accepted(atok, "/admin/v1/policies", add(t,
			policies.Allowing(dana, "/admin/v1/*", "*"),
			policies.Allowing(dana, "/api/v1/:collection", "GET"),
			policies.Allowing("role:wide", "/api/v1/*", "GET"),
		))
		dtok := e.login("dana@example.com", "openid", admin.Scope)
		e.refused(dtok, "/admin/v1/policies", add(t, policies.Allowing(dana, "/api/v1/*", "GET")), "may not GET all of /api/v1/*")
		e.refused(dtok, "/admin/v1/policies", add(t, policies.Allowing(carl, "/api/v1/*", "GET")), "may not grant it")
		e.refused(dtok, "/admin/v1/policies", add(t, policies.Allowing(carl, "/api/v1/:a/:b", "GET")), "may not grant it")
		e.refused(dtok, "/admin/v1/roles", `{"assign":[{"subject":"`+carl+`","role":"role:wide"}]}`, "may not grant it")
		if d, err := e.enf.Check(dana, "/api/v1/admin/todos", "GET"); err != nil || d.Allowed {
			t.Fatalf("dana reads every user's todos: %+v %v", d, err)
		}
		// What the pattern covers may be granted: one segment, literal or parameter.
		e.accepted(dtok, "/admin/v1/policies", add(t, policies.Allowing(carl, "/api/v1/todos", "GET"), policies.Allowing(carl, "/api/v1/:c", "GET")))
	})
}

// TestEscalationDenyBounds_F2_RB08: a caller's own denies bound what it may delegate: with
// GET /api/v1/* and a deny on GET /api/v1/admin/todos, dana may not hand GET /api/v1/* to carl
// or to a client, nor assign a role that carries it; she may hand out what does not overlap her
// deny.
func TestEscalationDenyBounds_F2_RB08(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		e := newEnv(t, newDB(t))
		alice := e.user("alice@example.com")
		dana := e.user("dana@example.com")
		carl := e.user("carl@example.com")
		e.bootstrap(alice)
		atok := e.login("alice@example.com", "openid", admin.Scope)
		e.accepted(atok, "/admin/v1/policies", add(t,
			policies.Allowing(dana, "/admin/v1/*", "*"),
			policies.Allowing(dana, "/api/v1/*", "GET"),
			policies.Denying(dana, "/api/v1/admin/todos", "GET"),
			policies.Allowing("role:wide", "/api/v1/*", "GET"),
		))
		dtok := e.login("dana@example.com", "openid", admin.Scope)
		e.refused(dtok, "/admin/v1/policies", add(t, policies.Allowing(carl, "/api/v1/*", "GET")), "overlaps /api/v1/*")
		e.refused(dtok, "/admin/v1/policies", add(t, policies.Allowing("client:dana-bot", "/api/v1/:a/:b", "*")), "may not grant it")
		e.refused(dtok, "/admin/v1/roles", `{"assign":[{"subject":"`+carl+`","role":"role:wide"}]}`, "may not grant it")
		if d, err := e.enf.Check(carl, "/api/v1/admin/todos", "GET"); err != nil || d.Allowed {
			t.Fatalf("carl reads every user's todos: %+v %v", d, err)
		}
		e.accepted(dtok, "/admin/v1/policies", add(t, policies.Allowing(carl, "/api/v1/todos/*", "GET")))
	})
}

// TestEscalationTakeAway_F3_RB08: a delegated admin (dana: the admin API and role:user) may not
// demote or deny a subject that holds more than she does: not deny alice (role:admin) the admin
// API while unassigning her role:admin (the takeover of the review), not unassign it through
// /roles, not remove role:admin's grants, nor deny role:admin, nor assign alice a restricting
// role. She may deny and demote carl (role:user, a subset of hers) and restrict herself; the
// full admin may demote her.
func TestEscalationTakeAway_F3_RB08(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		e := newEnv(t, newDB(t))
		alice := e.user("alice@example.com")
		dana := e.user("dana@example.com")
		carl := e.user("carl@example.com")
		e.bootstrap(alice)
		atok := e.login("alice@example.com", "openid", admin.Scope)
		e.setup(atok,
			policies.Allowing(dana, "/admin/v1/*", "*"),
			policies.Assigning(dana, "role:user"),
			policies.Assigning(carl, "role:user"),
			policies.Denying("role:restricted", "/api/v1/categories", "POST"),
		)
		dtok := e.login("dana@example.com", "openid", admin.Scope)
		e.refused(dtok, "/admin/v1/policies", add(t, policies.Denying(alice, "/admin/v1/*", "*")), "may not take rights away from "+alice)
		e.refused(dtok, "/admin/v1/roles", `{"unassign":[{"subject":"`+alice+`","role":"role:admin"}]}`, "may not take rights away")
		e.refused(dtok, "/admin/v1/policies", mustJSON(t, map[string]any{"remove": []policies.Rule{policies.Allowing("role:admin", "/api/v1/*", "*")}}), "may not take rights away from role:admin")
		e.refused(dtok, "/admin/v1/policies", add(t, policies.Denying("role:admin", "/api/v1/todos", "GET")), "may not take rights away")
		e.refused(dtok, "/admin/v1/roles", `{"assign":[{"subject":"`+alice+`","role":"role:restricted"}]}`, "may not take rights away from "+alice)
		if r := e.call(atok, "GET", "/admin/v1/policies", ""); r.status != 200 {
			t.Fatalf("alice after the refused takeover: %d", r.status)
		}
		// carl holds a subset of dana's rights; dana may restrict herself.
		e.accepted(dtok, "/admin/v1/policies", add(t, policies.Denying(carl, "/api/v1/todos/:id", "DELETE")))
		e.accepted(dtok, "/admin/v1/roles", `{"unassign":[{"subject":"`+carl+`","role":"role:user"}]}`)
		e.accepted(dtok, "/admin/v1/policies", add(t, policies.Denying(dana, "/api/v1/categories/:id", "DELETE")))
		// Now carl would hold something she does not: she may no longer demote him.
		e.accepted(atok, "/admin/v1/roles", `{"assign":[{"subject":"`+carl+`","role":"role:user"}]}`)
		e.refused(dtok, "/admin/v1/roles", `{"unassign":[{"subject":"`+carl+`","role":"role:user"}]}`, "may not take rights away from "+carl)
		e.accepted(atok, "/admin/v1/policies", mustJSON(t, map[string]any{"remove": []policies.Rule{policies.Allowing(dana, "/admin/v1/*", "*")}}))
	})
}

// TestAdminRoutesSeparate_F8_RB08: each admin route is its own grant. POST /admin/v1/policies
// refuses role assignments (422 naming the rule's type, nothing saved), so a deny on
// POST /admin/v1/roles stops every role change; "POST /admin/v1/policies/*" grants the dry run
// but not the restore, which lives under /admin/v1/revisions and is granted on its own.
func TestAdminRoutesSeparate_F8_RB08(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		e := newEnv(t, newDB(t))
		alice := e.user("alice@example.com")
		rita := e.user("rita@example.com")
		carl := e.user("carl@example.com")
		e.bootstrap(alice)
		atok := e.login("alice@example.com", "openid", admin.Scope)
		before := e.policy().Revision
		r := e.call(atok, "POST", "/admin/v1/policies", mustJSON(t, map[string]any{"add": []policies.Rule{
			policies.Allowing("role:user", "/api/v1/reports", "GET"), policies.Assigning(carl, "role:user")}}))
		var p problem
		r.json(t, &p)
		if r.status != 422 || len(p.Errors) != 1 || p.Errors[0].Location != "body.add[1].type" || !strings.Contains(p.Errors[0].Message, "/admin/v1/roles") {
			t.Fatalf("g rule on /policies: %d %s", r.status, r.body)
		}
		if e.policy().Revision != before {
			t.Fatal("a refused batch was saved")
		}
		e.setup(atok,
			policies.Allowing(rita, "/admin/v1/*", "GET"),
			policies.Allowing(rita, "/admin/v1/policies/*", "POST"),
			policies.Allowing(rita, "/admin/v1/policies", "POST"),
			policies.Denying(rita, "/admin/v1/roles", "POST"),
		)
		rtok := e.login("rita@example.com", "openid", admin.Scope)
		rev := e.policy().Revision
		if r := e.call(rtok, "POST", "/admin/v1/policies/check", mustJSON(t, map[string]string{"subject": carl, "object": "/api/v1/todos", "action": "GET"})); r.status != 200 {
			t.Fatalf("dry run: %d %s", r.status, r.body)
		}
		restore := "/admin/v1/revisions/" + strconv.FormatInt(rev, 10) + "/restore"
		if r := e.call(rtok, "POST", restore, ""); r.status != 403 || !strings.Contains(string(r.body), "access policy does not allow") {
			t.Fatalf("restore with POST /admin/v1/policies/*: %d %s", r.status, r.body)
		}
		if r := e.call(rtok, "POST", "/admin/v1/roles", `{"assign":[{"subject":"`+carl+`","role":"role:user"}]}`); r.status != 403 {
			t.Fatalf("role change under a deny on POST /admin/v1/roles: %d %s", r.status, r.body)
		}
		e.accepted(atok, "/admin/v1/policies", add(t, policies.Allowing(rita, "/admin/v1/revisions/:rev/restore", "POST")))
		// Granted: restoring the revision before that grant takes only her own grant away.
		e.accepted(rtok, restore, "")
	})
}

// TestAdminAudience_F16_RS04: the admin API takes only tokens whose audience is the provider
// alone. Real client-credentials tokens of three clients that all hold role:admin and
// gatehouse:admin: no registered audience (aud = the issuer) → 200; audience the todos API → 401
// invalid_token; the todos API and the issuer → 401 (the todos API sees that token too).
func TestAdminAudience_F16_RS04(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		e := newEnv(t, newDB(t))
		for _, tc := range []struct {
			name      string
			audiences []string
			want      int
		}{
			{"no registered audience", nil, 200},
			{"a resource server", []string{"https://todos.example"}, 401},
			{"a resource server and the issuer", []string{"https://todos.example", e.srv.URL}, 401},
		} {
			sub, cc := e.machine(admin.Scope)
			if err := e.store.UpdateClient(t.Context(), strings.TrimPrefix(sub, policies.ClientPrefix), func(c *idp.Client) error {
				c.Audiences = tc.audiences
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			e.bootstrap(sub)
			r := e.call(e.token(cc), "GET", "/admin/v1/policies", "")
			if r.status != tc.want {
				t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.want)
			}
			if tc.want == 401 && !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("%s: challenge %q", tc.name, r.header.Get("WWW-Authenticate"))
			}
		}
	})
}
