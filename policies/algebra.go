package policies

// Pattern algebra: how two object patterns of the ValidPattern grammar relate, decided on the
// patterns themselves (never on a pattern rendered as a path, where ":id" and "*" would be read
// as literal segments). The escalation rules (escalation.go) are built on it.
//
// A pattern is a list of segments — a literal, or ":name" (exactly one non-empty segment) — and
// optionally a last "*" (one or more further segments). "/" matches only "/".

// Covers reports whether every canonical path that q matches is also matched by p (p ⊒ q),
// segment by segment: a literal is covered by the same literal or by a ":name"; a ":name" only
// by a ":name"; a "*" tail only by a "*" tail at the same or a shorter depth. Both must be valid
// patterns (ValidPattern); an invalid one covers and is covered by nothing.
func Covers(p, q string) bool {
	if ValidPattern(p) != nil || ValidPattern(q) != nil {
		return false
	}
	pp, qp := compilePattern(p), compilePattern(q)
	if pp.root || qp.root {
		return pp.root && qp.root
	}
	if pp.wildcard {
		// q's paths must all have more than len(pp.segs) segments: a "*" tail at depth ≥ p's,
		// or a fixed length beyond it.
		if qp.wildcard && len(qp.segs) < len(pp.segs) || !qp.wildcard && len(qp.segs) <= len(pp.segs) {
			return false
		}
	} else if qp.wildcard || len(qp.segs) != len(pp.segs) {
		return false
	}
	for i, s := range pp.segs {
		if s != "" && s != qp.segs[i] { // a literal covers only the same literal
			return false
		}
	}
	return true
}

// Overlaps reports whether some canonical path is matched by both p and q. Both must be valid
// patterns (ValidPattern); an invalid one is treated as overlapping everything (the safe answer
// when a deny is tested against a grant).
func Overlaps(p, q string) bool {
	if ValidPattern(p) != nil || ValidPattern(q) != nil {
		return true
	}
	pp, qp := compilePattern(p), compilePattern(q)
	if pp.root || qp.root {
		return pp.root && qp.root
	}
	// The depths each accepts: exactly len(segs), or len(segs)+1 and more with a "*" tail.
	lp, lq := len(pp.segs), len(qp.segs)
	switch {
	case !pp.wildcard && !qp.wildcard:
		if lp != lq {
			return false
		}
	case !pp.wildcard:
		if lp <= lq {
			return false
		}
	case !qp.wildcard:
		if lq <= lp {
			return false
		}
	}
	// Where both fix a segment, two different literals never meet; a ":name" meets anything.
	for i := 0; i < min(lp, lq); i++ {
		a, b := pp.segs[i], qp.segs[i]
		if a != "" && b != "" && a != b {
			return false
		}
	}
	return true
}
