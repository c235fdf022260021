package policies

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-id/gatehouse/internal/database"
)

// Errors of the Service besides *ValidationError.
var (
	// ErrNotFound: no such revision.
	ErrNotFound = errors.New("policies: not found")
	// ErrNoChange: a restore or import would not change the policy, so no revision was made.
	ErrNoChange = errors.New("policies: the policy already is as asked")
)

// AdminProbes are the requests that make a user an admin for the lockout check: reading and
// changing the policy and the roles through the admin API (idp/admin). A change that would leave
// no user allowed all of them, when some user was before, is refused.
var AdminProbes = [][2]string{
	{"/admin/v1/policies", "GET"}, {"/admin/v1/policies", "POST"},
	{"/admin/v1/roles", "GET"}, {"/admin/v1/roles", "POST"},
}

// Revision is one change of the policy: who made it, when, why, and what it added and removed.
type Revision struct {
	Number       int64     `json:"revision"`
	Actor        string    `json:"actor"`
	Time         time.Time `json:"time"`
	Comment      string    `json:"comment,omitempty"`
	Added        []Rule    `json:"added"`
	Removed      []Rule    `json:"removed"`
	RestoredFrom int64     `json:"restored_from,omitempty"`
}

// Policy is the whole policy at one revision.
type Policy struct {
	Revision    int64  `json:"revision"`
	Permissions []Rule `json:"permissions"` // type p
	Assignments []Rule `json:"assignments"` // type g
}

// Service is the policy admin service (no HTTP): it lists, changes, checks, versions and
// restores the policy in the database. Every change is validated first and saved as one atomic
// revision; changes are serialized (PostgreSQL advisory transaction lock, SQLite's immediate
// transactions), so concurrent admins never lose each other's rules. On PostgreSQL a change
// notifies Channel with its revision in the same transaction (delivered at commit); functions
// given to Subscribe are called after each commit of this process.
type Service struct {
	db  *database.DB
	log *slog.Logger

	mu   sync.Mutex
	subs []func(ctx context.Context, rev int64) error
	enf  *Enforcer // for Check, created on first use
}

// NewService returns the service on db, whose policies migrations are applied.
func NewService(db *database.DB, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{db: db, log: log}
}

// Subscribe calls fn with the new revision after every change this service commits, such as
// (*Enforcer).Refresh of the enforcers in the same process (how SQLite propagates).
func (s *Service) Subscribe(fn func(ctx context.Context, rev int64) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs = append(s.subs, fn)
}

// List returns the current policy.
func (s *Service) List(ctx context.Context) (Policy, error) {
	rules, rev, err := loadRules(ctx, s.db)
	if err != nil {
		return Policy{}, err
	}
	p := Policy{Revision: rev, Permissions: []Rule{}, Assignments: []Rule{}}
	for _, r := range rules {
		if r.Type == Assignment {
			p.Assignments = append(p.Assignments, r)
		} else {
			p.Permissions = append(p.Permissions, r)
		}
	}
	return p, nil
}

// Check is a dry run: whether sub may do act on obj under the current policy, and which rule
// decided (see Enforcer.Check); sub may also be a role.
func (s *Service) Check(ctx context.Context, sub, obj, act string) (Decision, error) {
	s.mu.Lock()
	enf := s.enf
	s.mu.Unlock()
	if enf == nil {
		e, err := NewEnforcer(ctx, s.db, WithLogger(s.log), withReference())
		if err != nil {
			return Decision{}, err
		}
		s.mu.Lock()
		if s.enf == nil {
			s.enf = e
		}
		enf = s.enf
		s.mu.Unlock()
	}
	if err := enf.Refresh(ctx, 0); err != nil {
		return Decision{}, err
	}
	return enf.checkRole(sub, obj, act)
}

// Apply validates ch against the current policy and saves it as one new revision by actor (such
// as "user:<id>" or "cli:<os user>"). Rules to add must be absent and rules to remove present. If
// anything is wrong, nothing is saved and the error is a *ValidationError naming each rule and
// why (errors.Is(err, ErrInvalid)).
func (s *Service) Apply(ctx context.Context, actor string, ch Change) (Revision, error) {
	if len(ch.Add) == 0 && len(ch.Remove) == 0 {
		return Revision{}, &ValidationError{Problems: []Problem{{Index: -1, Reason: "the change adds and removes nothing"}}}
	}
	return s.commit(ctx, actor, false, ch.Comment, 0, func(sqlx.ExtContext, []Rule) (Change, error) { return ch, nil })
}

// ApplyAs is Apply by a caller who may change only what it holds (the admin API): in the same
// locked transaction as the write, after validation, the change is checked against the policy it
// changes (Escalation); a refused change is an *EscalationError (errors.Is(err, ErrEscalation))
// and nothing is saved. caller is the revision's actor.
func (s *Service) ApplyAs(ctx context.Context, caller string, ch Change) (Revision, error) {
	if len(ch.Add) == 0 && len(ch.Remove) == 0 {
		return Revision{}, &ValidationError{Problems: []Problem{{Index: -1, Reason: "the change adds and removes nothing"}}}
	}
	return s.commit(ctx, caller, true, ch.Comment, 0, func(sqlx.ExtContext, []Rule) (Change, error) { return ch, nil })
}

// Assign gives subject (user:<id> or client:<id>) the role (role:<name>).
func (s *Service) Assign(ctx context.Context, actor, subject, role, comment string) (Revision, error) {
	return s.Apply(ctx, actor, Change{Add: []Rule{Assigning(subject, role)}, Comment: comment})
}

// Unassign takes the role away from subject.
func (s *Service) Unassign(ctx context.Context, actor, subject, role, comment string) (Revision, error) {
	return s.Apply(ctx, actor, Change{Remove: []Rule{Assigning(subject, role)}, Comment: comment})
}

// Restore makes the policy what it was at revision rev, as a new revision (RestoredFrom rev),
// validated like any change. ErrNotFound: no such revision; ErrNoChange: nothing to restore.
func (s *Service) Restore(ctx context.Context, actor string, rev int64, comment string) (Revision, error) {
	return s.restore(ctx, actor, false, rev, comment)
}

// RestoreAs is Restore by a caller who may change only what it holds: the restoring change,
// computed under the revision lock, is checked like ApplyAs's.
func (s *Service) RestoreAs(ctx context.Context, caller string, rev int64, comment string) (Revision, error) {
	return s.restore(ctx, caller, true, rev, comment)
}

func (s *Service) restore(ctx context.Context, actor string, guarded bool, rev int64, comment string) (Revision, error) {
	if comment == "" {
		comment = fmt.Sprintf("restore of revision %d", rev)
	}
	return s.commit(ctx, actor, guarded, comment, rev, func(x sqlx.ExtContext, current []Rule) (Change, error) {
		target, err := s.rulesAt(ctx, x, rev)
		if err != nil {
			return Change{}, err
		}
		return diff(current, target), nil
	})
}

// Import makes the policy the rules of r, Casbin's CSV format ("p, sub, obj, act, eft" and
// "g, sub, role" lines; blank lines and '#' comments are skipped), as one new revision.
func (s *Service) Import(ctx context.Context, actor string, r io.Reader, comment string) (Revision, error) {
	target, err := ReadCSV(r)
	if err != nil {
		return Revision{}, err
	}
	if comment == "" {
		comment = "import"
	}
	return s.commit(ctx, actor, false, comment, 0, func(_ sqlx.ExtContext, current []Rule) (Change, error) {
		return diff(current, target), nil
	})
}

// Export writes the current policy in Casbin's CSV format and returns its revision.
func (s *Service) Export(ctx context.Context, w io.Writer) (int64, error) {
	rules, rev, err := loadRules(ctx, s.db)
	if err != nil {
		return 0, err
	}
	return rev, WriteCSV(w, rev, rules)
}

// WriteCSV writes rules as Casbin CSV lines after a comment naming the revision.
func WriteCSV(w io.Writer, rev int64, rules []Rule) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# gatehouse policy, revision %d\n", rev)
	for _, r := range rules {
		bw.WriteString(r.String() + "\n")
	}
	return bw.Flush()
}

// ReadCSV reads Casbin CSV lines; every line must parse and pass Rule.Validate, or the error is a
// *ValidationError whose problems name the lines (List "line", Index the line number). A rule
// listed twice is read once.
func ReadCSV(r io.Reader) ([]Rule, error) {
	var rules []Rule
	seen := map[string]bool{}
	var problems []Problem
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rule, err := ParseRule(line)
		if err == nil {
			err = rule.Validate()
		}
		if err != nil {
			problems = append(problems, Problem{List: "line", Index: n, Reason: err.Error()})
			continue
		}
		if k := ruleKey(rule); !seen[k] {
			seen[k] = true
			rules = append(rules, rule)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read policy CSV: %w", err)
	}
	if len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	return rules, nil
}

// diff is the change that turns current into target.
func diff(current, target []Rule) Change {
	in := func(rules []Rule) map[string]bool {
		m := make(map[string]bool, len(rules))
		for _, r := range rules {
			m[ruleKey(r)] = true
		}
		return m
	}
	cur, tgt := in(current), in(target)
	var ch Change
	for _, r := range current {
		if !tgt[ruleKey(r)] {
			ch.Remove = append(ch.Remove, r)
		}
	}
	for _, r := range target {
		if !cur[ruleKey(r)] {
			ch.Add = append(ch.Add, r)
		}
	}
	return ch
}

// Revisions lists revisions, newest first: at most limit (1 to 1000; other values mean 100) with
// a number below before (0: from the newest).
func (s *Service) Revisions(ctx context.Context, limit int, before int64) ([]Revision, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	q := "SELECT id, actor, created_at, comment, added, removed, restored_from FROM policy_revisions"
	args := []any{}
	if before > 0 {
		q += " WHERE id < ?"
		args = append(args, before)
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)
	return s.selectRevisions(ctx, s.db, q, args...)
}

// GetRevision returns one revision, or ErrNotFound.
func (s *Service) GetRevision(ctx context.Context, rev int64) (Revision, error) {
	revs, err := s.selectRevisions(ctx, s.db, "SELECT id, actor, created_at, comment, added, removed, restored_from FROM policy_revisions WHERE id = ?", rev)
	if err != nil {
		return Revision{}, err
	}
	if len(revs) == 0 {
		return Revision{}, fmt.Errorf("revision %d: %w", rev, ErrNotFound)
	}
	return revs[0], nil
}

type revisionRow struct {
	ID           int64  `db:"id"`
	Actor        string `db:"actor"`
	CreatedAt    int64  `db:"created_at"`
	Comment      string `db:"comment"`
	Added        string `db:"added"`
	Removed      string `db:"removed"`
	RestoredFrom *int64 `db:"restored_from"`
}

func (s *Service) selectRevisions(ctx context.Context, x sqlx.ExtContext, q string, args ...any) ([]Revision, error) {
	var rows []revisionRow
	if err := sqlx.SelectContext(ctx, x, &rows, x.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("list policy revisions: %w", err)
	}
	out := make([]Revision, 0, len(rows))
	for _, r := range rows {
		rev := Revision{Number: r.ID, Actor: r.Actor, Time: time.UnixMilli(r.CreatedAt).UTC(), Comment: r.Comment}
		if r.RestoredFrom != nil {
			rev.RestoredFrom = *r.RestoredFrom
		}
		if err := json.Unmarshal([]byte(r.Added), &rev.Added); err != nil {
			return nil, fmt.Errorf("revision %d: added: %w", r.ID, err)
		}
		if err := json.Unmarshal([]byte(r.Removed), &rev.Removed); err != nil {
			return nil, fmt.Errorf("revision %d: removed: %w", r.ID, err)
		}
		out = append(out, rev)
	}
	return out, nil
}

// rulesAt rebuilds the policy of revision rev by replaying revisions 1..rev.
func (s *Service) rulesAt(ctx context.Context, x sqlx.ExtContext, rev int64) ([]Rule, error) {
	revs, err := s.selectRevisions(ctx, x, "SELECT id, actor, created_at, comment, added, removed, restored_from FROM policy_revisions WHERE id <= ? ORDER BY id", rev)
	if err != nil {
		return nil, err
	}
	if len(revs) == 0 || revs[len(revs)-1].Number != rev {
		return nil, fmt.Errorf("revision %d: %w", rev, ErrNotFound)
	}
	var order []string
	set := map[string]Rule{}
	for _, r := range revs {
		for _, rule := range r.Removed {
			delete(set, ruleKey(rule))
		}
		for _, rule := range r.Added {
			k := ruleKey(rule)
			if _, ok := set[k]; !ok {
				order = append(order, k)
			}
			set[k] = rule
		}
	}
	out := make([]Rule, 0, len(set))
	done := map[string]bool{}
	for _, k := range order {
		if r, ok := set[k]; ok && !done[k] {
			done[k] = true
			out = append(out, r)
		}
	}
	return out, nil
}

// lockKey is the PostgreSQL advisory-lock key that serializes policy revisions.
var lockKey = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("gatehouse/policies/revisions"))
	return int64(h.Sum64() &^ (1 << 63))
}()

// commit runs one change: in a transaction that holds the revision lock, it reads the current
// rules, asks change for the change to make, validates it, checks it against what actor holds
// when guarded (Escalation, on the very rules it changes: no check-then-act race), writes the
// rules, the revision and (PostgreSQL) the notification. Subscribers hear of the revision after
// the commit.
func (s *Service) commit(ctx context.Context, actor string, guarded bool, comment string, restoredFrom int64, change func(x sqlx.ExtContext, current []Rule) (Change, error)) (Revision, error) {
	if err := validActor(actor); err != nil {
		return Revision{}, err
	}
	if len(comment) > 1000 {
		return Revision{}, &ValidationError{Problems: []Problem{{Index: -1, Reason: "the comment is longer than 1000 bytes"}}}
	}
	var rev Revision
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if s.db.Dialect == database.Postgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey); err != nil {
				return fmt.Errorf("lock policy revisions: %w", err)
			}
		}
		rows, err := selectRows(ctx, tx, "")
		if err != nil {
			return err
		}
		current, err := rowsToRules(rows)
		if err != nil {
			return err
		}
		ch, err := change(tx, current)
		if err != nil {
			return err
		}
		if len(ch.Add) == 0 && len(ch.Remove) == 0 {
			return ErrNoChange
		}
		if err := validateChange(current, ch); err != nil {
			return err
		}
		if guarded {
			if problems := Escalation(current, actor, ch); len(problems) > 0 {
				return &EscalationError{Caller: actor, Problems: problems}
			}
		}
		for _, r := range ch.Remove {
			if _, err := deleteRule(ctx, tx, r.Type, r.values()); err != nil {
				return err
			}
		}
		for _, r := range ch.Add {
			if err := insertRule(ctx, tx, r.Type, r.values()); err != nil {
				return err
			}
		}
		last, err := latestRevision(ctx, tx)
		if err != nil {
			return err
		}
		rev = Revision{Number: last + 1, Actor: actor, Time: time.Now().UTC().Truncate(time.Millisecond), Comment: comment,
			Added: nonNil(ch.Add), Removed: nonNil(ch.Remove), RestoredFrom: restoredFrom}
		added, _ := json.Marshal(rev.Added)
		removed, _ := json.Marshal(rev.Removed)
		var from *int64
		if restoredFrom > 0 {
			from = &restoredFrom
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind("INSERT INTO policy_revisions (id, actor, created_at, comment, added, removed, restored_from) VALUES (?, ?, ?, ?, ?, ?, ?)"),
			rev.Number, actor, rev.Time.UnixMilli(), comment, string(added), string(removed), from); err != nil {
			return fmt.Errorf("save policy revision: %w", err)
		}
		if s.db.Dialect == database.Postgres {
			// NOTIFY is delivered at commit, and not at all on rollback.
			if _, err := tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", Channel, fmt.Sprint(rev.Number)); err != nil {
				return fmt.Errorf("notify policy change: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return Revision{}, err
	}
	s.log.Info("policy changed", "revision", rev.Number, "actor", actor, "added", len(rev.Added), "removed", len(rev.Removed), "restored_from", rev.RestoredFrom)
	s.mu.Lock()
	subs := append([]func(context.Context, int64) error(nil), s.subs...)
	s.mu.Unlock()
	for _, fn := range subs {
		if err := fn(ctx, rev.Number); err != nil {
			s.log.Error("policy subscriber failed", "revision", rev.Number, "err", err)
		}
	}
	return rev, nil
}

func nonNil(r []Rule) []Rule {
	if r == nil {
		return []Rule{}
	}
	return r
}

func validActor(actor string) error {
	if actor == "" || len(actor) > 200 {
		return &ValidationError{Problems: []Problem{{Index: -1, Reason: "the actor must be 1 to 200 bytes"}}}
	}
	for i := 0; i < len(actor); i++ {
		if actor[i] < ' ' || actor[i] == 0x7f {
			return &ValidationError{Problems: []Problem{{Index: -1, Reason: "the actor contains a control character"}}}
		}
	}
	return nil
}

// validateChange checks ch against the current rules: each rule valid (Rule.Validate), added
// rules absent and removed ones present, none listed twice, every assigned role defined by some
// rule of the resulting policy, and no lockout of the last admin (see AdminProbes).
func validateChange(current []Rule, ch Change) error {
	var problems []Problem
	cur := make(map[string]bool, len(current))
	for _, r := range current {
		cur[ruleKey(r)] = true
	}
	removing := map[string]bool{}
	for i, r := range ch.Remove {
		rc := r
		k := ruleKey(r)
		switch {
		case removing[k]:
			problems = append(problems, Problem{List: "remove", Index: i, Rule: &rc, Reason: "listed twice"})
		case !cur[k]:
			problems = append(problems, Problem{List: "remove", Index: i, Rule: &rc, Reason: "not in the policy"})
		}
		removing[k] = true
	}
	adding := map[string]bool{}
	for i, r := range ch.Add {
		rc := r
		k := ruleKey(r)
		if err := r.Validate(); err != nil {
			problems = append(problems, Problem{List: "add", Index: i, Rule: &rc, Reason: err.Error()})
			continue
		}
		switch {
		case adding[k]:
			problems = append(problems, Problem{List: "add", Index: i, Rule: &rc, Reason: "listed twice"})
		case removing[k]:
			problems = append(problems, Problem{List: "add", Index: i, Rule: &rc, Reason: "also listed for removal"})
		case cur[k]:
			problems = append(problems, Problem{List: "add", Index: i, Rule: &rc, Reason: "already in the policy"})
		}
		adding[k] = true
	}
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}

	result := make([]Rule, 0, len(current)+len(ch.Add))
	for _, r := range current {
		if !removing[ruleKey(r)] {
			result = append(result, r)
		}
	}
	result = append(result, ch.Add...)
	defined := map[string]bool{}
	for _, r := range result {
		if strings.HasPrefix(r.Subject, RolePrefix) {
			defined[r.Subject] = true
		}
	}
	for i, r := range ch.Add {
		if r.Type == Assignment && !defined[r.Role] {
			rc := r
			problems = append(problems, Problem{List: "add", Index: i, Rule: &rc, Reason: fmt.Sprintf("unknown role %q: no rule grants or denies it anything", r.Role)})
		}
	}
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	if p := roleChains(result, ch.Add); p != nil {
		return &ValidationError{Problems: []Problem{*p}}
	}

	// Only removals and added denials or assignments can take access away (deny wins, so an
	// added allow never can).
	mayReduce := len(ch.Remove) > 0
	for _, r := range ch.Add {
		if r.Type == Assignment || r.Effect == Deny {
			mayReduce = true
		}
	}
	if mayReduce {
		if !hasAdmin(result) && hasAdmin(current) {
			return &ValidationError{Problems: []Problem{{Index: -1, Reason: "the change would leave no user with access to the admin API (/admin/v1/policies and /admin/v1/roles); grant another user role:admin first"}}}
		}
	}
	return nil
}

// roleChains finds a role cycle, or a chain of assignments longer than the enforcer follows
// (maxRoleDepth steps, like Casbin's role manager), in rules: past that depth a role's rules,
// denies included, silently never apply, so such a policy is refused. The problem names the
// chain, and the added assignment on it if there is one (else Index -1).
func roleChains(rules []Rule, added []Rule) *Problem {
	next := map[string][]string{}
	for _, r := range rules {
		if r.Type == Assignment {
			next[r.Subject] = append(next[r.Subject], r.Role)
		}
	}
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	longest := map[string]int{} // edges of the longest chain from a subject
	via := map[string]string{}  // the first step of that chain
	var stack []string
	var cycle []string
	var visit func(s string) bool
	visit = func(s string) bool {
		color[s] = grey
		stack = append(stack, s)
		for _, r := range next[s] {
			switch color[r] {
			case grey:
				i := len(stack) - 1
				for stack[i] != r {
					i--
				}
				cycle = append(append([]string{}, stack[i:]...), r)
				return false
			case white:
				if !visit(r) {
					return false
				}
			}
			if longest[r]+1 > longest[s] {
				longest[s], via[s] = longest[r]+1, r
			}
		}
		stack = stack[:len(stack)-1]
		color[s] = black
		return true
	}
	subjects := make([]string, 0, len(next))
	for s := range next {
		subjects = append(subjects, s)
	}
	slices.Sort(subjects)
	var chain []string
	for _, s := range subjects {
		if color[s] == white && !visit(s) {
			chain = cycle
			break
		}
		if longest[s] > maxRoleDepth {
			for x := s; x != ""; x = via[x] {
				chain = append(chain, x)
			}
			break
		}
	}
	if chain == nil {
		return nil
	}
	reason := fmt.Sprintf("the role chain %s is longer than %d assignments: the rules of its last roles would never apply", strings.Join(chain, " → "), maxRoleDepth)
	if cycle != nil {
		reason = "the role assignments form a cycle: " + strings.Join(chain, " → ")
	}
	p := Problem{Index: -1, Reason: reason}
	for i, r := range added {
		if r.Type != Assignment {
			continue
		}
		for j := 0; j+1 < len(chain); j++ {
			if chain[j] == r.Subject && chain[j+1] == r.Role {
				rc := r
				p = Problem{List: "add", Index: i, Rule: &rc, Reason: reason}
				return &p
			}
		}
	}
	return &p
}

// hasAdmin reports whether some user may make every request of AdminProbes under rules.
// Candidates are the users who hold, directly or through roles, an allow rule for the first
// probe; each is then decided on every probe (so denials count).
func hasAdmin(rules []Rule) bool {
	ix := newIndex(rules)
	holders := map[string][]string{} // role → subjects assigned to it
	for _, r := range rules {
		if r.Type == Assignment {
			holders[r.Role] = append(holders[r.Role], r.Subject)
		}
	}
	probe := AdminProbes[0]
	var queue []string
	for _, r := range rules {
		if r.Type == Permission && r.Effect == Allow && (r.Action == AnyAction || r.Action == probe[1]) && compilePattern(r.Object).match(probe[0]) {
			queue = append(queue, r.Subject)
		}
	}
	seen := map[string]bool{}
	for len(queue) > 0 {
		sub := queue[0]
		queue = queue[1:]
		if seen[sub] {
			continue
		}
		seen[sub] = true
		if strings.HasPrefix(sub, UserPrefix) && allowsAll(ix, sub) {
			return true
		}
		queue = append(queue, holders[sub]...)
	}
	return false
}

func allowsAll(ix *index, sub string) bool {
	for _, p := range AdminProbes {
		if ok, _ := ix.decide(sub, p[0], p[1]); !ok {
			return false
		}
	}
	return true
}
