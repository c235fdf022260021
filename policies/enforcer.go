package policies

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/persist"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-id/gatehouse/internal/database"
)

// Channel is the PostgreSQL NOTIFY channel of policy changes; the payload is the new revision.
const Channel = "gatehouse_policies"

// DefaultPollInterval is how often a watching enforcer also reads the latest revision, a safety
// net behind the notifications.
const DefaultPollInterval = 30 * time.Second

// DefaultMaxStale is how long an enforcer decides without having confirmed that it holds the
// latest revision (a successful reload, or a read of the latest revision by Refresh or the poll)
// before Check fails closed with ErrStale: ten polls.
const DefaultMaxStale = 5 * time.Minute

// ErrStale: the enforcer has not confirmed for longer than its maximum staleness that it holds
// the latest revision (the policy database is unreachable or the reload fails), so it refuses to
// decide; a resource server answers 503. It recovers on the next successful poll or Refresh.
var ErrStale = errors.New("policies: the policy may be out of date (the policy database was not reached in time)")

// Decision is the answer of Enforcer.Check.
type Decision struct {
	Allowed bool `json:"allowed"`
	// Rule is the rule that decided: the deny that won, or an allow that matched. It is nil when
	// no rule matched (default deny) or the request was refused before matching.
	Rule *Rule `json:"rule,omitempty"`
	// Revision is the policy revision the decision was made on.
	Revision int64 `json:"revision"`
}

// Enforcer decides requests on the policy of one revision, loaded from the database, and moves to
// newer revisions when told (Refresh) or when it sees them (Watch). It is safe for concurrent use:
// a reload builds a new Casbin enforcer and swaps it in, so a decision never sees half a policy.
type Enforcer struct {
	db   *database.DB
	log  *slog.Logger
	poll time.Duration
	// maxStale bounds how old confirmed may be when Check decides; now is the clock.
	maxStale  time.Duration
	now       func() time.Time
	confirmed atomic.Int64 // unix nanoseconds of the last confirmation of the latest revision
	mu        sync.Mutex   // one reload at a time
	state     atomic.Pointer[snapshot]
	// reference makes the enforcer also hold a Casbin enforcer of the same rules, against
	// which checkRole verifies every decision (Service's dry runs).
	reference bool
}

type snapshot struct {
	ix  *index
	ce  *casbin.Enforcer // nil unless reference
	rev int64
}

// Option configures NewEnforcer.
type Option func(*Enforcer)

// WithLogger sets the logger of reloads and watcher events (default: discard).
func WithLogger(log *slog.Logger) Option { return func(e *Enforcer) { e.log = log } }

// withReference makes the enforcer keep a Casbin enforcer to verify dry runs against.
func withReference() Option { return func(e *Enforcer) { e.reference = true } }

// WithPollInterval sets how often Watch reads the latest revision besides the notifications
// (default DefaultPollInterval).
func WithPollInterval(d time.Duration) Option { return func(e *Enforcer) { e.poll = d } }

// WithMaxStale sets how long the enforcer keeps deciding without confirming that it holds the
// latest revision (default DefaultMaxStale, or ten poll intervals if that is longer); past it Check returns ErrStale. It must be longer
// than the poll interval. An enforcer nobody refreshes (no Watch, no Refresh) goes stale too.
func WithMaxStale(d time.Duration) Option { return func(e *Enforcer) { e.maxStale = d } }

// NewEnforcer loads the current policy of db (whose policies migrations are applied).
func NewEnforcer(ctx context.Context, db *database.DB, opts ...Option) (*Enforcer, error) {
	e := &Enforcer{db: db, log: slog.New(slog.DiscardHandler), poll: DefaultPollInterval, now: time.Now}
	for _, o := range opts {
		o(e)
	}
	if e.poll <= 0 {
		return nil, errors.New("policies: the poll interval must be positive")
	}
	if e.maxStale == 0 {
		e.maxStale = max(DefaultMaxStale, 10*e.poll)
	}
	if e.maxStale <= e.poll {
		return nil, fmt.Errorf("policies: the maximum staleness (%v) must be longer than the poll interval (%v)", e.maxStale, e.poll)
	}
	if err := e.Reload(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// Revision is the policy revision the enforcer holds.
func (e *Enforcer) Revision() int64 { return e.state.Load().rev }

// Enforce is Casbin's signature, so that *Enforcer satisfies a resource server's
// Authorizer interface: Enforce(subject, object, action), all strings. See Check.
func (e *Enforcer) Enforce(rvals ...any) (bool, error) {
	if len(rvals) != 3 {
		return false, fmt.Errorf("policies: Enforce wants subject, object and action, got %d values", len(rvals))
	}
	var s [3]string
	for i, v := range rvals {
		str, ok := v.(string)
		if !ok {
			return false, fmt.Errorf("policies: Enforce value %d is a %T, want a string", i, v)
		}
		s[i] = str
	}
	d, err := e.Check(s[0], s[1], s[2])
	return d.Allowed, err
}

// Check decides whether sub (user:<id> or client:<id>, never role:<name>: RB-05) may do
// act (an HTTP method, upper case) on obj (the canonical request path the router matched, see
// CanonicalPath). It fails closed: a non-canonical path, an unknown action or subject, or any
// error is a denial, with an error saying why.
func (e *Enforcer) Check(sub, obj, act string) (Decision, error) {
	st := e.state.Load()
	if err := e.Fresh(); err != nil {
		return Decision{Revision: st.rev}, err
	}
	return st.check(sub, obj, act, false)
}

// Fresh returns nil when the enforcer confirmed within its maximum staleness that it holds the
// latest revision, else an error that is ErrStale (for a readiness check: drain an instance
// that cannot reach the policy database).
func (e *Enforcer) Fresh() error {
	if age := e.now().Sub(time.Unix(0, e.confirmed.Load())); age > e.maxStale {
		return fmt.Errorf("%w: last confirmed %v ago (limit %v)", ErrStale, age.Truncate(time.Millisecond), e.maxStale)
	}
	return nil
}

func (e *Enforcer) confirm() { e.confirmed.Store(e.now().UnixNano()) }

// checkRole is Check that also accepts a role as the subject, and that verifies the decision
// with Casbin itself when the enforcer holds a reference (Service.Check's dry runs).
func (e *Enforcer) checkRole(sub, obj, act string) (Decision, error) {
	st := e.state.Load()
	if err := e.Fresh(); err != nil {
		return Decision{Revision: st.rev}, err
	}
	d, err := st.check(sub, obj, act, true)
	if err != nil || st.ce == nil {
		return d, err
	}
	ok, explain, err := st.ce.EnforceEx(sub, obj, act)
	if err != nil {
		return Decision{Revision: st.rev}, fmt.Errorf("policies: casbin enforce: %w", err)
	}
	if ok != d.Allowed {
		return Decision{Revision: st.rev}, fmt.Errorf("policies: the index (%v) and Casbin (%v, %v) disagree on %s %s %s", d.Allowed, ok, explain, sub, act, obj)
	}
	return d, nil
}

func (st *snapshot) check(sub, obj, act string, roles bool) (Decision, error) {
	d := Decision{Revision: st.rev}
	if _, err := CanonicalPath(obj); err != nil {
		return d, err
	}
	if act == AnyAction || !slices.Contains(Actions, act) {
		return d, fmt.Errorf("policies: action %q is not an HTTP method Gatehouse knows", truncate(act))
	}
	if err := validSubject(sub); err != nil {
		return d, fmt.Errorf("policies: subject: %w", err)
	}
	if !roles && strings.HasPrefix(sub, RolePrefix) {
		return d, fmt.Errorf("policies: subject %q: requests come from users and clients, not roles", truncate(sub))
	}
	ok, rule := st.ix.decide(sub, obj, act)
	d.Allowed = ok
	if rule != nil {
		r := *rule
		d.Rule = &r
	}
	return d, nil
}

// Reload loads the latest policy, whatever revision the enforcer holds.
func (e *Enforcer) Reload(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reload(ctx)
}

func (e *Enforcer) reload(ctx context.Context) error {
	rules, rev, err := loadRules(ctx, e.db)
	if err != nil {
		return err
	}
	// The index is exact only under the grammar Validate enforces; a row written around the
	// Service (SQL, the Adapter's Casbin API) could be a deny the index reads differently from
	// Casbin. Such a policy is not loaded at all: the held revision stays (Watch logs the error;
	// NewEnforcer fails), so no deny is ever dropped.
	if err := validateLoaded(rules, rev); err != nil {
		return err
	}
	st := &snapshot{ix: newIndex(rules), rev: rev}
	if e.reference {
		if st.ce, err = newCasbin(rules); err != nil {
			return err
		}
	}
	e.state.Store(st)
	e.confirm()
	return nil
}

// Refresh moves the enforcer to the latest revision if it is newer than the one it holds. rev is
// the revision a notification announced (0 when unknown): when rev is not newer than the held
// one, Refresh does nothing.
func (e *Enforcer) Refresh(ctx context.Context, rev int64) error {
	if rev > 0 && rev <= e.Revision() {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	held := e.Revision()
	if rev > 0 && rev <= held {
		return nil
	}
	latest, err := latestRevision(ctx, e.db)
	if err != nil {
		return err
	}
	if latest <= held {
		e.confirm()
		return nil
	}
	if err := e.reload(ctx); err != nil {
		return err
	}
	e.log.Info("policy reloaded", "from_revision", held, "revision", e.Revision())
	return nil
}

// Watch keeps the enforcer on the latest revision until ctx is done, then returns nil. On
// PostgreSQL, with listenURL (the database URL; "" to poll only), it listens on Channel with a
// connection of its own that reconnects by itself, refreshing on every notification and after
// every (re)connection, since notifications sent while disconnected are lost. On every database
// it also reads the latest revision every poll interval. On SQLite, Service.Subscribe(e.Refresh)
// makes changes of the same process visible at once.
func (e *Enforcer) Watch(ctx context.Context, listenURL string) error {
	var events <-chan database.Notification
	if listenURL != "" && e.db.Dialect == database.Postgres {
		ch, err := database.Listen(ctx, listenURL, Channel)
		if err != nil {
			return fmt.Errorf("policies: watch: %w", err)
		}
		events = ch
	}
	t := time.NewTicker(e.poll)
	defer t.Stop()
	for {
		var rev int64
		select {
		case <-ctx.Done():
			return nil
		case n, ok := <-events:
			if !ok {
				events = nil
				if ctx.Err() == nil {
					e.log.Error("policy listener stopped; polling only", "poll", e.poll)
				}
				continue
			}
			if n.Reconnected {
				e.log.Info("policy listener connected: reading the latest revision")
			} else if r, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
				rev = r
			}
		case <-t.C:
		}
		if err := e.Refresh(ctx, rev); err != nil && ctx.Err() == nil {
			e.log.Error("policy refresh failed; keeping the held revision", "revision", e.Revision(), "stale", e.Fresh() != nil, "err", err)
		}
	}
}

// latestRevision is the newest revision in db (0 if none).
func latestRevision(ctx context.Context, x sqlx.QueryerContext) (int64, error) {
	var rev int64
	if err := sqlx.GetContext(ctx, x, &rev, "SELECT COALESCE(MAX(id), 0) FROM policy_revisions"); err != nil {
		return 0, fmt.Errorf("read policy revision: %w", err)
	}
	return rev, nil
}

// loadRules reads the rules and the revision they belong to. The revision is read before and
// after the rules (every change writes both in one transaction), and the read is retried until
// both agree, so the pair is consistent without a long read transaction.
func loadRules(ctx context.Context, db *database.DB) ([]Rule, int64, error) {
	for range 10 {
		before, err := latestRevision(ctx, db)
		if err != nil {
			return nil, 0, err
		}
		rows, err := selectRows(ctx, db, "")
		if err != nil {
			return nil, 0, err
		}
		after, err := latestRevision(ctx, db)
		if err != nil {
			return nil, 0, err
		}
		if before != after {
			continue
		}
		rules, err := rowsToRules(rows)
		return rules, after, err
	}
	return nil, 0, errors.New("policies: the policy kept changing while it was read")
}

// ErrInvalidStoredRule: the policy in the database has a rule outside the grammar (written
// around the Service); enforcers refuse to load it. Remove the rule (gatehouse policies remove,
// or the admin API's POST /admin/v1/policies with it under "remove").
var ErrInvalidStoredRule = errors.New("policies: the stored policy has an invalid rule")

func validateLoaded(rules []Rule, rev int64) error {
	var bad []string
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			bad = append(bad, fmt.Sprintf("%q: %v", truncate(r.String()), err))
			if len(bad) == 5 {
				break
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: revision %d: %s", ErrInvalidStoredRule, rev, strings.Join(bad, "; "))
	}
	return nil
}

func rowsToRules(rows []row) ([]Rule, error) {
	rules := make([]Rule, 0, len(rows))
	for _, r := range rows {
		rule, err := ruleFrom(r.PType, r.values())
		if err != nil {
			return nil, err
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

// newCasbin builds an in-memory Casbin enforcer of the model and rules.
func newCasbin(rules []Rule) (*casbin.Enforcer, error) {
	m, err := NewModel()
	if err != nil {
		return nil, err
	}
	ce, err := casbin.NewEnforcer(m)
	if err != nil {
		return nil, fmt.Errorf("policies: new casbin enforcer: %w", err)
	}
	ce.EnableAutoSave(false)
	for _, r := range rules {
		if err := persist.LoadPolicyArray(append([]string{r.Type}, r.values()...), ce.GetModel()); err != nil {
			return nil, fmt.Errorf("policies: load rule %s: %w", r, err)
		}
	}
	if err := ce.BuildRoleLinks(); err != nil {
		return nil, fmt.Errorf("policies: build role links: %w", err)
	}
	return ce, nil
}

// ruleKey identifies a rule in sets.
func ruleKey(r Rule) string { return r.Type + "\x00" + strings.Join(r.values(), "\x00") }
