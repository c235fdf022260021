package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/idp/admin"
	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/migrations"
	"github.com/gatehouse-id/gatehouse/policies"
	"github.com/gatehouse-id/gatehouse/resource"
)

// policyRuntime is the access policy of one process: its database handle, the admin service
// and one enforcer that follows every change (LISTEN/NOTIFY on PostgreSQL, the service's
// subscription within the process, and a poll behind both).
type policyRuntime struct {
	db  *database.DB
	svc *policies.Service
	enf *policies.Enforcer
	own bool // db was opened here
}

// openPolicies opens the policy database: policyURL (GATEHOUSE_POLICY_DATABASE_URL), or, when
// it is empty or the same URL, the database the process already uses (mainDB at mainURL). A
// database of its own gets the policies migrations when migrate is set. The enforcer watches
// until ctx ends.
func openPolicies(ctx context.Context, policyURL string, mainDB *database.DB, mainURL string, migrate bool, log *slog.Logger, opts ...policies.Option) (*policyRuntime, error) {
	pdb, err := openPolicyDB(ctx, policyURL, mainURL, mainDB, migrate)
	if err != nil {
		return nil, err
	}
	if policyURL == "" {
		policyURL = mainURL
	}
	pr := &policyRuntime{db: pdb, own: pdb != mainDB}
	enf, err := policies.NewEnforcer(ctx, pr.db, append([]policies.Option{policies.WithLogger(log)}, opts...)...)
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("access policy: %w", err)
	}
	pr.enf = enf
	pr.svc = policies.NewService(pr.db, log)
	pr.svc.Subscribe(enf.Refresh)
	go func() {
		if err := enf.Watch(ctx, policyURL); err != nil {
			log.Error("access policy watcher stopped; polling no more", "err", err)
		}
	}()
	return pr, nil
}

// openPolicyDB returns the database of the access policy: mainDB (the database at mainURL), or
// the database at policyURL when that is another URL, which then gets the policies migrations
// when migrate is set.
func openPolicyDB(ctx context.Context, policyURL, mainURL string, mainDB *database.DB, migrate bool) (*database.DB, error) {
	if policyURL == "" || policyURL == mainURL {
		return mainDB, nil
	}
	db, err := database.Open(ctx, policyURL)
	if err != nil {
		return nil, fmt.Errorf("GATEHOUSE_POLICY_DATABASE_URL: %w", err)
	}
	if migrate {
		if err := migrations.Up(ctx, db, "policies"); err != nil {
			db.Close()
			return nil, fmt.Errorf("GATEHOUSE_POLICY_DATABASE_URL: %w", err)
		}
	}
	return db, nil
}

// Close closes the policy database if it was opened for the policy alone.
func (pr *policyRuntime) Close() {
	if pr.own {
		pr.db.Close()
	}
}

// withAdminAPI serves the policy admin API at /admin/v1/ and everything else from the provider,
// on the provider's listener. The admin API validates tokens with the provider itself (so a
// revoked token is refused at once) and authorizes each route with the policy. secure (an https
// issuer) adds HSTS to its responses, as the provider's.
func withAdminAPI(provider *idp.Server, pr *policyRuntime, secure bool, log *slog.Logger) (http.Handler, error) {
	if provider == nil {
		return nil, errors.New("admin API: no provider")
	}
	api, err := admin.New(admin.Config{Service: pr.svc, Authorizer: pr.enf, Tokens: provider, Secure: secure, Log: log})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(admin.Prefix+"/", api)
	mux.Handle("GET /readyz", readyWithPolicy(pr, provider))
	mux.Handle("/", provider)
	return mux, nil
}

// readyWithPolicy answers /readyz: not ready (503) while the access policy may be out of date
// (policies.ErrStale: the policy database unreachable for longer than --policy-max-stale), so
// a load balancer takes the instance out; otherwise next decides (nil: ready).
func readyWithPolicy(pr *policyRuntime, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := pr.enf.Fresh(); err != nil {
			web.JSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "the access policy may be out of date"})
			return
		}
		if next == nil {
			web.JSON(w, http.StatusOK, map[string]string{"status": "ready"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// policyAuthorizer is the resource API's Authorizer over the process's enforcer: a decision
// from memory, no database query per request.
type policyAuthorizer struct {
	enf *policies.Enforcer
}

var _ resource.Authorizer = policyAuthorizer{}

// Authorize decides with the enforcer. The enforcer refuses requests it cannot match (a path
// that is not canonical, a method no rule can name) with an error: that is a denial (403), not
// an outage, so it is answered as one.
func (a policyAuthorizer) Authorize(_ context.Context, subject, object, action string) (resource.Decision, error) {
	d, err := a.enf.Check(subject, object, action)
	if errors.Is(err, policies.ErrStale) {
		// The policy database has not been reached for too long: an outage (503), not a denial.
		return resource.Decision{Revision: d.Revision}, err
	}
	if err != nil {
		return resource.Decision{Allowed: false, Revision: d.Revision}, nil
	}
	return resource.Decision{Allowed: d.Allowed, Revision: d.Revision}, nil
}

// resourceAuthorizer is the Authorizer the resource API gets (resource.Config.Authorizer).
func (pr *policyRuntime) resourceAuthorizer() resource.Authorizer {
	return policyAuthorizer{enf: pr.enf}
}

// defaultRoles is the provider's OnConfirmed hook: a person who proved their email address gets
// roles (names without the role: prefix) they do not hold yet, in one revision by
// "gatehouse:registration". Nil when there are none to give.
func (pr *policyRuntime) defaultRoles(roles []string) func(ctx context.Context, userID string) error {
	var want []string
	for _, r := range roles {
		if r = strings.TrimPrefix(strings.TrimSpace(r), policies.RolePrefix); r != "" {
			want = append(want, policies.RoleSubject(r))
		}
	}
	if pr == nil || len(want) == 0 {
		return nil
	}
	return func(ctx context.Context, userID string) error {
		sub := policies.UserSubject(userID)
		p, err := pr.svc.List(ctx)
		if err != nil {
			return err
		}
		ch := policies.Change{Comment: "default roles of a confirmed user"}
		for _, role := range want {
			if !slices.ContainsFunc(p.Assignments, func(a policies.Rule) bool { return a.Subject == sub && a.Role == role }) {
				ch.Add = append(ch.Add, policies.Assigning(sub, role))
			}
		}
		if len(ch.Add) == 0 {
			return nil
		}
		_, err = pr.svc.Apply(ctx, "gatehouse:registration", ch)
		return err
	}
}
