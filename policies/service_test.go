package policies_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/policies"
)

func mustApply(t *testing.T, s *policies.Service, actor string, ch policies.Change) policies.Revision {
	t.Helper()
	rev, err := s.Apply(t.Context(), actor, ch)
	if err != nil {
		t.Fatalf("Apply(%+v): %v", ch, err)
	}
	return rev
}

func exportText(t *testing.T, s *policies.Service) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := s.Export(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	// Drop the revision comment.
	_, rest, _ := strings.Cut(b.String(), "\n")
	return rest
}

func problems(t *testing.T, err error) []policies.Problem {
	t.Helper()
	var ve *policies.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, policies.ErrInvalid) {
		t.Fatalf("error %v is not a *ValidationError", err)
	}
	return ve.Problems
}

// TestApplyRevisionsAudit: every change is a revision with its actor, time, comment and diff.
func TestApplyRevisionsAudit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		s := policies.NewService(newDB(t), nil)
		before := time.Now().Add(-time.Second)
		r2 := mustApply(t, s, "cli:ops", policies.Change{Add: []policies.Rule{policies.Assigning("user:root", "role:admin")}, Comment: "first admin"})
		r3 := mustApply(t, s, "user:root", policies.Change{
			Add:    []policies.Rule{policies.Allowing("role:user", "/api/v1/todos/:id", "HEAD")},
			Remove: []policies.Rule{policies.Allowing("role:user", "/api/v1/categories/:id", "PUT")},
		})
		if r2.Number != 2 || r3.Number != 3 {
			t.Fatalf("revisions %d, %d; want 2, 3", r2.Number, r3.Number)
		}
		revs, err := s.Revisions(t.Context(), 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(revs) != 3 || revs[0].Number != 3 || revs[2].Number != 1 || revs[2].Actor != "migration" {
			t.Fatalf("revisions = %+v", revs)
		}
		if seed := revs[2].Time; seed.Before(before.Add(-time.Hour)) || seed.After(time.Now()) {
			t.Errorf("the seed revision's time is %v, want the migration's", seed)
		}
		got := revs[0]
		if got.Actor != "user:root" || got.Time.Before(before) || got.Time.After(time.Now()) ||
			len(got.Added) != 1 || got.Added[0].Action != "HEAD" || len(got.Removed) != 1 || got.Removed[0].Action != "PUT" {
			t.Errorf("revision 3 = %+v", got)
		}
		if g, err := s.GetRevision(t.Context(), 2); err != nil || g.Comment != "first admin" || g.Actor != "cli:ops" {
			t.Errorf("GetRevision(2) = %+v, %v", g, err)
		}
		if _, err := s.GetRevision(t.Context(), 99); !errors.Is(err, policies.ErrNotFound) {
			t.Errorf("GetRevision(99) = %v, want ErrNotFound", err)
		}
		if page, _ := s.Revisions(t.Context(), 1, 3); len(page) != 1 || page[0].Number != 2 {
			t.Errorf("Revisions(1, before 3) = %+v", page)
		}
		p, err := s.List(t.Context())
		if err != nil || p.Revision != 3 || len(p.Assignments) != 1 || len(p.Permissions) != seeded {
			t.Errorf("List = %+v, %v", p, err)
		}
		if _, err := s.Apply(t.Context(), "", policies.Change{Add: []policies.Rule{policies.Assigning("user:x", "role:user")}}); !errors.Is(err, policies.ErrInvalid) {
			t.Errorf("Apply without an actor = %v", err)
		}
	})
}

// TestInvalidBatchChangesNothing_RB08: one bad rule refuses the batch; the error names each rule
// (list, index, rule) and why; the policy and the revision stay as they were.
func TestInvalidBatchChangesNothing_RB08(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		s := policies.NewService(newDB(t), nil)
		before := exportText(t, s)
		_, err := s.Apply(t.Context(), "user:root", policies.Change{
			Add: []policies.Rule{
				policies.Allowing("user:1", "/api/v1/notes", "GET"),    // fine
				policies.Allowing("user:1", "/api/v1/notes", "get"),    // 1: action
				policies.Allowing("user:1", "/*", "GET"),               // 2: pattern
				policies.Allowing("user:1", "/api/v1/x,y", "GET"),      // 3: comma
				policies.Allowing("user:1", "/api/v1/todos", "GET"),    // fine
				policies.Allowing("user:1", "/api/v1/todos", "GET"),    // 5: twice
				policies.Allowing("role:user", "/api/v1/todos", "GET"), // 6: already there
				policies.Allowing("1", "/api/v1/todos", "GET"),         // 7: subject
			},
			Remove: []policies.Rule{policies.Allowing("role:user", "/nothing", "GET")}, // 0: absent
		})
		ps := problems(t, err)
		var got []string
		for _, p := range ps {
			if p.Rule == nil || p.Reason == "" {
				t.Errorf("problem without rule or reason: %+v", p)
			}
			got = append(got, fmt.Sprintf("%s[%d]", p.List, p.Index))
		}
		want := []string{"remove[0]", "add[1]", "add[2]", "add[3]", "add[5]", "add[6]", "add[7]"}
		if !slices.Equal(got, want) {
			t.Errorf("problems at %v, want %v\n%v", got, want, err)
		}
		if after := exportText(t, s); after != before {
			t.Errorf("the invalid batch changed the policy:\n%s", after)
		}
		if p, _ := s.List(t.Context()); p.Revision != 1 {
			t.Errorf("revision %d after an invalid batch, want 1", p.Revision)
		}
		if _, err := s.Apply(t.Context(), "user:root", policies.Change{}); !errors.Is(err, policies.ErrInvalid) {
			t.Errorf("empty change = %v, want ErrInvalid", err)
		}
	})
}

// TestUnknownRole: a role can be assigned only if some rule defines it, possibly in the same batch.
func TestUnknownRole(t *testing.T) {
	s := policies.NewService(dbtest.NewSQLite(t), nil)
	_, err := s.Assign(t.Context(), "cli:ops", "user:1", "role:ghost", "")
	if ps := problems(t, err); len(ps) != 1 || ps[0].Index != 0 || !strings.Contains(ps[0].Reason, "unknown role") {
		t.Fatalf("problems = %+v", ps)
	}
	mustApply(t, s, "cli:ops", policies.Change{Add: []policies.Rule{
		policies.Assigning("user:1", "role:ghost"),
		policies.Allowing("role:ghost", "/api/v1/haunts", "GET"),
	}})
	// A role may inherit from another role.
	mustApply(t, s, "cli:ops", policies.Change{Add: []policies.Rule{policies.Assigning("role:editor", "role:user"), policies.Assigning("user:2", "role:editor")}})
	if d, err := s.Check(t.Context(), "user:2", "/api/v1/todos", "GET"); err != nil || !d.Allowed {
		t.Errorf("user:2 through role:editor → role:user: %+v, %v", d, err)
	}
}

// TestLockout: no change may leave the admin API without any admin user.
func TestLockout(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		s := policies.NewService(newDB(t), nil)
		// Without any admin (a fresh install), changes are free.
		mustApply(t, s, "cli:ops", policies.Change{Add: []policies.Rule{policies.Assigning("user:root", "role:admin")}})
		for name, ch := range map[string]policies.Change{
			"unassign the last admin":       {Remove: []policies.Rule{policies.Assigning("user:root", "role:admin")}},
			"remove the admin API rule":     {Remove: []policies.Rule{policies.Allowing("role:admin", "/admin/v1/*", "*")}},
			"deny the admin":                {Add: []policies.Rule{policies.Denying("user:root", "/admin/v1/roles", "POST")}},
			"deny the role":                 {Add: []policies.Rule{policies.Denying("role:admin", "/admin/v1/*", "*")}},
			"assign a role that denies all": {Add: []policies.Rule{policies.Denying("role:jail", "/admin/v1/*", "*"), policies.Assigning("user:root", "role:jail")}},
		} {
			_, err := s.Apply(t.Context(), "user:root", ch)
			if ps := problems(t, err); len(ps) != 1 || ps[0].Index != -1 || !strings.Contains(ps[0].Reason, "no user") {
				t.Errorf("%s: problems = %+v", name, ps)
			}
		}
		// With a second admin, the first may go.
		mustApply(t, s, "user:root", policies.Change{Add: []policies.Rule{policies.Assigning("user:second", "role:admin")}})
		if _, err := s.Unassign(t.Context(), "user:second", "user:root", "role:admin", "handover"); err != nil {
			t.Fatalf("unassign with another admin left: %v", err)
		}
		// A user with direct rules is an admin too.
		mustApply(t, s, "user:second", policies.Change{Add: []policies.Rule{policies.Allowing("user:direct", "/admin/v1/*", "*")}})
		if _, err := s.Unassign(t.Context(), "user:direct", "user:second", "role:admin", ""); err != nil {
			t.Fatalf("unassign with a direct admin left: %v", err)
		}
		// A user whose role inherits role:admin is an admin too.
		mustApply(t, s, "user:direct", policies.Change{Add: []policies.Rule{policies.Assigning("role:ops", "role:admin"), policies.Assigning("user:ops", "role:ops")}})
		mustApply(t, s, "user:ops", policies.Change{Remove: []policies.Rule{policies.Allowing("user:direct", "/admin/v1/*", "*")}})
		_, err := s.Unassign(t.Context(), "user:ops", "user:ops", "role:ops", "")
		if ps := problems(t, err); len(ps) != 1 || ps[0].Index != -1 {
			t.Errorf("removing the last (inherited) admin: problems = %+v", ps)
		}
	})
}

// TestRestore: an old revision can be restored, as a new revision; the seed replays exactly.
func TestRestore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		s := policies.NewService(newDB(t), nil)
		seed := exportText(t, s)
		mustApply(t, s, "cli:ops", policies.Change{Add: []policies.Rule{policies.Allowing("user:1", "/api/v1/notes", "GET")}})
		at3 := exportText(t, s)
		_ = mustApply(t, s, "cli:ops", policies.Change{Add: []policies.Rule{policies.Assigning("user:1", "role:user")}})
		mustApply(t, s, "cli:ops", policies.Change{Remove: []policies.Rule{policies.Allowing("role:user", "/api/v1/todos", "GET")}})

		rev, err := s.Restore(t.Context(), "user:root", 2, "")
		if err != nil {
			t.Fatal(err)
		}
		if rev.Number != 5 || rev.RestoredFrom != 2 || rev.Actor != "user:root" || len(rev.Removed) != 1 || len(rev.Added) != 1 {
			t.Errorf("restore revision = %+v", rev)
		}
		if got := exportText(t, s); got != reorder(at3, got) {
			t.Errorf("after restoring 2:\n%s\nwant:\n%s", got, at3)
		}
		if _, err := s.Restore(t.Context(), "user:root", 2, ""); !errors.Is(err, policies.ErrNoChange) {
			t.Errorf("restoring the current state = %v, want ErrNoChange", err)
		}
		if _, err := s.Restore(t.Context(), "user:root", 42, ""); !errors.Is(err, policies.ErrNotFound) {
			t.Errorf("restoring revision 42 = %v, want ErrNotFound", err)
		}
		if _, err := s.Restore(t.Context(), "user:root", 1, "back to the default"); err != nil {
			t.Fatal(err)
		}
		if got := exportText(t, s); got != reorder(seed, got) {
			t.Errorf("after restoring 1:\n%s\nwant:\n%s", got, seed)
		}
		g, _ := s.GetRevision(t.Context(), 6)
		if g.RestoredFrom != 1 || g.Comment != "back to the default" {
			t.Errorf("revision 6 = %+v", g)
		}
	})
}

// reorder returns got if it holds the same lines as want in any order, else want (so that a
// comparison with got fails and shows want).
func reorder(want, got string) string {
	a, b := strings.Split(want, "\n"), strings.Split(got, "\n")
	slices.Sort(a)
	slices.Sort(b)
	if slices.Equal(a, b) {
		return got
	}
	return want
}

// TestExportImport round-trips Casbin CSV and reports bad lines by number.
func TestExportImport(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		s := policies.NewService(newDB(t), nil)
		var b bytes.Buffer
		if _, err := s.Export(t.Context(), &b); err != nil {
			t.Fatal(err)
		}
		text := strings.Replace(b.String(), "p, role:user, /api/v1/todos, POST, allow\n", "", 1) +
			"\n# extra\ng, user:7, role:user\np, client:svc, /api/v1/todos, GET, allow\n"
		rev, err := s.Import(t.Context(), "cli:ops", strings.NewReader(text), "")
		if err != nil {
			t.Fatal(err)
		}
		if len(rev.Added) != 2 || len(rev.Removed) != 1 || rev.Comment != "import" {
			t.Errorf("import revision = %+v", rev)
		}
		if d, _ := s.Check(t.Context(), "client:svc", "/api/v1/todos", "GET"); !d.Allowed {
			t.Error("imported rule not enforced")
		}
		_, err = s.Import(t.Context(), "cli:ops", strings.NewReader("p, user:1, /a, GET, allow\np, \"user:1,x\", /a, GET, allow\nbogus\n"), "")
		if ps := problems(t, err); len(ps) != 2 || ps[0].Index != 2 || ps[1].Index != 3 || ps[0].List != "line" {
			t.Errorf("problems = %+v", ps)
		}
		if _, err := s.Import(t.Context(), "cli:ops", strings.NewReader(text), ""); !errors.Is(err, policies.ErrNoChange) {
			t.Errorf("importing the current policy = %v, want ErrNoChange", err)
		}
	})
}

// TestConcurrentAdmins: admins applying different rules at the same moment all keep their rule,
// and every change gets its own revision.
func TestConcurrentAdmins(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		db := newDB(t)
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		revs := make([]int64, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := policies.NewService(db, nil) // one service per admin, one database
				<-start
				r, err := s.Apply(t.Context(), fmt.Sprintf("user:admin%d", i), policies.Change{Add: []policies.Rule{
					policies.Allowing(fmt.Sprintf("user:%d", i), "/api/v1/todos", "GET"),
				}})
				errs[i], revs[i] = err, r.Number
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("admin %d: %v", i, err)
			}
		}
		slices.Sort(revs)
		for i, r := range revs {
			if r != int64(i+2) {
				t.Fatalf("revisions %v, want 2..%d", revs, n+1)
			}
		}
		p, err := policies.NewService(db, nil).List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Permissions) != seeded+n || p.Revision != n+1 {
			t.Errorf("%d rules at revision %d, want %d at %d", len(p.Permissions), p.Revision, seeded+n, n+1)
		}
	})
}

// TestServiceCheck is the dry run: decision, deciding rule, revision; roles may be asked about.
func TestServiceCheck(t *testing.T) {
	s := policies.NewService(dbtest.NewSQLite(t), nil)
	d, err := s.Check(t.Context(), "role:user", "/api/v1/todos/1", "PUT")
	if err != nil || !d.Allowed || d.Rule == nil || d.Rule.Object != "/api/v1/todos/:id" || d.Revision != 1 {
		t.Fatalf("Check(role:user) = %+v, %v", d, err)
	}
	mustApply(t, s, "cli:ops", policies.Change{Add: []policies.Rule{policies.Denying("role:user", "/api/v1/todos/:id", "PUT")}})
	d, err = s.Check(t.Context(), "role:user", "/api/v1/todos/1", "PUT")
	if err != nil || d.Allowed || d.Rule == nil || d.Rule.Effect != policies.Deny || d.Revision != 2 {
		t.Fatalf("Check after the deny = %+v, %v", d, err)
	}
	if _, err := s.Check(t.Context(), "user:1", "/api//x", "GET"); !errors.Is(err, policies.ErrNonCanonicalPath) {
		t.Errorf("Check of a non-canonical path = %v", err)
	}
}

// TestInProcessPropagation: on SQLite a subscribed enforcer holds the new revision when Apply
// returns.
func TestInProcessPropagation(t *testing.T) {
	db := dbtest.NewSQLite(t)
	s := policies.NewService(db, nil)
	e, err := policies.NewEnforcer(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	s.Subscribe(e.Refresh)
	if ok, _ := e.Enforce("user:1", "/api/v1/todos", "GET"); ok {
		t.Fatal("allowed before the change")
	}
	rev := mustApply(t, s, "cli:ops", policies.Change{Add: []policies.Rule{policies.Assigning("user:1", "role:user")}})
	if e.Revision() != rev.Number {
		t.Fatalf("enforcer holds %d, want %d", e.Revision(), rev.Number)
	}
	if ok, _ := e.Enforce("user:1", "/api/v1/todos", "GET"); !ok {
		t.Fatal("denied after the change")
	}
}
