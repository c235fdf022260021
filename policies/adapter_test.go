package policies_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/casbin/casbin/v2"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/policies"
)

// seeded is the number of rules of the default policy (migrations/policies).
const seeded = 14

func newCasbin(t *testing.T, a *policies.Adapter) *casbin.Enforcer {
	t.Helper()
	m, err := policies.NewModel()
	if err != nil {
		t.Fatal(err)
	}
	e, err := casbin.NewEnforcer(m, a)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func count(t *testing.T, db *database.DB, where string, args ...any) int {
	t.Helper()
	var n int
	if err := db.GetContext(t.Context(), &n, db.Rebind("SELECT COUNT(*) FROM casbin_rule "+where), args...); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAdapter is the adapter's conformance suite, on SQLite and PostgreSQL.
func TestAdapter(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		t.Run("LoadPolicy loads the seeded default policy", func(t *testing.T) {
			e := newCasbin(t, policies.NewAdapter(newDB(t)))
			p, _ := e.GetPolicy()
			if len(p) != seeded {
				t.Fatalf("loaded %d rules, want %d: %v", len(p), seeded, p)
			}
			if ok, _ := e.Enforce("role:user", "/api/v1/todos/1", "PATCH"); !ok {
				t.Error("role:user may not PATCH a todo")
			}
		})
		t.Run("AddPolicy saves and refuses duplicates", func(t *testing.T) {
			db := newDB(t)
			a := policies.NewAdapter(db)
			rule := []string{"user:1", "/api/v1/x", "GET", "allow"}
			if err := a.AddPolicy("p", "p", rule); err != nil {
				t.Fatal(err)
			}
			if err := a.AddPolicy("p", "p", rule); !errors.Is(err, policies.ErrDuplicate) {
				t.Fatalf("second AddPolicy = %v, want ErrDuplicate", err)
			}
			if err := a.AddPolicy("g", "g", []string{"user:1", "role:user"}); err != nil {
				t.Fatal(err)
			}
			e := newCasbin(t, a)
			if ok, _ := e.Enforce("user:1", "/api/v1/x", "GET"); !ok {
				t.Error("added rule not loaded")
			}
			if ok, _ := e.Enforce("user:1", "/api/v1/todos", "GET"); !ok {
				t.Error("added assignment not loaded")
			}
		})
		t.Run("AddPolicies is atomic", func(t *testing.T) {
			db := newDB(t)
			a := policies.NewAdapter(db)
			err := a.AddPolicies("p", "p", [][]string{
				{"user:1", "/a", "GET", "allow"},
				{"role:user", "/api/v1/todos", "GET", "allow"}, // already seeded
			})
			if !errors.Is(err, policies.ErrDuplicate) {
				t.Fatalf("AddPolicies with a duplicate = %v, want ErrDuplicate", err)
			}
			if n := count(t, db, "WHERE v0 = ?", "user:1"); n != 0 {
				t.Fatalf("%d rules of the failed batch were saved", n)
			}
			if err := a.AddPolicies("p", "p", [][]string{{"user:1", "/a", "GET", "allow"}, {"user:1", "/b", "GET", "allow"}}); err != nil {
				t.Fatal(err)
			}
			if n := count(t, db, "WHERE v0 = ?", "user:1"); n != 2 {
				t.Fatalf("%d rules saved, want 2", n)
			}
		})
		t.Run("RemovePolicy and RemovePolicies", func(t *testing.T) {
			db := newDB(t)
			a := policies.NewAdapter(db)
			if err := a.RemovePolicy("p", "p", []string{"role:user", "/api/v1/todos", "GET", "allow"}); err != nil {
				t.Fatal(err)
			}
			if err := a.RemovePolicy("p", "p", []string{"role:user", "/nothing", "GET", "allow"}); err != nil {
				t.Fatalf("removing an absent rule: %v", err)
			}
			if err := a.RemovePolicies("p", "p", [][]string{{"role:user", "/api/v1/todos", "POST", "allow"}, {"role:admin", "/api/v1/*", "*", "allow"}}); err != nil {
				t.Fatal(err)
			}
			if n := count(t, db, ""); n != seeded-3 {
				t.Fatalf("%d rules left, want %d", n, seeded-3)
			}
		})
		t.Run("RemoveFilteredPolicy", func(t *testing.T) {
			db := newDB(t)
			a := policies.NewAdapter(db)
			// Every rule of role:user on any object with DELETE.
			if err := a.RemoveFilteredPolicy("p", "p", 0, "role:user", "", "DELETE"); err != nil {
				t.Fatal(err)
			}
			if n := count(t, db, "WHERE v2 = ?", "DELETE"); n != 0 {
				t.Fatalf("%d DELETE rules left", n)
			}
			if n := count(t, db, "WHERE v0 = ?", "role:user"); n != 10 {
				t.Fatalf("%d role:user rules left, want 10", n)
			}
			if err := a.RemoveFilteredPolicy("p", "p", 5, "a", "b"); err == nil {
				t.Error("out-of-range filter accepted")
			}
		})
		t.Run("LoadFilteredPolicy", func(t *testing.T) {
			a := policies.NewAdapter(newDB(t))
			e := newCasbin(t, a)
			if err := e.LoadFilteredPolicy(policies.Filter{V0: []string{"role:admin"}}); err != nil {
				t.Fatal(err)
			}
			p, _ := e.GetPolicy()
			if len(p) != 2 || !a.IsFiltered() {
				t.Fatalf("filtered load = %v (filtered %v), want role:admin's 2 rules", p, a.IsFiltered())
			}
			if err := e.SavePolicy(); err == nil {
				t.Error("SavePolicy after a filtered load was accepted")
			}
			if err := e.LoadFilteredPolicy(&policies.Filter{PType: []string{"p"}, V2: []string{"GET", "POST"}}); err != nil {
				t.Fatal(err)
			}
			if p, _ := e.GetPolicy(); len(p) != 6 {
				t.Fatalf("filtered load by action = %v, want 6", p)
			}
			if err := e.LoadFilteredPolicy("bad"); err == nil {
				t.Error("a filter of the wrong type was accepted")
			}
			if err := e.LoadPolicy(); err != nil || a.IsFiltered() {
				t.Fatalf("LoadPolicy = %v, filtered %v", err, a.IsFiltered())
			}
		})
		t.Run("SavePolicy replaces the table", func(t *testing.T) {
			db := newDB(t)
			a := policies.NewAdapter(db)
			e := newCasbin(t, a)
			e.EnableAutoSave(false)
			if _, err := e.RemovePolicy("role:user", "/api/v1/todos", "GET", "allow"); err != nil {
				t.Fatal(err)
			}
			if _, err := e.AddGroupingPolicy("user:9", "role:admin"); err != nil {
				t.Fatal(err)
			}
			if err := e.SavePolicy(); err != nil {
				t.Fatal(err)
			}
			e2 := newCasbin(t, policies.NewAdapter(db))
			p, _ := e2.GetPolicy()
			g, _ := e2.GetGroupingPolicy()
			if len(p) != seeded-1 || len(g) != 1 || !slices.Equal(g[0], []string{"user:9", "role:admin"}) {
				t.Fatalf("after SavePolicy: %d rules, assignments %v", len(p), g)
			}
		})
		t.Run("casbin auto-save goes through the adapter", func(t *testing.T) {
			db := newDB(t)
			e := newCasbin(t, policies.NewAdapter(db))
			if _, err := e.AddPolicies([][]string{{"user:1", "/x", "GET", "allow"}, {"user:1", "/y", "GET", "allow"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.RemovePolicies([][]string{{"user:1", "/x", "GET", "allow"}}); err != nil {
				t.Fatal(err)
			}
			if n := count(t, db, "WHERE v0 = ?", "user:1"); n != 1 {
				t.Fatalf("%d rules of user:1 in the table, want 1", n)
			}
		})
	})
}
