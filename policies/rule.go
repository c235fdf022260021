package policies

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Rule types: a permission (Casbin "p") or a role assignment (Casbin "g").
const (
	Permission = "p"
	Assignment = "g"
)

// Rule is one line of the policy. A permission (Type "p") lets or forbids Subject to do Action on
// the paths that Object matches; an assignment (Type "g") gives Subject the role Role.
type Rule struct {
	Type    string `json:"type"`             // "p" or "g"
	Subject string `json:"subject"`          // user:<id>, client:<id> or role:<name>
	Object  string `json:"object,omitempty"` // p: path pattern (keyMatch2 syntax, anchored)
	Action  string `json:"action,omitempty"` // p: GET, HEAD, POST, PUT, PATCH, DELETE or *
	Effect  string `json:"effect,omitempty"` // p: allow or deny
	Role    string `json:"role,omitempty"`   // g: role:<name>
}

// Allowing is the permission rule that lets sub do act on obj.
func Allowing(sub, obj, act string) Rule {
	return Rule{Type: Permission, Subject: sub, Object: obj, Action: act, Effect: Allow}
}

// Denying is the permission rule that forbids sub to do act on obj; it wins over any allow.
func Denying(sub, obj, act string) Rule {
	return Rule{Type: Permission, Subject: sub, Object: obj, Action: act, Effect: Deny}
}

// Assigning is the assignment of role (role:<name>) to sub.
func Assigning(sub, role string) Rule {
	return Rule{Type: Assignment, Subject: sub, Role: role}
}

// values is the rule as Casbin stores it (v0, v1, …).
func (r Rule) values() []string {
	if r.Type == Assignment {
		return []string{r.Subject, r.Role}
	}
	return []string{r.Subject, r.Object, r.Action, r.Effect}
}

// ruleFrom turns Casbin's ptype and values back into a Rule.
func ruleFrom(ptype string, v []string) (Rule, error) {
	get := func(i int) string {
		if i < len(v) {
			return v[i]
		}
		return ""
	}
	switch ptype {
	case Permission:
		return Rule{Type: Permission, Subject: get(0), Object: get(1), Action: get(2), Effect: get(3)}, nil
	case Assignment:
		return Rule{Type: Assignment, Subject: get(0), Role: get(1)}, nil
	}
	return Rule{}, fmt.Errorf("policies: unknown rule type %q", ptype)
}

// String is the rule as a line of Casbin's CSV format: "p, role:user, /api/v1/todos, GET, allow"
// or "g, user:42, role:admin".
func (r Rule) String() string {
	return r.Type + ", " + strings.Join(r.values(), ", ")
}

// ParseRule parses one line of Casbin's CSV format (see Rule.String). It does not validate the
// fields: Validate does.
func ParseRule(line string) (Rule, error) {
	parts := strings.Split(strings.TrimSpace(line), ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	switch {
	case parts[0] == Permission && len(parts) == 5:
	case parts[0] == Assignment && len(parts) == 3:
	default:
		return Rule{}, fmt.Errorf("policy line %q: want \"p, subject, object, action, effect\" or \"g, subject, role\"", line)
	}
	return ruleFrom(parts[0], parts[1:])
}

// Field limits: long enough for any id and route, short enough for a UNIQUE index.
const (
	maxSubjectLength = 255
	maxObjectLength  = 1024
	maxRoleLength    = 64
)

// Validate checks one rule against the grammar of RB-08: a known type; a namespaced subject
// (user:, client: or role:) whose name has no comma, quote, backslash, space or control byte; for
// a permission an anchored object pattern (see ValidPattern), a known action and allow or deny;
// for an assignment a role:<name> other than the subject. It does not know the rest of the
// policy: Service.Apply checks that roles exist and that an admin remains.
func (r Rule) Validate() error {
	if err := validSubject(r.Subject); err != nil {
		return fmt.Errorf("subject: %w", err)
	}
	switch r.Type {
	case Permission:
		if r.Role != "" {
			return errors.New("role: a permission has no role (use type g to assign one)")
		}
		if err := ValidPattern(r.Object); err != nil {
			return fmt.Errorf("object: %w", err)
		}
		if !slices.Contains(Actions, r.Action) {
			return fmt.Errorf("action %q: want one of %s", r.Action, strings.Join(Actions, " "))
		}
		if r.Effect != Allow && r.Effect != Deny {
			return fmt.Errorf("effect %q: want allow or deny", r.Effect)
		}
	case Assignment:
		if r.Object != "" || r.Action != "" || r.Effect != "" {
			return errors.New("an assignment has only a subject and a role")
		}
		if !strings.HasPrefix(r.Role, RolePrefix) {
			return fmt.Errorf("role %q: want role:<name>", r.Role)
		}
		if err := validRoleName(strings.TrimPrefix(r.Role, RolePrefix)); err != nil {
			return fmt.Errorf("role: %w", err)
		}
		if r.Role == r.Subject {
			return errors.New("a role cannot be assigned to itself")
		}
	default:
		return fmt.Errorf("type %q: want p (permission) or g (role assignment)", r.Type)
	}
	return nil
}

func validSubject(s string) error {
	var name string
	switch {
	case strings.HasPrefix(s, UserPrefix):
		name = strings.TrimPrefix(s, UserPrefix)
	case strings.HasPrefix(s, ClientPrefix):
		name = strings.TrimPrefix(s, ClientPrefix)
	case strings.HasPrefix(s, RolePrefix):
		return validRoleName(strings.TrimPrefix(s, RolePrefix))
	default:
		return fmt.Errorf("%q: want user:<id>, client:<id> or role:<name>", truncate(s))
	}
	if name == "" {
		return fmt.Errorf("%q: the id is empty", s)
	}
	if len(s) > maxSubjectLength {
		return fmt.Errorf("longer than %d bytes", maxSubjectLength)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(",\"'`\\", c) >= 0 {
			return fmt.Errorf("%q: byte %q is not allowed", truncate(s), c)
		}
	}
	return nil
}

func validRoleName(name string) error {
	if name == "" || len(name) > maxRoleLength {
		return fmt.Errorf("role name %q: want 1 to %d characters", truncate(name), maxRoleLength)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("role name %q: only a-z, 0-9, '_' and '-'", truncate(name))
		}
	}
	return nil
}

// ValidPattern checks an object pattern. Casbin's keyMatch2 turns a pattern into a regular
// expression without escaping it, and turns every "/*" into "/.*", so the grammar is narrow:
// the pattern starts with '/', and each segment is a literal of [A-Za-z0-9_~-], or ":name" (one
// segment of any value), or "*" as the last segment after at least one literal ("/api/v1/*":
// anything below /api/v1/, never /api/v1x). No dot, regex metacharacter, comma, quote or
// whitespace can appear, so a pattern never matches more than it reads (RB-02, RB-08).
func ValidPattern(p string) error {
	if p == "" || p[0] != '/' {
		return fmt.Errorf("pattern %q: must start with '/'", truncate(p))
	}
	if len(p) > maxObjectLength {
		return fmt.Errorf("pattern longer than %d bytes", maxObjectLength)
	}
	if p == "/" {
		return nil
	}
	segs := strings.Split(p[1:], "/")
	for i, seg := range segs {
		switch {
		case seg == "":
			return fmt.Errorf("pattern %q: empty segment", truncate(p))
		case seg == "*":
			if i != len(segs)-1 {
				return fmt.Errorf("pattern %q: '*' only as the last segment", truncate(p))
			}
			if i == 0 {
				return fmt.Errorf("pattern %q: a '*' needs a literal segment before it (\"/*\" would match every path)", truncate(p))
			}
		case seg[0] == ':':
			if len(seg) == 1 || !isIdent(seg[1:]) {
				return fmt.Errorf("pattern %q: parameter %q: want :name of letters, digits and '_'", truncate(p), seg)
			}
		default:
			for j := 0; j < len(seg); j++ {
				c := seg[j]
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '~') {
					return fmt.Errorf("pattern %q: segment %q: byte %q is not allowed (literal segments are [A-Za-z0-9_~-])", truncate(p), truncate(seg), c)
				}
			}
		}
	}
	return nil
}

func isIdent(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Change is one atomic batch of rules to add and to remove.
type Change struct {
	Add     []Rule `json:"add,omitempty"`
	Remove  []Rule `json:"remove,omitempty"`
	Comment string `json:"comment,omitempty"`
}

// ErrInvalid is what every *ValidationError matches with errors.Is.
var ErrInvalid = errors.New("policies: invalid change")

// Problem is why one rule of a change (or the change as a whole) was refused.
type Problem struct {
	// List is "add" or "remove", and Index the rule's position in it; Index is -1 for a
	// problem of the change as a whole (such as locking every admin out).
	List   string `json:"list,omitempty"`
	Index  int    `json:"index"`
	Rule   *Rule  `json:"rule,omitempty"`
	Reason string `json:"reason"`
}

// ValidationError lists every problem of a refused change; nothing of the change was saved.
// The admin API answers it with 422 and one error detail per Problem.
type ValidationError struct {
	Problems []Problem
}

// Error lists the problems, each as "add[i] (rule) reason".
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid policy change:")
	for _, p := range e.Problems {
		b.WriteString(" ")
		if p.Index >= 0 {
			b.WriteString(p.List + "[" + strconv.Itoa(p.Index) + "] ")
		}
		if p.Rule != nil {
			b.WriteString("(" + p.Rule.String() + ") ")
		}
		b.WriteString(p.Reason + ";")
	}
	return strings.TrimSuffix(b.String(), ";")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }
