package policies

import (
	"strings"
)

// maxRoleDepth is how many role-to-role steps are followed, as Casbin's default role manager does.
const maxRoleDepth = 10

// index decides requests exactly as model.conf does, without Casbin's linear scan: permission
// rules are grouped by subject, so a request looks only at the rules of its subject and of the
// subject's roles, and patterns are matched segment by segment instead of through a regular
// expression. It relies on the grammar ValidPattern enforces (literal segments, ":name", a last
// "*"), under which keyMatch2 means exactly this segment matching. TestIndexAgreesWithCasbin
// compares both on generated policies and requests.
type index struct {
	bySubject map[string]*subjectRules
	roles     map[string][]string // subject → roles assigned to it directly
}

// subjectRules are one subject's permission rules by action ("*" under AnyAction).
type subjectRules struct {
	byAction map[string][]indexed
}

type indexed struct {
	rule Rule
	pat  pattern
}

// pattern is a compiled object pattern: segments, of which "" is a ":name" parameter, and
// whether a last "*" follows them.
type pattern struct {
	prefix   string // the literal start, up to the first parameter: a quick necessary test
	root     bool
	segs     []string
	wildcard bool
}

func compilePattern(p string) pattern {
	if p == "/" {
		return pattern{root: true}
	}
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	pat := pattern{}
	if segs[len(segs)-1] == "*" {
		pat.wildcard = true
		segs = segs[:len(segs)-1]
	}
	literal := true
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			segs[i] = ""
			literal = false
		} else if literal {
			pat.prefix += "/" + s
		}
	}
	pat.segs = segs
	return pat
}

// match reports whether the canonical path obj matches: keyMatch2's "^pattern$" with ":name"
// as "[^/]+" and a last "/*" as "/.*".
func (p pattern) match(obj string) bool {
	if p.root {
		return obj == "/"
	}
	if !strings.HasPrefix(obj, p.prefix) {
		return false
	}
	rest := obj
	for _, seg := range p.segs {
		if len(rest) == 0 || rest[0] != '/' {
			return false
		}
		rest = rest[1:]
		end := strings.IndexByte(rest, '/')
		if end < 0 {
			end = len(rest)
		}
		got := rest[:end]
		if seg == "" {
			if got == "" {
				return false
			}
		} else if got != seg {
			return false
		}
		rest = rest[end:]
	}
	if p.wildcard {
		return len(rest) > 0 && rest[0] == '/'
	}
	return rest == ""
}

func newIndex(rules []Rule) *index {
	ix := &index{bySubject: map[string]*subjectRules{}, roles: map[string][]string{}}
	for _, r := range rules {
		switch r.Type {
		case Permission:
			sr := ix.bySubject[r.Subject]
			if sr == nil {
				sr = &subjectRules{byAction: map[string][]indexed{}}
				ix.bySubject[r.Subject] = sr
			}
			sr.byAction[r.Action] = append(sr.byAction[r.Action], indexed{rule: r, pat: compilePattern(r.Object)})
		case Assignment:
			ix.roles[r.Subject] = append(ix.roles[r.Subject], r.Role)
		}
	}
	return ix
}

// decide applies the model: some matching allow and no matching deny. It returns the deciding
// rule: the first matching deny, else the first matching allow, else nil.
func (ix *index) decide(sub, obj, act string) (bool, *Rule) {
	var allow *Rule
	scan := func(rules []indexed) *Rule {
		for i := range rules {
			r := &rules[i]
			if r.pat.match(obj) {
				if r.rule.Effect == Deny {
					return &r.rule
				}
				if allow == nil {
					allow = &r.rule
				}
			}
		}
		return nil
	}
	visit := func(s string) *Rule {
		sr := ix.bySubject[s]
		if sr == nil {
			return nil
		}
		if d := scan(sr.byAction[act]); d != nil {
			return d
		}
		return scan(sr.byAction[AnyAction])
	}
	if d := visit(sub); d != nil {
		return false, d
	}
	// Breadth-first over the roles, each once, up to maxRoleDepth steps.
	frontier := ix.roles[sub]
	if len(frontier) == 0 {
		return allow != nil, allow
	}
	seen := map[string]bool{sub: true}
	for depth := 0; depth < maxRoleDepth && len(frontier) > 0; depth++ {
		var next []string
		for _, role := range frontier {
			if seen[role] {
				continue
			}
			seen[role] = true
			if d := visit(role); d != nil {
				return false, d
			}
			next = append(next, ix.roles[role]...)
		}
		frontier = next
	}
	return allow != nil, allow
}
