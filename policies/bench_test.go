package policies_test

import (
	"fmt"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/policies"
)

// benchPolicy is 10,000 permission rules over 100 roles and 1,000 users with one role each.
func benchPolicy() []policies.Rule {
	var rules []policies.Rule
	for r := range 100 {
		role := fmt.Sprintf("role:r%d", r)
		for j := range 100 {
			obj := fmt.Sprintf("/api/v1/r%d/o%d/:id", r, j)
			if j%10 == 0 {
				obj = fmt.Sprintf("/api/v1/r%d/o%d/*", r, j)
			}
			rules = append(rules, policies.Allowing(role, obj, []string{"GET", "POST", "PUT", "DELETE"}[j%4]))
		}
	}
	for u := range 1000 {
		rules = append(rules, policies.Assigning(fmt.Sprintf("user:%d", u), fmt.Sprintf("role:r%d", u%100)))
	}
	return rules
}

// BenchmarkEnforce decides requests of 1,000 users against 10,000 rules (plus the default policy).
func BenchmarkEnforce(b *testing.B) {
	db := dbtest.NewSQLite(b)
	if _, err := policies.NewService(db, nil).Apply(b.Context(), "bench", policies.Change{Add: benchPolicy()}); err != nil {
		b.Fatal(err)
	}
	e, err := policies.NewEnforcer(b.Context(), db)
	if err != nil {
		b.Fatal(err)
	}
	type req struct{ sub, obj, act string }
	var reqs []req
	for u := range 1000 {
		r := u % 100
		reqs = append(reqs,
			req{fmt.Sprintf("user:%d", u), fmt.Sprintf("/api/v1/r%d/o%d/42", r, 1), "POST"},         // allowed
			req{fmt.Sprintf("user:%d", u), fmt.Sprintf("/api/v1/r%d/o%d/42", (r+1)%100, 1), "POST"}, // denied
		)
	}
	if ok, _ := e.Enforce(reqs[0].sub, reqs[0].obj, reqs[0].act); !ok {
		b.Fatal("the allowed request is denied")
	}
	if ok, _ := e.Enforce(reqs[1].sub, reqs[1].obj, reqs[1].act); ok {
		b.Fatal("the denied request is allowed")
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		q := reqs[i%len(reqs)]
		i++
		if _, err := e.Check(q.sub, q.obj, q.act); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReload is what an enforcer does on a new revision at 11,014 rules: read the rules and
// build the index, on SQLite and (when configured) PostgreSQL.
func BenchmarkReload(b *testing.B) {
	for name, newDB := range map[string]func(testing.TB) *database.DB{"sqlite": dbtest.NewSQLite, "postgres": dbtest.NewPostgres} {
		b.Run(name, func(b *testing.B) {
			db := newDB(b)
			if _, err := policies.NewService(db, nil).Apply(b.Context(), "bench", policies.Change{Add: benchPolicy()}); err != nil {
				b.Fatal(err)
			}
			e, err := policies.NewEnforcer(b.Context(), db)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := e.Reload(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkApply is one admin change (an assignment, with the lockout check) at 11,014 rules.
func BenchmarkApply(b *testing.B) {
	db := dbtest.NewSQLite(b)
	s := policies.NewService(db, nil)
	if _, err := s.Apply(b.Context(), "bench", policies.Change{Add: append(benchPolicy(), policies.Assigning("user:root", "role:admin"))}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		ch := policies.Change{Add: []policies.Rule{policies.Assigning(fmt.Sprintf("user:x%d", i), "role:r1")}}
		if i%2 == 1 {
			ch = policies.Change{Remove: []policies.Rule{policies.Assigning(fmt.Sprintf("user:x%d", i-1), "role:r1")}}
		}
		i++
		if _, err := s.Apply(b.Context(), "bench", ch); err != nil {
			b.Fatal(err)
		}
	}
}
