package policies_test

import (
	"errors"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/policies"
)

// TestInvalidStoredRuleFailsLoad_F10_RB08: a rule outside the grammar written around the
// Service (the Adapter's Casbin API: a regex deny that Casbin would apply and the index would
// read literally) makes the next reload fail: the enforcer keeps deciding on the revision it
// held (the deny below still applies) and reports ErrInvalidStoredRule; a new enforcer refuses to
// start; removing the row through the Service makes the policy load again.
func TestInvalidStoredRuleFailsLoad_F10_RB08(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		db := newDB(t)
		s := policies.NewService(db, nil)
		mustApply(t, s, "cli:ops", policies.Change{Add: []policies.Rule{
			policies.Allowing("user:u", "/api/v1/*", "GET"),
			policies.Denying("user:u", "/api/v1/admin/todos", "GET"),
		}})
		enf, err := policies.NewEnforcer(t.Context(), db)
		if err != nil {
			t.Fatal(err)
		}
		held := enf.Revision()
		bad := []string{"user:u", "/api/v1/(admin|x)/todos", "GET", "deny"}
		if err := policies.NewAdapter(db).AddPolicy("p", "p", bad); err != nil {
			t.Fatal(err)
		}
		// The deny on /api/v1/admin/todos goes; the regex "deny" is all that would be left.
		mustApply(t, s, "cli:ops", policies.Change{Remove: []policies.Rule{policies.Denying("user:u", "/api/v1/admin/todos", "GET")}})
		if err := enf.Refresh(t.Context(), 0); !errors.Is(err, policies.ErrInvalidStoredRule) {
			t.Fatalf("refresh over an invalid row: %v, want ErrInvalidStoredRule", err)
		}
		if enf.Revision() != held {
			t.Fatalf("the enforcer moved to %d", enf.Revision())
		}
		if d, _ := enf.Check("user:u", "/api/v1/admin/todos", "GET"); d.Allowed {
			t.Fatal("allowed on a policy that silently dropped the deny")
		}
		if _, err := policies.NewEnforcer(t.Context(), db); !errors.Is(err, policies.ErrInvalidStoredRule) {
			t.Fatalf("NewEnforcer over an invalid row: %v", err)
		}
		badRule := policies.Rule{Type: "p", Subject: bad[0], Object: bad[1], Action: bad[2], Effect: bad[3]}
		mustApply(t, s, "cli:ops", policies.Change{Remove: []policies.Rule{badRule}})
		if err := enf.Refresh(t.Context(), 0); err != nil || enf.Revision() == held {
			t.Fatalf("after the repair: %v at %d", err, enf.Revision())
		}
	})
}
