package policies

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/casbin/casbin/v2/util"
)

// TestIndexAgreesWithCasbin compares the index with Casbin's own enforcer (model.conf) on
// generated policies — allows and denies on users and roles, role hierarchies, literal, ":name"
// and "*" patterns, every action — and generated canonical requests.
func TestIndexAgreesWithCasbin(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	segs := []string{"api", "v1", "todos", "admin", "a", "b", "todosAdmin"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	subjects := []string{"user:1", "user:2", "user:3", "client:c", "role:a", "role:b", "role:c"}
	roles := []string{"role:a", "role:b", "role:c"}
	acts := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}
	for round := range 200 {
		var rules []Rule
		for range 1 + rng.IntN(30) {
			var p strings.Builder
			n := 1 + rng.IntN(4)
			for i := range n {
				switch x := rng.IntN(10); {
				case x == 0 && i == n-1 && i > 0:
					p.WriteString("/*")
				case x <= 2 && i > 0:
					p.WriteString("/:id")
				default:
					p.WriteString("/" + pick(segs))
				}
			}
			act := pick(append(acts, AnyAction))
			eft := Allow
			if rng.IntN(4) == 0 {
				eft = Deny
			}
			rules = append(rules, Rule{Type: Permission, Subject: pick(subjects), Object: p.String(), Action: act, Effect: eft})
		}
		for range rng.IntN(6) {
			sub, role := pick(subjects), pick(roles)
			if sub != role {
				rules = append(rules, Assigning(sub, role))
			}
		}
		seen := map[string]bool{}
		var uniq []Rule
		for _, r := range rules {
			if err := r.Validate(); err != nil {
				t.Fatalf("generated an invalid rule %v: %v", r, err)
			}
			if !seen[ruleKey(r)] {
				seen[ruleKey(r)] = true
				uniq = append(uniq, r)
			}
		}
		ce, err := newCasbin(uniq)
		if err != nil {
			t.Fatal(err)
		}
		ix := newIndex(uniq)
		for range 200 {
			var p strings.Builder
			for range 1 + rng.IntN(5) {
				p.WriteString("/" + pick(append(segs, "42", "x-y")))
			}
			sub, obj, act := pick(subjects[:4]), p.String(), pick(acts)
			want, err := ce.Enforce(sub, obj, act)
			if err != nil {
				t.Fatal(err)
			}
			got, rule := ix.decide(sub, obj, act)
			if got != want {
				t.Fatalf("round %d: %s %s %s: index %v (rule %v), casbin %v; policy:\n%s", round, sub, act, obj, got, rule, want, dump(uniq))
			}
			if got && (rule == nil || rule.Effect != Allow) || !got && rule != nil && rule.Effect != Deny {
				t.Fatalf("round %d: %s %s %s: decision %v with rule %v", round, sub, act, obj, got, rule)
			}
		}
	}
}

func dump(rules []Rule) string {
	var b strings.Builder
	for _, r := range rules {
		fmt.Fprintln(&b, r)
	}
	return b.String()
}

// FuzzPatternMatch: on valid patterns and canonical paths, the index's matcher is keyMatch2.
func FuzzPatternMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"/api/v1/todos/*", "/api/v1/todosAdmin"}, {"/api/v1/todos/*", "/api/v1/todos/1/2"},
		{"/api/v1/todos/:id", "/api/v1/todos/1"}, {"/a/:x/b/*", "/a/1/b/c"}, {"/", "/"}, {"/a", "/a/b"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pat, path string) {
		if ValidPattern(pat) != nil {
			return
		}
		if _, err := CanonicalPath(path); err != nil {
			return
		}
		if got, want := compilePattern(pat).match(path), util.KeyMatch2(path, pat); got != want {
			t.Fatalf("match(%q, %q) = %v, keyMatch2 = %v", pat, path, got, want)
		}
	})
}

// BenchmarkCasbinReference is Casbin's own enforcer on the policy of BenchmarkEnforce, for
// comparison with the index.
func BenchmarkCasbinReference(b *testing.B) {
	ce, err := newCasbin(benchRules())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		u := i % 1000
		i++
		if _, err := ce.Enforce(fmt.Sprintf("user:%d", u), fmt.Sprintf("/api/v1/r%d/o1/42", u%100), "POST"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuild is the in-memory part of a reload at 10,000 rules: the index, and Casbin's
// enforcer (which only dry runs and the tests build).
func BenchmarkBuild(b *testing.B) {
	rules := benchRules()
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			newIndex(rules)
		}
	})
	b.Run("casbin", func(b *testing.B) {
		for b.Loop() {
			if _, err := newCasbin(rules); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchRules is the policy of BenchmarkEnforce (bench_test.go): 10,000 permissions over 100
// roles, 1,000 users with one role each.
func benchRules() []Rule {
	var rules []Rule
	for r := range 100 {
		role := fmt.Sprintf("role:r%d", r)
		for j := range 100 {
			obj := fmt.Sprintf("/api/v1/r%d/o%d/:id", r, j)
			if j%10 == 0 {
				obj = fmt.Sprintf("/api/v1/r%d/o%d/*", r, j)
			}
			rules = append(rules, Allowing(role, obj, []string{"GET", "POST", "PUT", "DELETE"}[j%4]))
		}
	}
	for u := range 1000 {
		rules = append(rules, Assigning(fmt.Sprintf("user:%d", u), fmt.Sprintf("role:r%d", u%100)))
	}
	return rules
}
