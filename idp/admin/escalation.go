package admin

import (
	"context"
	"fmt"
	"strings"

	"github.com/gatehouse-id/gatehouse/policies"
)

// escalation lists the rules of ch that would let the caller (who) give more than it may do
// itself (RB-08): a caller may grant, or lift a deny on, only what the current policy allows it.
//
//   - an added allow rule: the caller must be allowed the rule's action (each method, for "*")
//     on the rule's object pattern read as a path (":id" and "*" as literal segments, which
//     only a pattern at least as wide as the rule's matches);
//   - an added role assignment: the same for every allow rule the role carries, its inherited
//     roles' included;
//   - a removed deny rule: the same for the rule's object and action;
//   - a removed role assignment: the same for every deny rule the role carries (taking a
//     restricting role away lifts its denies).
//
// Adding denies and removing allows only take access away: they pass (the Service refuses to
// lock the last admin out). A pattern read as a path is checked against the caller's rules as
// the enforcer decides it, so a deny of the caller on a narrower path inside a wider grant does
// not count against the grant: the check bounds what is granted by the caller's own grants.
func (s *Server) escalation(ctx context.Context, who string, ch policies.Change) ([]policies.Problem, error) {
	var allows, denies map[string][]policies.Rule // role → its rules, built on first need
	roles := func(effect string) (map[string][]policies.Rule, error) {
		if allows == nil {
			p, err := s.cfg.Service.List(ctx)
			if err != nil {
				return nil, err
			}
			allows, denies = roleRules(p, policies.Allow), roleRules(p, policies.Deny)
		}
		if effect == policies.Deny {
			return denies, nil
		}
		return allows, nil
	}
	var problems []policies.Problem
	check := func(list string, i int, rule policies.Rule, grants []policies.Rule) {
		for _, g := range grants {
			if reason := s.mayDo(who, g.Object, g.Action); reason != "" {
				rc := rule
				problems = append(problems, policies.Problem{List: list, Index: i, Rule: &rc, Reason: reason})
				return
			}
		}
	}
	for i, r := range ch.Add {
		if r.Validate() != nil {
			continue // the Service refuses it with the reason (422)
		}
		switch {
		case r.Type == policies.Permission && r.Effect == policies.Allow:
			check("add", i, r, []policies.Rule{r})
		case r.Type == policies.Assignment:
			m, err := roles(policies.Allow)
			if err != nil {
				return nil, err
			}
			check("add", i, r, m[r.Role])
		}
	}
	for i, r := range ch.Remove {
		if r.Validate() != nil {
			continue
		}
		switch {
		case r.Type == policies.Permission && r.Effect == policies.Deny:
			check("remove", i, r, []policies.Rule{r})
		case r.Type == policies.Assignment:
			m, err := roles(policies.Deny)
			if err != nil {
				return nil, err
			}
			check("remove", i, r, m[r.Role])
		}
	}
	return problems, nil
}

// mayDo returns why who may not do act (each method, for "*") on the pattern obj, or "".
func (s *Server) mayDo(who, obj, act string) string {
	acts := []string{act}
	if act == policies.AnyAction {
		acts = nil
		for _, a := range policies.Actions {
			if a != policies.AnyAction {
				acts = append(acts, a)
			}
		}
	}
	for _, a := range acts {
		d, err := s.cfg.Authorizer.Check(who, obj, a)
		if err != nil || !d.Allowed {
			return fmt.Sprintf("%s may not %s %s itself, so it may not grant it", who, a, obj)
		}
	}
	return ""
}

// roleRules maps each role to the permission rules of the effect it carries, directly or
// through the roles it inherits (g, role:a, role:b).
func roleRules(p policies.Policy, effect string) map[string][]policies.Rule {
	parents := map[string][]string{}
	for _, a := range p.Assignments {
		if strings.HasPrefix(a.Subject, policies.RolePrefix) {
			parents[a.Subject] = append(parents[a.Subject], a.Role)
		}
	}
	direct := map[string][]policies.Rule{}
	for _, r := range p.Permissions {
		if r.Effect == effect && strings.HasPrefix(r.Subject, policies.RolePrefix) {
			direct[r.Subject] = append(direct[r.Subject], r)
		}
	}
	out := map[string][]policies.Rule{}
	roles := map[string]bool{}
	for r := range direct {
		roles[r] = true
	}
	for r := range parents {
		roles[r] = true
	}
	for role := range roles {
		seen := map[string]bool{role: true}
		queue := []string{role}
		for len(queue) > 0 {
			cur := queue[0]
			queue = queue[1:]
			out[role] = append(out[role], direct[cur]...)
			for _, p := range parents[cur] {
				if !seen[p] {
					seen[p] = true
					queue = append(queue, p)
				}
			}
		}
	}
	return out
}
