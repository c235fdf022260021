package policies_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/policies"
)

// TestRoleChains_F7_RB08: a chain of ten role steps is accepted and its last role's deny applies;
// an eleventh step, which the enforcer (like Casbin) would never follow, is refused naming the
// assignment, in one batch or added later; so is a cycle. No deny is silently out of reach.
func TestRoleChains_F7_RB08(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		db := newDB(t)
		s := policies.NewService(db, nil)
		role := func(i int) string { return fmt.Sprintf("role:r%d", i) }
		ch := policies.Change{Add: []policies.Rule{
			policies.Assigning("user:u", role(1)),
			policies.Allowing(role(1), "/api/v1/*", "GET"),
			policies.Denying(role(10), "/api/v1/secret", "GET"),
			policies.Denying(role(11), "/api/v1/hidden", "GET"),
		}}
		for i := 1; i < 10; i++ {
			ch.Add = append(ch.Add, policies.Assigning(role(i), role(i+1)))
		}
		mustApply(t, s, "cli:ops", ch)
		enf, err := policies.NewEnforcer(t.Context(), db)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := enf.Check("user:u", "/api/v1/secret", "GET"); d.Allowed {
			t.Fatal("the deny ten steps away does not apply")
		}
		step11 := policies.Assigning(role(10), role(11))
		_, err = s.Apply(t.Context(), "cli:ops", policies.Change{Add: []policies.Rule{policies.Allowing("role:x", "/x", "GET"), step11}})
		p := problems(t, err)
		if len(p) != 1 || p[0].Index != 1 || *p[0].Rule != step11 || !strings.Contains(p[0].Reason, "longer than 10") {
			t.Fatalf("eleventh step: %+v", p)
		}
		// Below a fresh user: user:v → r0 → r1 … r10 is eleven steps too.
		_, err = s.Apply(t.Context(), "cli:ops", policies.Change{Add: []policies.Rule{policies.Assigning(role(0), role(1)), policies.Allowing(role(0), "/y", "GET"), policies.Assigning("user:v", role(0))}})
		if p := problems(t, err); len(p) != 1 || !strings.Contains(p[0].Reason, "user:v → role:r0 → role:r1") {
			t.Fatalf("eleven steps from a user: %+v", p)
		}
		cyc := policies.Assigning(role(3), role(1))
		_, err = s.Apply(t.Context(), "cli:ops", policies.Change{Add: []policies.Rule{cyc}})
		if p := problems(t, err); len(p) != 1 || p[0].Index != 0 || !strings.Contains(p[0].Reason, "cycle") {
			t.Fatalf("cycle: %+v", p)
		}
	})
}
