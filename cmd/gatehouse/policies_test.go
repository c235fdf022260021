package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/policies"
)

// TestPoliciesCLI makes the first admin before anyone logged in, then changes, checks, audits,
// exports, imports and restores the policy through the CLI, as an operator would.
func TestPoliciesCLI(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "gh.db")
	out, err := gh(t, db, "hunter2hunter2\n", "users", "create", "--email", "alice@example.com", "--password-stdin", "--role=", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var u struct{ ID string }
	if err := json.Unmarshal([]byte(out), &u); err != nil {
		t.Fatal(err)
	}
	alice := "user:" + u.ID

	type revision struct {
		Revision     int64  `json:"revision"`
		Actor        string `json:"actor"`
		RestoredFrom int64  `json:"restored_from"`
		Added        []any  `json:"added"`
		Removed      []any  `json:"removed"`
	}
	mustRev := func(args ...string) revision {
		t.Helper()
		out, err := gh(t, db, "", append(args, "-o", "json")...)
		if err != nil {
			t.Fatalf("gatehouse %v: %v", args, err)
		}
		var r revision
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.Revision == 0 || !strings.HasPrefix(r.Actor, "cli:") {
			t.Fatalf("gatehouse %v = %s (%v)", args, out, err)
		}
		return r
	}

	// The first admin, by email and bare role name.
	if r := mustRev("roles", "assign", "alice@example.com", "admin", "--comment", "bootstrap"); r.Revision != 2 {
		t.Fatalf("first assignment is revision %d, want 2", r.Revision)
	}
	out, err = gh(t, db, "", "roles", "list", "--role", "admin", "-o", "json")
	if err != nil || !strings.Contains(out, `"subject": "`+alice+`"`) {
		t.Fatalf("roles list = %s %v", out, err)
	}
	out, err = gh(t, db, "", "policies", "check", "alice@example.com", "/admin/v1/policies", "POST", "-o", "json")
	if err != nil || !strings.Contains(out, `"allowed": true`) || !strings.Contains(out, `"object": "/admin/v1/*"`) {
		t.Fatalf("policies check = %s %v", out, err)
	}
	out, err = gh(t, db, "", "policies", "check", "user:bob", "/admin/v1/policies", "GET")
	if err != nil || !strings.HasPrefix(out, "denied: no rule matches") {
		t.Fatalf("policies check bob = %q %v", out, err)
	}

	// Changes: one rule from arguments, a batch from --rule lines, a deny.
	mustRev("policies", "add", "user:bob", "/api/v1/reports", "GET")
	r := mustRev("policies", "add", "--rule", "p, role:auditor, /admin/v1/todos, GET, allow", "--rule", "g, user:carol, role:auditor")
	if len(r.Added) != 2 {
		t.Errorf("batch added %d rules, want 2", len(r.Added))
	}
	mustRev("policies", "add", "user:bob", "/api/v1/reports", "GET", "--effect", "deny")
	if out, _ := gh(t, db, "", "policies", "check", "user:bob", "/api/v1/reports", "GET"); !strings.HasPrefix(out, `denied by "p, user:bob, /api/v1/reports, GET, deny"`) {
		t.Errorf("deny over allow: %q", out)
	}

	// Refusals: bad grammar (RB-08), unknown role, lockout of the only admin.
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"policies", "add", "--rule", "p, role:user, /*, GET, allow"}, "every path"},
		{[]string{"policies", "add", "user:bob", "/api/v1/reports*", "GET"}, "byte '*' is not allowed"},
		{[]string{"policies", "add", "user:bob", "/api/v1/x", "get"}, "action"},
		{[]string{"policies", "add", "bob", "/api/v1/x", "GET"}, "subject"},
		{[]string{"roles", "assign", "user:bob", "ghost"}, "unknown role"},
		{[]string{"roles", "unassign", alice, "role:admin"}, "no user with access to the admin API"},
		{[]string{"policies", "remove", "--rule", "p, role:admin, /admin/v1/*, *, allow"}, "no user with access"},
		{[]string{"roles", "assign", "nobody@example.com", "admin"}, "no user with email"},
		{[]string{"policies", "add"}, "nothing to add"},
	} {
		_, err := gh(t, db, "", bad.args...)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("gatehouse %v = %v, want an error about %q", bad.args, err, bad.want)
		}
	}

	// The audit trail.
	out, err = gh(t, db, "", "policies", "revisions", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var revs []revision
	if err := json.Unmarshal([]byte(out), &revs); err != nil || len(revs) != 5 || revs[0].Revision != 5 || revs[4].Actor != "migration" {
		t.Fatalf("revisions = %s (%v)", out, err)
	}
	if out, err := gh(t, db, "", "policies", "revisions"); err != nil || !strings.Contains(out, "bootstrap") {
		t.Errorf("revisions table = %s %v", out, err)
	}

	// Export, edit, import.
	csv, err := gh(t, db, "", "policies", "export")
	if err != nil || !strings.Contains(csv, "g, "+alice+", role:admin\n") {
		t.Fatalf("export = %s %v", csv, err)
	}
	edited := strings.Replace(csv, "p, user:bob, /api/v1/reports, GET, deny\n", "", 1)
	out, err = gh(t, db, edited, "policies", "import", "-", "-o", "json")
	if err != nil || !strings.Contains(out, `"revision": 6`) {
		t.Fatalf("import = %s %v", out, err)
	}
	if _, err := gh(t, db, "p, user:x, /a, GET, allow\nnonsense\n", "policies", "import", "-"); err == nil || !strings.Contains(err.Error(), "line[2]") {
		t.Errorf("import of a bad file = %v, want line 2 named", err)
	}

	// Restore the revision with bob's deny: a new revision.
	r = mustRev("policies", "restore", "5")
	if r.Revision != 7 || r.RestoredFrom != 5 || len(r.Added) != 1 {
		t.Errorf("restore = %+v", r)
	}
	out, err = gh(t, db, "", "policies", "list")
	if err != nil || !strings.HasPrefix(out, "revision 7\n") || !strings.Contains(out, "user:bob") {
		t.Errorf("policies list = %s %v", out, err)
	}
	if _, err := gh(t, db, "", "policies", "remove", "user:bob", "/api/v1/reports", "GET", "--effect", "deny"); err != nil {
		t.Errorf("remove: %v", err)
	}
}

// TestUsersCreateRoles: a user made with the CLI holds role:user unless told otherwise, in one
// revision by the CLI's actor; an unknown role is refused after the user exists, saying so.
func TestUsersCreateRoles(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "gh.db")
	for _, tc := range []struct {
		email string
		args  []string
		want  []string
	}{
		{"plain@example.com", nil, []string{"role:user"}},
		{"both@example.com", []string{"--role", "user,admin"}, []string{"role:user", "role:admin"}},
		{"none@example.com", []string{"--role="}, nil},
	} {
		out, err := gh(t, db, "hunter2hunter2\n", append([]string{"users", "create", "--email", tc.email, "--password-stdin", "-o", "json"}, tc.args...)...)
		if err != nil {
			t.Fatalf("users create %s: %v", tc.email, err)
		}
		var u struct{ ID string }
		if err := json.Unmarshal([]byte(out), &u); err != nil {
			t.Fatal(err)
		}
		out, err = gh(t, db, "", "roles", "list", "--subject", "user:"+u.ID, "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range tc.want {
			if !strings.Contains(out, `"role": "`+r+`"`) {
				t.Errorf("%s: roles %s, want %s", tc.email, out, r)
			}
		}
		if tc.want == nil && strings.Contains(out, `"role"`) {
			t.Errorf("%s: roles %s, want none", tc.email, out)
		}
	}
	_, err := gh(t, db, "hunter2hunter2\n", "users", "create", "--email", "ghost@example.com", "--password-stdin", "--role", "nosuchrole")
	if err == nil || !strings.Contains(err.Error(), "assigning its roles failed") {
		t.Errorf("unknown role: %v, want the assignment refused", err)
	}
}

// TestDefaultRolesHook: a confirmed person gets the configured roles once (a second
// confirmation changes nothing), recorded as gatehouse:registration; no roles, no hook.
func TestDefaultRolesHook(t *testing.T) {
	g := &globals{database: "sqlite:" + filepath.Join(t.TempDir(), "gh.db")}
	db, _, err := openStore(t.Context(), g, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pr, err := openPolicies(t.Context(), "", db, g.database, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if pr.defaultRoles(nil) != nil || pr.defaultRoles([]string{" "}) != nil {
		t.Error("a hook without roles to give")
	}
	hook := pr.defaultRoles([]string{"user"})
	for range 2 {
		if err := hook(t.Context(), "u-1"); err != nil {
			t.Fatal(err)
		}
	}
	revs, err := pr.svc.Revisions(t.Context(), 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 2 || revs[0].Actor != "gatehouse:registration" || len(revs[0].Added) != 1 {
		t.Fatalf("revisions %+v, want the seed and one assignment by gatehouse:registration", revs)
	}
	if d, err := pr.enf.Check("user:u-1", "/api/v1/todos", "GET"); err != nil || !d.Allowed {
		t.Errorf("u-1 after the hook: %+v %v, want role:user's access", d, err)
	}
	if err := pr.defaultRoles([]string{"nosuchrole"})(t.Context(), "u-2"); err == nil {
		t.Error("an unknown default role was assigned")
	}
}

// TestPolicyDatabaseURL_F11: with GATEHOUSE_POLICY_DATABASE_URL (--policy-database-url) the CLI
// writes the policy where the servers read it, not to --database.
func TestPolicyDatabaseURL_F11(t *testing.T) {
	dir := t.TempDir()
	db, pdb := "sqlite:"+filepath.Join(dir, "main.db"), "sqlite:"+filepath.Join(dir, "policy.db")
	p := "--policy-database-url=" + pdb
	if _, err := gh(t, db, "hunter2hunter2\n", "users", "create", "--email", "alice@example.com", "--password-stdin", p); err != nil {
		t.Fatal(err)
	}
	if _, err := gh(t, db, "", "roles", "assign", "alice@example.com", "admin", p); err != nil {
		t.Fatal(err)
	}
	out, err := gh(t, db, "", "roles", "list", "--role", "admin", p, "-o", "json")
	if err != nil || !strings.Contains(out, `"subject": "user:`) {
		t.Fatalf("roles list on the policy database = %s %v, want alice", out, err)
	}
	for _, url := range []string{pdb, db} {
		out, err = gh(t, url, "", "policies", "revisions", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		n := strings.Count(out, `"actor"`)
		if want := map[string]int{pdb: 3, db: 1}[url]; n != want {
			t.Errorf("%s holds %d revisions, want %d: %s", url, n, want, out)
		}
	}
}

// TestStalePolicyFailsClosed_F5: once the policy database is out of reach for longer than
// --policy-max-stale, the resource API's Authorizer reports an outage (503, not a denial) and
// /readyz says not ready.
func TestStalePolicyFailsClosed_F5(t *testing.T) {
	g := &globals{database: "sqlite:" + filepath.Join(t.TempDir(), "gh.db")}
	db, _, err := openStore(t.Context(), g, true)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := openPolicies(t.Context(), "", db, g.database, false, slog.New(slog.DiscardHandler),
		policies.WithPollInterval(20*time.Millisecond), policies.WithMaxStale(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ready := readyWithPolicy(pr, nil)
	status := func() int {
		rec := httptest.NewRecorder()
		ready.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code
	}
	if code := status(); code != http.StatusOK {
		t.Fatalf("/readyz = %d while fresh", code)
	}
	db.Close() // the policy database goes away
	deadline := time.Now().Add(5 * time.Second)
	for status() != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/readyz still ready long after the policy database went away")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := pr.resourceAuthorizer().Authorize(t.Context(), "user:u", "/api/v1/todos", "GET"); !errors.Is(err, policies.ErrStale) {
		t.Errorf("Authorize with a stale policy = %v, want ErrStale (answered 503)", err)
	}
}
