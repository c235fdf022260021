package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/idp/admin"
	"github.com/gatehouse-id/gatehouse/idp/sqlstore"
	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/internal/loginflow"
	"github.com/gatehouse-id/gatehouse/policies"
	"github.com/gatehouse-id/gatehouse/resource"
	"github.com/gatehouse-id/gatehouse/resource/bearer"
	rsqlstore "github.com/gatehouse-id/gatehouse/resource/sqlstore"
)

// adminProvider is the provider with the policy admin API mounted on its listener at
// /admin/v1/, as `gatehouse serve` mounts it, on one database that also holds the policy.
type adminProvider struct {
	srv      *httptest.Server
	store    *sqlstore.Store
	svc      *policies.Service
	adminSPA *idp.Client // scopes openid and gatehouse:admin, audience the issuer
	todosSPA *idp.Client // scopes openid, todos:read and todos:write, audience the todos API
}

func startAdminProvider(tb testing.TB, db *database.DB) *adminProvider {
	tb.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	tb.Cleanup(srv.Close)
	log := slog.New(slog.DiscardHandler)
	cfg := idp.Config{Issuer: srv.URL, Secrets: [][]byte{[]byte(strings.Repeat("s", 40))}}.WithDefaults()
	store := sqlstore.New(db)
	sealer, err := idp.NewSealer(cfg.Secrets)
	if err != nil {
		tb.Fatal(err)
	}
	keys := idp.NewKeys(store, sealer, idp.KeysConfig{AccessTokenAlg: cfg.AccessTokenAlg}, log)
	if err := keys.Init(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	provider, err := idp.NewServer(cfg, idp.Deps{Store: store, Keys: keys, Log: log,
		Hasher: idp.NewPasswordHasher(idp.Argon2Params{Memory: 8 * 1024, Time: 1, Threads: 1}, 0, 0)})
	if err != nil {
		tb.Fatal(err)
	}
	svc := policies.NewService(db, log)
	enf, err := policies.NewEnforcer(tb.Context(), db)
	if err != nil {
		tb.Fatal(err)
	}
	svc.Subscribe(enf.Refresh)
	api, err := admin.New(admin.Config{Service: svc, Authorizer: enf, Tokens: provider, Log: log})
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(admin.Prefix+"/", api)
	mux.Handle("/", provider)
	srv.Config.Handler = mux
	p := &adminProvider{srv: srv, store: store, svc: svc}
	spa := func(scopes, audiences []string) *idp.Client {
		c := &idp.Client{
			ID: "spa-" + uuid.NewString()[:8], Name: "SPA", Public: true, FirstParty: true,
			TokenEndpointAuthMethod: idp.AuthMethodNone, RedirectURIs: []string{spaCallback},
			GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
			Scopes: scopes, Audiences: audiences, CreatedAt: time.Now(), UpdatedAt: time.Now(),
		}
		if err := c.Validate(); err != nil {
			tb.Fatal(err)
		}
		if err := store.CreateClient(tb.Context(), c); err != nil {
			tb.Fatal(err)
		}
		return c
	}
	p.adminSPA = spa([]string{"openid", admin.Scope}, nil)
	p.todosSPA = spa([]string{"openid", resource.ScopeRead, resource.ScopeWrite, resource.ScopeAdmin}, []string{apiAudience})
	return p
}

// newUser creates a user and returns its policy subject (user:<id>).
func (p *adminProvider) newUser(tb testing.TB, email string) string {
	tb.Helper()
	hash, err := idp.NewPasswordHasher(idp.Argon2Params{Memory: 8 * 1024, Time: 1, Threads: 1}, 1, 1).Hash(tb.Context(), "correct horse battery staple")
	if err != nil {
		tb.Fatal(err)
	}
	u := &idp.User{ID: uuid.NewString(), Email: email, EmailVerified: true, PasswordHash: hash, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := p.store.CreateUser(tb.Context(), u); err != nil {
		tb.Fatal(err)
	}
	return policies.UserSubject(u.ID)
}

// login signs email in through the real pages with client c and returns the access token.
func (p *adminProvider) login(tb testing.TB, c *idp.Client, email string, scopes ...string) string {
	tb.Helper()
	cfg := &oauth2.Config{ClientID: c.ID, RedirectURL: spaCallback, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: p.srv.URL + "/oauth2/authorize", TokenURL: p.srv.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	loc, err := loginflow.New(p.srv.URL, nil).Authorize(tb.Context(),
		cfg.AuthCodeURL("state-"+uuid.NewString(), oauth2.S256ChallengeOption(verifier)), email, "correct horse battery staple")
	if err != nil || loc.Query().Get("code") == "" {
		tb.Fatalf("login ended at %v (%v), want a redirect with a code", loc, err)
	}
	tok, err := cfg.Exchange(tb.Context(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		tb.Fatal(err)
	}
	return tok.AccessToken
}

// enforcerAuthorizer is the resource API's Authorizer over a policies.Enforcer, as
// cmd/gatehouse wires it: a request the enforcer cannot match is a denial.
type enforcerAuthorizer struct{ enf *policies.Enforcer }

func (a enforcerAuthorizer) Authorize(_ context.Context, subject, object, action string) (resource.Decision, error) {
	d, err := a.enf.Check(subject, object, action)
	return resource.Decision{Allowed: err == nil && d.Allowed, Revision: d.Revision}, nil
}

// replica is one resource server: the todos API with its own database handle and its own
// enforcer, which only LISTEN/NOTIFY (and reconnections) move (its poll is an hour).
type replica struct {
	*httptest.Server
	name string
	enf  *policies.Enforcer
}

func startReplica(t *testing.T, p *adminProvider, name, dbURL string) *replica {
	t.Helper()
	db, err := database.Open(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	enf, err := policies.NewEnforcer(t.Context(), db, policies.WithPollInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := enf.Watch(ctx, dbURL); err != nil {
			t.Errorf("%s: Watch: %v", name, err)
		}
	}()
	st, err := rsqlstore.New(db, []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	v, err := bearer.New(t.Context(), bearer.Config{Issuer: p.srv.URL, Audience: apiAudience, ResourceURL: apiAudience})
	if err != nil {
		t.Fatal(err)
	}
	api, err := resource.NewServer(resource.Config{Authorizer: enforcerAuthorizer{enf}, AdminWithoutIntrospection: true}, st, v.Middleware, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(func() { srv.Close(); cancel(); wg.Wait(); db.Close() })
	return &replica{Server: srv, name: name, enf: enf}
}

// get calls the replica and returns the status and the policy revision header.
func (r *replica) get(t *testing.T, token, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", r.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := r.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get(resource.PolicyRevisionHeader)
}

// postPolicy sends a change to the admin API and returns its revision.
func (p *adminProvider) postPolicy(t *testing.T, token string, ch map[string]any) int64 {
	t.Helper()
	b, _ := json.Marshal(ch)
	req, _ := http.NewRequestWithContext(t.Context(), "POST", p.srv.URL+"/admin/v1/policies", strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rev struct {
		Revision int64 `json:"revision"`
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 || json.Unmarshal(body, &rev) != nil {
		t.Fatalf("POST /admin/v1/policies: %d %s", resp.StatusCode, body)
	}
	return rev.Revision
}

// propagation makes a change through the admin API and polls every replica until it answers
// path with want, carrying the change's revision. It returns, per replica, the delay from the
// moment the change was sent (so it includes the admin request) and asserts the 1 s bound.
func propagation(t *testing.T, p *adminProvider, adminTok string, ch map[string]any, replicas []*replica, token, path string, want int) (int64, []time.Duration) {
	t.Helper()
	const bound, give = time.Second, 10 * time.Second
	start := time.Now()
	rev := p.postPolicy(t, adminTok, ch)
	committed := time.Since(start)
	delays := make([]time.Duration, len(replicas))
	var wg sync.WaitGroup
	for i, r := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				status, hdr := r.get(t, token, path)
				if status == want && hdr == strconv.FormatInt(rev, 10) {
					delays[i] = time.Since(start)
					return
				}
				if time.Since(start) > give {
					delays[i] = -1
					t.Errorf("%s: still %d at revision %s after %v; want %d at revision %d", r.name, status, hdr, give, want, rev)
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	for i, r := range replicas {
		t.Logf("revision %d: %s enforces it %v after the admin request was sent (the request took %v)", rev, r.name, delays[i].Round(100*time.Microsecond), committed.Round(100*time.Microsecond))
		if delays[i] > bound {
			t.Errorf("%s: enforced after %v, over the %v bound", r.name, delays[i], bound)
		}
	}
	return rev, delays
}

// pgURL is the URL of the PostgreSQL test database db.
func pgURL(t *testing.T, db *database.DB) string {
	t.Helper()
	var name string
	if err := db.GetContext(t.Context(), &name, "SELECT current_database()"); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(os.Getenv(dbtest.EnvDatabaseURL))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// TestPolicyPropagation_RB09: the provider with the admin API and two resource servers, each
// with its own enforcer on its own database handle, so that only PostgreSQL's LISTEN/NOTIFY
// carries changes (their poll is an hour). A rule added through the admin API is enforced by
// both within 1 s and their responses carry the new revision; after the listening connections
// are killed with pg_terminate_backend, the next change (sent while they reconnect, so its
// notification may be lost) is enforced by both within 1 s again (reconnect and reload), and the
// one after (a notification on the new connections) too.
func TestPolicyPropagation_RB09(t *testing.T) {
	db := dbtest.NewPostgres(t)
	dbURL := pgURL(t, db)
	p := startAdminProvider(t, db)
	alice := p.newUser(t, "alice@example.com")
	bob := p.newUser(t, "bob@example.com")
	ctx := t.Context()
	if _, err := p.svc.Assign(ctx, "cli:operator", alice, "role:admin", "first admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.svc.Assign(ctx, "cli:operator", bob, "role:user", ""); err != nil {
		t.Fatal(err)
	}
	adminTok := p.login(t, p.adminSPA, "alice@example.com", "openid", admin.Scope)
	bobTok := p.login(t, p.todosSPA, "bob@example.com", "openid", resource.ScopeRead, resource.ScopeWrite, resource.ScopeAdmin)
	replicas := []*replica{startReplica(t, p, "resource-1", dbURL), startReplica(t, p, "resource-2", dbURL)}
	waitFor(t, "both replicas listening", 5*time.Second, func() bool { return countListeners(t, db) == 2 })
	rev0 := strconv.FormatInt(replicas[0].enf.Revision(), 10)
	for _, r := range replicas {
		if status, hdr := r.get(t, bobTok, "/api/v1/admin/todos"); status != 403 || hdr != rev0 {
			t.Fatalf("%s: bob on the admin view before the grant: %d at revision %s, want 403 at %s", r.name, status, hdr, rev0)
		}
		if status, _ := r.get(t, bobTok, "/api/v1/todos"); status != 200 {
			t.Fatalf("%s: bob lists his todos: %d", r.name, status)
		}
	}

	// 1. A grant through the admin API.
	grant := policies.Allowing(bob, "/api/v1/admin/todos", "GET")
	propagation(t, p, adminTok, map[string]any{"add": []policies.Rule{grant}, "comment": "bob audits todos"}, replicas, bobTok, "/api/v1/admin/todos", 200)

	// 2. Kill the listening connections, then change at once: a deny over role:user's allow.
	var killed int
	if err := db.GetContext(ctx, &killed, "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1) k", database.ListenApplicationName); err != nil {
		t.Fatal(err)
	}
	if killed != 2 {
		t.Fatalf("terminated %d listening connections, want 2", killed)
	}
	t.Logf("terminated the %d listening connections (application_name %s)", killed, database.ListenApplicationName)
	deny := policies.Denying(bob, "/api/v1/todos", "GET")
	propagation(t, p, adminTok, map[string]any{"add": []policies.Rule{deny}, "comment": "bob may not list"}, replicas, bobTok, "/api/v1/todos", 403)
	waitFor(t, "both replicas listening again", 5*time.Second, func() bool { return countListeners(t, db) == 2 })

	// 3. A notification on the new connections: lift the deny and take the grant back.
	rev, _ := propagation(t, p, adminTok, map[string]any{"remove": []policies.Rule{deny, grant}}, replicas, bobTok, "/api/v1/todos", 200)
	for _, r := range replicas {
		if status, hdr := r.get(t, bobTok, "/api/v1/admin/todos"); status != 403 || hdr != strconv.FormatInt(rev, 10) {
			t.Errorf("%s: bob on the admin view after the grant was removed: %d at revision %s, want 403 at %d", r.name, status, hdr, rev)
		}
	}
}

// countListeners counts the LISTEN connections of the policy watchers on db.
func countListeners(t *testing.T, db *database.DB) int {
	t.Helper()
	var n int
	if err := db.GetContext(t.Context(), &n, "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND query ILIKE 'LISTEN%'", database.ListenApplicationName); err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkTodosPolicyCheck measures the todos API over HTTP (GET one todo with a real ES256
// token of the provider, keep-alive, one request at a time) with the policy check off (no
// Authorizer) and on (the real policies.Enforcer holding the default policy plus 10,000 rules
// for 1,000 users), both alternately in one loop (paired, the fairest comparison), and the
// check alone. Target: the check costs under 10% of the request. Run:
//
//	flock /tmp/gatehouse-heavy.lock go test ./internal/e2e -run '^$' -bench BenchmarkTodosPolicyCheck -benchtime 3s -count 3
func BenchmarkTodosPolicyCheck(b *testing.B) {
	db := dbtest.NewSQLite(b)
	p := startAdminProvider(b, db)
	bob := p.newUser(b, "bob@example.com")
	ctx := b.Context()
	rules := []policies.Rule{policies.Assigning(bob, "role:user")}
	for i := range 1000 {
		u := policies.UserSubject(fmt.Sprintf("bench-user-%04d", i))
		role := policies.RoleSubject(fmt.Sprintf("team-%02d", i%50))
		rules = append(rules,
			policies.Assigning(u, role),
			policies.Allowing(u, fmt.Sprintf("/api/v1/projects/p%d/*", i), "GET"),
			policies.Allowing(u, fmt.Sprintf("/api/v1/projects/p%d/items/:id", i), "PUT"),
			policies.Denying(u, fmt.Sprintf("/api/v1/projects/p%d/secret", i), "*"),
			policies.Allowing(u, fmt.Sprintf("/api/v1/reports/r%d", i), "GET"),
		)
		if i < 50 {
			for j := range 100 {
				rules = append(rules, policies.Allowing(role, fmt.Sprintf("/api/v1/teams/t%d/boards/b%d/:id", i, j), "GET"))
			}
		}
	}
	if _, err := p.svc.Apply(ctx, "bench", policies.Change{Add: rules, Comment: "bench load"}); err != nil {
		b.Fatal(err)
	}
	enf, err := policies.NewEnforcer(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	pol, _ := p.svc.List(ctx)
	b.Logf("policy: %d permissions, %d assignments, revision %d", len(pol.Permissions), len(pol.Assignments), pol.Revision)
	tok := p.login(b, p.todosSPA, "bob@example.com", "openid", resource.ScopeRead, resource.ScopeWrite)
	st, err := rsqlstore.New(db, []byte(strings.Repeat("k", 32)))
	if err != nil {
		b.Fatal(err)
	}
	v, err := bearer.New(ctx, bearer.Config{Issuer: p.srv.URL, Audience: apiAudience, ResourceURL: apiAudience})
	if err != nil {
		b.Fatal(err)
	}
	serve := func(cfg resource.Config) *httptest.Server {
		api, err := resource.NewServer(cfg, st, v.Middleware, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(api)
		b.Cleanup(srv.Close)
		return srv
	}
	off, on := serve(resource.Config{}), serve(resource.Config{Authorizer: enforcerAuthorizer{enf}})
	req := func(srv *httptest.Server, method, path, body string) (*http.Response, []byte) {
		r, _ := http.NewRequestWithContext(ctx, method, srv.URL+path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+tok)
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		resp, err := srv.Client().Do(r)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, out
	}
	resp, body := req(on, "POST", "/api/v1/todos", `{"title":"bench"}`)
	var todo struct {
		ID string `json:"id"`
	}
	if resp.StatusCode != 201 || json.Unmarshal(body, &todo) != nil {
		b.Fatalf("create todo: %d %s", resp.StatusCode, body)
	}
	path := "/api/v1/todos/" + todo.ID
	for _, bc := range []struct {
		name string
		srv  *httptest.Server
	}{{"policy=off", off}, {"policy=on", on}, {"policy=off", off}, {"policy=on", on}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if resp, body := req(bc.srv, "GET", path, ""); resp.StatusCode != 200 {
					b.Fatalf("%d %s", resp.StatusCode, body)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
	// Paired: each iteration sends the same request to both servers, so that drift of the
	// machine (other processes, GC, the kernel's scheduling) lands on both sides alike.
	b.Run("paired", func(b *testing.B) {
		var offT, onT time.Duration
		for b.Loop() {
			t0 := time.Now()
			if resp, body := req(off, "GET", path, ""); resp.StatusCode != 200 {
				b.Fatalf("%d %s", resp.StatusCode, body)
			}
			t1 := time.Now()
			if resp, body := req(on, "GET", path, ""); resp.StatusCode != 200 {
				b.Fatalf("%d %s", resp.StatusCode, body)
			}
			onT += time.Since(t1)
			offT += t1.Sub(t0)
		}
		b.ReportMetric(float64(offT.Nanoseconds())/float64(b.N), "off-ns/req")
		b.ReportMetric(float64(onT.Nanoseconds())/float64(b.N), "on-ns/req")
		b.ReportMetric(100*(float64(onT)-float64(offT))/float64(offT), "overhead-%")
	})
	b.Run("check-alone", func(b *testing.B) {
		for b.Loop() {
			if d, err := enf.Check(bob, path, "GET"); err != nil || !d.Allowed {
				b.Fatal(d, err)
			}
		}
	})
}
