// Package policies is Gatehouse's authorization: the Casbin model (model.conf, embedded), the
// policy in the database (table casbin_rule, migrations/policies) with its sqlx adapter, the
// enforcer that every resource server holds, the watcher that keeps it current, and the policy
// admin service that validates, versions and audits every change (DESIGN.md "Authorization").
//
// # Model
//
// A request is (subject, object, action): subject "user:<id>" (UserSubject, id = the token's
// sub) or "client:<id>" (ClientSubject, a client-credentials token); object the canonical request
// path; action the HTTP method, upper case. A permission rule (type "p") is (subject, object
// pattern, action or "*", allow|deny) whose subject is a user, client or role ("role:<name>"); an
// assignment (type "g") gives a subject a role (a role may also be given a role, and inherits it).
// Allowed = some matching allow and no matching deny: deny wins, and no rule means deny (RB-01).
// Namespaces keep users, clients and roles apart (RB-05): a user with id "admin" is "user:admin".
//
// Object patterns (ValidPattern) are anchored keyMatch2 patterns in a narrow grammar: literal
// segments of [A-Za-z0-9_~-], ":name" for exactly one segment, and a last "*" for everything
// below ("/api/v1/todos/*" never matches "/api/v1/todosAdmin", RB-02). Actions compare exactly,
// never as regular expressions (RB-04). The Casbin model is the reference; the enforcer decides
// through an index of the same rules (by subject and action, segment matching: ~0.7 µs per
// decision at 10,000 rules instead of Casbin's ~6 ms linear scan), and TestIndexAgreesWithCasbin,
// FuzzPatternMatch and every Service.Check dry run compare the two.
//
// The default policy (revision 1, seeded by the migration): role:admin may do anything ("*") on
// /admin/v1/* and /api/v1/*; role:user may GET and POST /api/v1/todos and /api/v1/categories
// and GET, PUT, PATCH and DELETE /api/v1/todos/:id and /api/v1/categories/:id. Nobody holds a
// role until one is assigned (`gatehouse roles assign user:<id> role:admin`); the provider should
// assign role:user to users it registers.
//
// # Paths (RB-03)
//
// Check decides only canonical paths (CanonicalPath): it denies, with ErrNonCanonicalPath, any
// path with "//", "." or ".." segments, a trailing '/', '%' (so "%2F"), ';', '\\', whitespace,
// control or non-ASCII bytes, or more than MaxPathLength bytes (RB-10). The caller must pass the
// path its router matched: with chi, r.URL.Path when r.URL.RawPath is empty (chi routes on
// RawPath when it is set, and a path that needs one is refused anyway); answer 404 to a request
// whose path CanonicalPath refuses.
//
// # For the resource server (enforcement)
//
//	enf, err := policies.NewEnforcer(ctx, policyDB, policies.WithLogger(log))
//	go enf.Watch(ctx, policyDatabaseURL) // NOTIFY + reconnect reload + poll on PostgreSQL; poll on SQLite
//	// per request, after the bearer middleware, with the route's object and action:
//	if !scopes.Allows(principal.Scopes, path, r.Method) { 403 insufficient_scope }   // RB-06
//	d, err := enf.Check(policies.UserSubject(principal.Subject), path, r.Method)
//	if err != nil || !d.Allowed { 403 }   // log d.Revision and d.Rule with the decision
//	w.Header().Set("Gatehouse-Policy-Revision", strconv.FormatInt(d.Revision, 10))
//
// Decision.Revision is the revision the decision was made on, so the header names the policy
// that decided (Enforcer.Revision is the one held now). *Enforcer also has Casbin's
// Enforce(rvals ...any) (bool, error), so a consumer interface of that shape accepts it.
// scopes is policies.DefaultScopes() for the todos API (todos:read: GET and HEAD; todos:write:
// POST, PUT, PATCH, DELETE), or NewScopes for another API. Owner scoping (a user sees only their
// todos) stays in the handlers; a grant to read all todos is a rule on an explicit admin route
// (e.g. "p, role:auditor, /admin/v1/todos, GET, allow").
//
// # For the provider's admin API (/admin/v1/policies, /admin/v1/roles)
//
//	svc := policies.NewService(db, log)
//	svc.Subscribe(enf.Refresh) // same process (SQLite, `gatehouse serve`): enforcers reload at once
//	svc.List(ctx) → Policy{Revision, Permissions, Assignments}
//	svc.Apply(ctx, actor, policies.Change{Add, Remove, Comment}) → Revision
//	svc.ApplyAs / svc.RestoreAs(ctx, caller, …) → Revision, or *EscalationError (the admin API)
//	svc.Assign / svc.Unassign(ctx, actor, subject, role, comment) → Revision
//	svc.Check(ctx, sub, obj, act) → Decision{Allowed, Rule, Revision}   (POST /admin/v1/policies/check)
//	svc.Revisions(ctx, limit, before) / svc.GetRevision(ctx, n) → Revision{Number, Actor, Time, Comment, Added, Removed, RestoredFrom}
//	svc.Restore(ctx, actor, n, comment) → Revision   (a new revision)
//	svc.Export(ctx, w) / svc.Import(ctx, actor, r, comment)   (Casbin CSV)
//
// actor is who acts, e.g. policies.UserSubject(sub) of the admin's token, or "cli:<os user>".
// A change is refused when the resulting role assignments form a cycle or a chain longer than
// the enforcer follows (10 steps, Casbin's default): past it a role's rules, denies included,
// would silently never apply.
// Errors: *ValidationError (errors.Is ErrInvalid) → 422, one error detail per Problem
// {List "add"|"remove"|"line", Index, Rule, Reason}; Index -1 is about the whole change (such as
// the lockout: a change that would leave no user allowed AdminProbes is refused). ErrNotFound →
// 404 (revision), ErrNoChange → 409 or 200 with nothing done. The admin routes themselves are
// enforced like any route: role:admin's "/admin/v1/*" rule covers them.
//
// # Escalation (RB-08): what a caller of the admin API may change
//
// ApplyAs and RestoreAs check a change against what its caller holds, with Escalation, on the
// rules the change is applied to, inside the same locked transaction as the write (so a right
// taken from the caller a moment ago, or a restore diff that changed since the caller looked,
// is decided on what is committed). Decisions are made on patterns, never on a pattern read as a
// path (Covers, Overlaps in algebra.go):
//
//   - Grants: adding an allow, removing a deny, adding a role assignment (every allow the role
//     carries, inherited roles included) or removing one (every deny the role carries) is allowed
//     only if, for the rule's action (each method, for "*"), some allow of the caller (own or
//     inherited) covers the rule's pattern and no deny of the caller (own or inherited) overlaps
//     it. "/api/v1/:c" does not cover "/api/v1/*"; a caller denied "/api/v1/admin/todos" may not
//     grant "/api/v1/*" to anyone.
//   - Take-aways: removing an allow, removing a role assignment, adding a deny, or assigning a
//     role that carries denies takes rights from the rule's subject and, for a role, from every
//     subject holding it (transitively). Each such subject other than the caller, the role
//     itself included, must hold nothing the caller does not: every allow it carries (own or
//     inherited) must pass the grant test for the caller. In one sentence: you may take rights
//     only from subjects whose rights are a subset of yours, so a delegated admin cannot demote
//     or deny a full admin. Restricting yourself is always allowed (the lockout check remains).
//
// Apply, Restore and Import (the CLI, the operator) are not checked.
//
// # Revisions and propagation
//
// Every change is one transaction: take the revision lock (PostgreSQL pg_advisory_xact_lock;
// SQLite transactions are BEGIN IMMEDIATE), read the rules, validate, write rules and the
// revision row (policy_revisions: number, actor, time, comment, added and removed rules), and on
// PostgreSQL pg_notify(Channel, revision), which is delivered at commit. Enforcers reload when
// they see a revision newer than theirs: on a notification, after their listening connection
// (re)connects (notifications sent while it was down are lost), and on a poll every
// DefaultPollInterval. A reload builds a new index and swaps it in atomically. The Adapter's own
// writes (Casbin's API) create no revision and are not validated: they are for tests and
// bootstrap only; change the policy through Service. Every rule a reload reads must pass
// Rule.Validate: a policy with an invalid row (written around the Service) is not loaded
// (ErrInvalidStoredRule): a running enforcer keeps its revision and Watch logs the error (and
// the enforcer goes stale, see below), NewEnforcer fails, so `serve` does not start. The admin
// API answers 503 meanwhile; remove the row with `gatehouse policies remove` (Service.Apply
// reads the stored rules without validating them, so it can).
//
// # Staleness (fail closed)
//
// An enforcer records when it last confirmed that it holds the latest revision: a successful
// reload, or a successful read of the latest revision (Refresh, the poll, a notification's
// Refresh). When that is older than its maximum staleness (WithMaxStale; DefaultMaxStale, 5
// minutes, or ten poll intervals if longer), Check denies with ErrStale (the resource server
// answers 503, not 403) and Fresh reports it (for /readyz). The next successful poll or Refresh
// ends it. So an instance cut off from the policy database stops deciding within the bound
// instead of enforcing its last policy forever. An enforcer that nobody refreshes (no Watch, no
// Refresh) goes stale too.
package policies
