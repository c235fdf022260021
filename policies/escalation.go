package policies

import (
	"errors"
	"fmt"
	"strings"
)

// ErrEscalation is what every *EscalationError matches with errors.Is.
var ErrEscalation = errors.New("policies: the change exceeds what the caller holds")

// EscalationError lists the rules of a change that its caller may not make (see Escalation);
// nothing of the change was saved. The admin API answers it with 403.
type EscalationError struct {
	Caller   string
	Problems []Problem
}

// Error lists the problems like ValidationError.Error.
func (e *EscalationError) Error() string {
	v := &ValidationError{Problems: e.Problems}
	return strings.Replace(v.Error(), "invalid policy change:", "refused policy change by "+e.Caller+":", 1)
}

// Unwrap makes errors.Is(err, ErrEscalation) true.
func (e *EscalationError) Unwrap() error { return ErrEscalation }

// view is a policy organised for the escalation rules.
type view struct {
	perms   map[string][]Rule   // subject → its permission rules
	roles   map[string][]string // subject → roles assigned to it directly
	holders map[string][]string // role → subjects it is assigned to directly
}

func newView(rules []Rule) *view {
	v := &view{perms: map[string][]Rule{}, roles: map[string][]string{}, holders: map[string][]string{}}
	for _, r := range rules {
		switch r.Type {
		case Permission:
			v.perms[r.Subject] = append(v.perms[r.Subject], r)
		case Assignment:
			v.roles[r.Subject] = append(v.roles[r.Subject], r.Role)
			v.holders[r.Role] = append(v.holders[r.Role], r.Subject)
		}
	}
	return v
}

// closure is sub and the roles it reaches, at most depth role steps away (-1: no limit).
func (v *view) closure(sub string, depth int) []string {
	out := []string{sub}
	seen := map[string]bool{sub: true}
	frontier := []string{sub}
	for d := 0; (depth < 0 || d < depth) && len(frontier) > 0; d++ {
		var next []string
		for _, s := range frontier {
			for _, r := range v.roles[s] {
				if !seen[r] {
					seen[r] = true
					out = append(out, r)
					next = append(next, r)
				}
			}
		}
		frontier = next
	}
	return out
}

// rules are the permission rules of effect that sub carries, its roles' (transitively) included.
func (v *view) rules(sub, effect string, depth int) []Rule {
	var out []Rule
	for _, s := range v.closure(sub, depth) {
		for _, r := range v.perms[s] {
			if r.Effect == effect {
				out = append(out, r)
			}
		}
	}
	return out
}

// methods expands an action: "*" is every method.
func methods(act string) []string {
	if act != AnyAction {
		return []string{act}
	}
	var out []string
	for _, a := range Actions {
		if a != AnyAction {
			out = append(out, a)
		}
	}
	return out
}

// caller is what the caller of a change holds: its allows as the enforcer reaches them, and
// all of its denies (a deny further away than the enforcer looks only makes the check stricter).
type caller struct {
	subject string
	allows  []Rule
	denies  []Rule
}

func (v *view) caller(sub string) *caller {
	return &caller{subject: sub, allows: v.rules(sub, Allow, maxRoleDepth), denies: v.rules(sub, Deny, -1)}
}

// holds returns why the caller does not hold everything of (obj, act), or "": for each method,
// some allow of the caller covers obj, and no deny of the caller overlaps it.
func (c *caller) holds(obj, act string) string {
	for _, m := range methods(act) {
		covered := false
		for _, a := range c.allows {
			if (a.Action == AnyAction || a.Action == m) && Covers(a.Object, obj) {
				covered = true
				break
			}
		}
		if !covered {
			return fmt.Sprintf("%s may not %s all of %s itself", c.subject, m, obj)
		}
		for _, d := range c.denies {
			if (d.Action == AnyAction || d.Action == m) && Overlaps(d.Object, obj) {
				return fmt.Sprintf("%s is denied %s on %s (%s), which overlaps %s", c.subject, m, d.Object, d.Subject, obj)
			}
		}
	}
	return ""
}

// Escalation returns the rules of ch (a change of the policy current) that caller may not make:
//
//   - Grants. Adding an allow, lifting a deny (removing it), adding a role assignment (each allow
//     the role carries, its inherited roles' included) or removing one (each deny the role
//     carries) needs the caller to hold what is granted: for the rule's action (each method, for
//     "*"), some allow of the caller (own or inherited) must cover the rule's pattern (Covers),
//     and no deny of the caller (own or inherited) may overlap it (Overlaps). So a ":id" grant
//     never lets a caller grant a "*" tail (F1), and a caller's deny bounds what it delegates
//     (F2).
//   - Take-aways. Removing an allow, removing a role assignment, adding a deny, or assigning a role
//     that carries denies takes rights from the rule's subject and, for a role, from every
//     subject that holds it (directly or through roles). For every such subject other than the
//     caller — the role itself included — the caller must hold everything that subject holds:
//     each of its allows (own or inherited) must pass the grant test above. So a caller can
//     demote or deny only subjects whose rights are a subset of its own, never a more
//     privileged admin (F3); taking away its own rights is always allowed (the Service's lockout
//     check still applies).
//
// Problems name the rule (List "add" or "remove", Index) and why. An invalid rule is skipped:
// validation refuses it.
func Escalation(current []Rule, who string, ch Change) []Problem {
	v := newView(current)
	c := v.caller(who)
	var problems []Problem
	refuse := func(list string, i int, r Rule, reason string) {
		rc := r
		problems = append(problems, Problem{List: list, Index: i, Rule: &rc, Reason: reason})
	}
	// own[s] is why the caller does not hold every allow rule s itself carries ("" if it does).
	own := map[string]string{}
	ownWhy := func(s string) string {
		if w, ok := own[s]; ok {
			return w
		}
		w := ""
		for _, r := range v.perms[s] {
			if r.Effect == Allow {
				if h := c.holds(r.Object, r.Action); h != "" {
					w = fmt.Sprintf("%s holds %s %s, and %s", r.Subject, r.Action, r.Object, h)
					break
				}
			}
		}
		own[s] = w
		return w
	}
	// outranks is why the caller does not hold everything s holds (its roles' included), or "".
	outranks := func(s string) string {
		for _, x := range v.closure(s, -1) {
			if w := ownWhy(x); w != "" {
				if x != s {
					w = s + " holds " + x + ": " + w
				}
				return w
			}
		}
		return ""
	}
	// takeAway checks the subjects that lose rights when sub does.
	takeAway := func(list string, i int, r Rule, sub string) {
		seen := map[string]bool{}
		queue := []string{sub}
		for len(queue) > 0 {
			s := queue[0]
			queue = queue[1:]
			if seen[s] {
				continue
			}
			seen[s] = true
			queue = append(queue, v.holders[s]...)
			if s == who {
				continue
			}
			if w := outranks(s); w != "" {
				refuse(list, i, r, w+", so "+who+" may not take rights away from "+s)
				return
			}
		}
	}
	grant := func(list string, i int, r Rule, granted []Rule) bool {
		for _, g := range granted {
			if why := c.holds(g.Object, g.Action); why != "" {
				refuse(list, i, r, why+", so it may not grant it")
				return false
			}
		}
		return true
	}
	for i, r := range ch.Add {
		if r.Validate() != nil {
			continue
		}
		switch {
		case r.Type == Permission && r.Effect == Allow:
			grant("add", i, r, []Rule{r})
		case r.Type == Permission && r.Effect == Deny:
			takeAway("add", i, r, r.Subject)
		case r.Type == Assignment:
			if grant("add", i, r, v.rules(r.Role, Allow, -1)) && len(v.rules(r.Role, Deny, -1)) > 0 {
				takeAway("add", i, r, r.Subject)
			}
		}
	}
	for i, r := range ch.Remove {
		if r.Validate() != nil {
			continue
		}
		switch {
		case r.Type == Permission && r.Effect == Deny:
			grant("remove", i, r, []Rule{r})
		case r.Type == Permission && r.Effect == Allow:
			takeAway("remove", i, r, r.Subject)
		case r.Type == Assignment:
			if grant("remove", i, r, v.rules(r.Role, Deny, -1)) {
				takeAway("remove", i, r, r.Subject)
			}
		}
	}
	return problems
}
