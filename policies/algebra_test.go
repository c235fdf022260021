package policies

import (
	"strings"
	"testing"

	"github.com/casbin/casbin/v2/util"
)

// TestCoversOverlaps_F1_RB08 is the pattern algebra's table: ":x" never covers a "*" tail
// (F1), a "*" tail covers only deeper or equal tails, literals and params; a narrower deny
// overlaps a wider grant (F2).
func TestCoversOverlaps_F1_RB08(t *testing.T) {
	for _, tc := range []struct {
		p, q           string
		covers, overlp bool
	}{
		{"/api/v1/:collection", "/api/v1/*", false, true}, // F1
		{"/api/v1/*", "/api/v1/:collection", true, true},
		{"/api/v1/*", "/api/v1/*", true, true},
		{"/api/v1/*", "/api/v1/todos/*", true, true},
		{"/api/v1/todos/*", "/api/v1/*", false, true},
		{"/api/v1/*", "/api/v1", false, false},
		{"/api/v1", "/api/v1", true, true},
		{"/api/v1/:id", "/api/v1/todos", true, true},
		{"/api/v1/todos", "/api/v1/:id", false, true},
		{"/api/v1/:a", "/api/v1/:b", true, true},
		{"/api/v1/todos", "/api/v1/cats", false, false},
		{"/api/v1/admin/todos", "/api/v1/*", false, true}, // F2: a deny inside a wider grant
		{"/admin/v1/:x", "/admin/v1/*", false, true},
		{"/a/:x/c", "/a/b/:y", false, true},
		{"/a/:x/c", "/a/b/d", false, false},
		{"/a/*", "/b/*", false, false},
		{"/a/b/*", "/a/:x", false, false},
		{"/a/:x/*", "/a/b/c", true, true},
		{"/", "/", true, true},
		{"/", "/a", false, false},
		{"/a/*", "/", false, false},
		{"/a", "bad", false, true},
	} {
		if got := Covers(tc.p, tc.q); got != tc.covers {
			t.Errorf("Covers(%q, %q) = %v, want %v", tc.p, tc.q, got, tc.covers)
		}
		if got := Overlaps(tc.p, tc.q); got != tc.overlp {
			t.Errorf("Overlaps(%q, %q) = %v, want %v", tc.p, tc.q, got, tc.overlp)
		}
		if tc.p != "bad" && tc.q != "bad" && Overlaps(tc.q, tc.p) != tc.overlp {
			t.Errorf("Overlaps is not symmetric on %q, %q", tc.p, tc.q)
		}
	}
}

// TestPatternAlgebraExhaustive_F1_F2_RB08 decides Covers and Overlaps by brute force on every
// pattern of up to three segments over {a, b, :p} with or without a "*" tail, against every
// path of up to five segments over {a, b, c} ("c" is a value no pattern names, five is deeper
// than any pattern plus its tail needs): Covers(P, Q) exactly when every path matching Q
// matches P, Overlaps(P, Q) exactly when some path matches both, with the index's matcher.
func TestPatternAlgebraExhaustive_F1_F2_RB08(t *testing.T) {
	var pats []string
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		if prefix != "" {
			pats = append(pats, prefix, prefix+"/*")
		}
		if n == 3 {
			return
		}
		for _, s := range []string{"a", "b", ":p"} {
			if prefix == "" && s == ":p" {
				gen("/:p", n+1) // still valid: only "/*" alone is refused
				continue
			}
			gen(prefix+"/"+s, n+1)
		}
	}
	gen("", 0)
	pats = append(pats, "/")
	var paths []string
	var walk func(prefix string, n int)
	walk = func(prefix string, n int) {
		if prefix != "" {
			paths = append(paths, prefix)
		}
		if n == 5 {
			return
		}
		for _, s := range []string{"a", "b", "c"} {
			walk(prefix+"/"+s, n+1)
		}
	}
	walk("", 0)
	paths = append(paths, "/")
	valid := pats[:0]
	for _, p := range pats {
		if ValidPattern(p) == nil {
			valid = append(valid, p)
		}
	}
	matches := map[string][]bool{}
	for _, p := range valid {
		cp := compilePattern(p)
		m := make([]bool, len(paths))
		for i, path := range paths {
			m[i] = cp.match(path)
			if m[i] != util.KeyMatch2(path, p) {
				t.Fatalf("matcher and keyMatch2 disagree on %q %q", p, path)
			}
		}
		matches[p] = m
	}
	for _, p := range valid {
		for _, q := range valid {
			covers, overlaps := true, false
			for i := range paths {
				if matches[q][i] && !matches[p][i] {
					covers = false
				}
				if matches[q][i] && matches[p][i] {
					overlaps = true
				}
			}
			if got := Covers(p, q); got != covers {
				t.Errorf("Covers(%q, %q) = %v, brute force %v", p, q, got, covers)
			}
			if got := Overlaps(p, q); got != overlaps {
				t.Errorf("Overlaps(%q, %q) = %v, brute force %v", p, q, got, overlaps)
			}
		}
	}
	t.Logf("%d patterns × %d paths", len(valid), len(paths))
}

// FuzzPatternAlgebra_F1_F2_RB08: for valid patterns P, Q and a canonical path x: if Covers(P,
// Q) and Q matches x then P matches x; if !Overlaps(P, Q) then not both match x.
func FuzzPatternAlgebra_F1_F2_RB08(f *testing.F) {
	f.Add("/api/v1/:c", "/api/v1/*", "/api/v1/admin/todos")
	f.Add("/api/v1/*", "/api/v1/admin/todos", "/api/v1/admin/todos")
	f.Add("/a/:x/*", "/a/b/c", "/a/b/c")
	f.Fuzz(func(t *testing.T, p, q, x string) {
		if ValidPattern(p) != nil || ValidPattern(q) != nil {
			return
		}
		if _, err := CanonicalPath(x); err != nil || strings.Count(x, "/") > 64 {
			return
		}
		mp, mq := compilePattern(p).match(x), compilePattern(q).match(x)
		if Covers(p, q) && mq && !mp {
			t.Fatalf("Covers(%q, %q) but %q matches only the second", p, q, x)
		}
		if !Overlaps(p, q) && mp && mq {
			t.Fatalf("!Overlaps(%q, %q) but %q matches both", p, q, x)
		}
	})
}
