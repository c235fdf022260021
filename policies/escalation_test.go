package policies_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/policies"
)

func escalation(t *testing.T, err error) []policies.Problem {
	t.Helper()
	var ee *policies.EscalationError
	if !errors.As(err, &ee) || !errors.Is(err, policies.ErrEscalation) {
		t.Fatalf("error %v is not an *EscalationError", err)
	}
	return ee.Problems
}

// TestEscalationUnderLock_F6_RB08: ApplyAs and RestoreAs decide on the rules they change, inside
// the locked transaction, not on an enforcer's snapshot or a diff computed before the lock: a
// right taken from the caller by another instance a moment ago is not grantable, a restore
// that would bring back a grant removed after the caller looked is refused, and a caller racing
// the removal of its own right never commits a grant after that removal.
func TestEscalationUnderLock_F6_RB08(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		db := newDB(t)
		here, other := policies.NewService(db, nil), policies.NewService(db, nil) // two instances
		dana, carl := "user:dana", "user:carl"
		mustApply(t, here, "cli:ops", policies.Change{Add: []policies.Rule{
			policies.Assigning("user:alice", "role:admin"),
			policies.Allowing(dana, "/admin/v1/*", "*"),
			policies.Allowing(dana, "/api/v1/todos", "GET"),
		}})
		enf, err := policies.NewEnforcer(t.Context(), db) // the snapshot a guard would decide on
		if err != nil {
			t.Fatal(err)
		}
		mustApply(t, other, "user:alice", policies.Change{Remove: []policies.Rule{policies.Allowing(dana, "/api/v1/todos", "GET")}})
		if d, _ := enf.Check(dana, "/api/v1/todos", "GET"); !d.Allowed {
			t.Fatal("the snapshot should still allow dana")
		}
		_, err = here.ApplyAs(t.Context(), dana, policies.Change{Add: []policies.Rule{policies.Allowing(carl, "/api/v1/todos", "GET")}})
		if p := escalation(t, err); len(p) != 1 || p[0].List != "add" || p[0].Index != 0 {
			t.Fatalf("problems %+v", p)
		}

		// A restore is decided on the diff computed under the lock.
		reports := policies.Allowing(carl, "/api/v1/reports", "GET")
		m := mustApply(t, here, "user:alice", policies.Change{Add: []policies.Rule{reports}})
		mustApply(t, other, "user:alice", policies.Change{Remove: []policies.Rule{reports}})
		before, _ := here.List(t.Context())
		_, err = here.RestoreAs(t.Context(), dana, m.Number, "")
		if p := escalation(t, err); len(p) != 1 || *p[0].Rule != reports {
			t.Fatalf("restore problems %+v", p)
		}
		if after, _ := here.List(t.Context()); after.Revision != before.Revision {
			t.Fatalf("a refused restore made revision %d", after.Revision)
		}

		// The race: dana grants carl X while alice takes X from dana.
		for i := range 8 {
			x := policies.Allowing(dana, fmt.Sprintf("/api/v1/r%d", i), "GET")
			grant := policies.Allowing(carl, x.Object, "GET")
			removal := mustApply(t, other, "user:alice", policies.Change{Add: []policies.Rule{x}}).Number + 1
			var wg sync.WaitGroup
			var gotRev policies.Revision
			var gotErr error
			wg.Go(func() {
				mustApply(t, other, "user:alice", policies.Change{Remove: []policies.Rule{x}})
			})
			wg.Go(func() {
				gotRev, gotErr = here.ApplyAs(t.Context(), dana, policies.Change{Add: []policies.Rule{grant}})
			})
			wg.Wait()
			if gotErr != nil {
				escalation(t, gotErr)
				continue
			}
			// The grant committed: it must precede the removal.
			revs, err := here.Revisions(t.Context(), 5, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range revs {
				if len(r.Removed) == 1 && r.Removed[0] == x && r.Number < gotRev.Number {
					t.Fatalf("round %d: grant committed at %d after the removal at %d (removal expected ≥ %d)", i, gotRev.Number, r.Number, removal)
				}
			}
		}
	})
}

// TestEscalationTakeAwayRoles_F3_RB08: take-aways reach through role chains and cycles: a
// caller who does not hold role:b's /api/v1/* may not unassign role:a (which inherits role:b,
// in a cycle) from u, deny role:a, or remove role:b's allow; it may take away what u holds
// that it holds too.
func TestEscalationTakeAwayRoles_F3_RB08(t *testing.T) {
	cur := []policies.Rule{
		policies.Allowing("user:c", "/admin/v1/*", "*"),
		policies.Allowing("user:c", "/api/v1/todos", "GET"),
		policies.Assigning("role:a", "role:b"),
		policies.Assigning("role:b", "role:a"),
		policies.Allowing("role:b", "/api/v1/*", "*"),
		policies.Assigning("user:u", "role:a"),
		policies.Allowing("user:v", "/api/v1/todos", "GET"),
	}
	for _, tc := range []struct {
		name string
		ch   policies.Change
		ok   bool
	}{
		{"unassign role:a from u", policies.Change{Remove: []policies.Rule{policies.Assigning("user:u", "role:a")}}, false},
		{"deny role:a", policies.Change{Add: []policies.Rule{policies.Denying("role:a", "/api/v1/x", "GET")}}, false},
		{"remove role:b's allow", policies.Change{Remove: []policies.Rule{policies.Allowing("role:b", "/api/v1/*", "*")}}, false},
		{"deny v what c holds", policies.Change{Add: []policies.Rule{policies.Denying("user:v", "/api/v1/todos", "GET")}}, true},
		{"remove v's allow", policies.Change{Remove: []policies.Rule{policies.Allowing("user:v", "/api/v1/todos", "GET")}}, true},
		{"c restricts itself", policies.Change{Remove: []policies.Rule{policies.Allowing("user:c", "/api/v1/todos", "GET")}}, true},
	} {
		p := policies.Escalation(cur, "user:c", tc.ch)
		if (len(p) == 0) != tc.ok {
			t.Errorf("%s: problems %+v, want ok=%v", tc.name, p, tc.ok)
		}
	}
}

// BenchmarkEscalation is the escalation check of one change on the 10,000-rule policy of
// BenchmarkEnforce: an admin holding /api/v1/* grants one rule to a user, and removes role:r0's
// rules from its ten holders (a take-away: every holder is checked).
func BenchmarkEscalation(b *testing.B) {
	cur := append(benchPolicy(), policies.Allowing("user:admin", "/api/v1/*", "*"), policies.Allowing("user:admin", "/admin/v1/*", "*"))
	ch := policies.Change{
		Add:    []policies.Rule{policies.Allowing("user:7", "/api/v1/r0/o1/:id", "GET")},
		Remove: []policies.Rule{policies.Allowing("role:r0", "/api/v1/r0/o1/:id", "POST")},
	}
	for b.Loop() {
		if p := policies.Escalation(cur, "user:admin", ch); len(p) > 0 {
			b.Fatal(p)
		}
	}
}
