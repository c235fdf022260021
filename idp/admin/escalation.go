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
//   - a removed deny rule: the same for the rule's object and action.
//
// Adding denies and removing allows or assignments only take access away: they pass (the
// Service refuses to lock the last admin out).
func (s *Server) escalation(ctx context.Context, who string, ch policies.Change) ([]policies.Problem, error) {
	var roleRules map[string][]policies.Rule // role → its allow rules, built on first need
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
			if roleRules == nil {
				p, err := s.cfg.Service.List(ctx)
				if err != nil {
					return nil, err
				}
				roleRules = rolePermissions(p)
			}
			check("add", i, r, roleRules[r.Role])
		}
	}
	for i, r := range ch.Remove {
		if r.Validate() == nil && r.Type == policies.Permission && r.Effect == policies.Deny {
			check("remove", i, r, []policies.Rule{r})
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

// rolePermissions maps each role to the allow rules it carries, directly or through the roles
// it inherits (g, role:a, role:b).
func rolePermissions(p policies.Policy) map[string][]policies.Rule {
	parents := map[string][]string{}
	for _, a := range p.Assignments {
		if strings.HasPrefix(a.Subject, policies.RolePrefix) {
			parents[a.Subject] = append(parents[a.Subject], a.Role)
		}
	}
	direct := map[string][]policies.Rule{}
	for _, r := range p.Permissions {
		if r.Effect == policies.Allow && strings.HasPrefix(r.Subject, policies.RolePrefix) {
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
