package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/idp/sqlstore"
	"github.com/gatehouse-id/gatehouse/internal/loginflow"
)

// errSkip marks a scenario that cannot run against this target.
var errSkip = errors.New("skipped")

// benchLimits lift the token and introspection limits in self-contained mode: that load comes
// from 127.0.0.1 and one client, so the production limits would measure the limiter. The login
// limit stays at its default: scenarios that sign in (authorize, login-flood) come through the
// trusted-proxy header from many addresses, as people behind a load balancer do.
var benchLimits = idp.Limits{Token: "100000000-M", TokenClient: "100000000-M", Introspect: "100000000-M"}

// benchProxies trust the loopback load generator's X-Forwarded-For in self-contained mode.
var benchProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}

// benchTarget is the provider under load and the credentials scenarios use. In self-contained
// mode it provisions clients and a user on first use and deletes them on close.
type benchTarget struct {
	issuer      string
	resourceURL string // empty: resource scenarios skip
	transport   *http.Transport
	concurrency int
	timeout     time.Duration

	// Remote mode: from flags. Self-contained mode: provisioned on first use.
	clientID, clientSecret string
	webID, webSecret       string
	redirectURI            string
	usernames              []string
	password               string
	userTurn               atomic.Uint64

	// app is a third-party client (consent screen) allowed the todos scopes for the resource
	// API; remote mode uses the web client for it.
	appID, appSecret string
	// rs is a user's access token for the resource API and their todos, made once.
	rs resourceState
	// pool holds the authorize scenario's people, made once.
	pool       chan *person
	peopleOnce sync.Once
	peopleErr  error

	store    *sqlstore.Store // nil in remote mode
	policies *policyRuntime  // self-contained mode: the bench user gets role:user
	created  []string        // client IDs to delete
	userIDs  []string
	stop     func(ctx context.Context)
}

func newBenchTransport(concurrency int) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = concurrency
	tr.MaxConnsPerHost = concurrency
	return tr
}

func remoteTarget(c *benchConfig) (*benchTarget, error) {
	u, err := url.Parse(c.issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--issuer %q: want an http(s) URL", c.issuer)
	}
	if c.resourceURL != "" {
		if u, err := url.Parse(c.resourceURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--resource-url %q: want an http(s) URL", c.resourceURL)
		}
	}
	return &benchTarget{
		issuer: strings.TrimSuffix(c.issuer, "/"), resourceURL: strings.TrimSuffix(c.resourceURL, "/"),
		transport: newBenchTransport(max(c.concurrency, c.withConcurrency)), concurrency: c.concurrency, timeout: c.timeout,
		clientID: c.clientID, clientSecret: c.clientSecret, webID: c.clientID, webSecret: c.clientSecret,
		appID: c.clientID, appSecret: c.clientSecret,
		redirectURI: c.redirectURI, usernames: splitList(c.username), password: c.password,
		stop: func(context.Context) {},
	}, nil
}

// startSelfContained serves Gatehouse in process on 127.0.0.1: on the PostgreSQL database of
// --database, or else on a fresh SQLite file in a temporary directory.
func startSelfContained(ctx context.Context, g *globals, c *benchConfig) (t *benchTarget, err error) {
	gg := *g
	var dir string
	if !strings.HasPrefix(g.database, "postgres://") && !strings.HasPrefix(g.database, "postgresql://") {
		if dir, err = os.MkdirTemp("", "gatehouse-bench-"); err != nil {
			return nil, err
		}
		gg.database = "sqlite:" + filepath.Join(dir, "bench.db")
		if gg.secret == "" {
			raw := make([]byte, 32)
			_, _ = rand.Read(raw)
			gg.secret = base64.RawURLEncoding.EncodeToString(raw)
		}
	}
	var cleanups []func()
	defer func() {
		if err != nil {
			for i := len(cleanups) - 1; i >= 0; i-- {
				cleanups[i]()
			}
		}
	}()
	if dir != "" {
		cleanups = append(cleanups, func() { os.RemoveAll(dir) })
	}
	db, store, err := openStore(ctx, &gg, true, sqlstore.WithRefreshGrace(10*time.Second), sqlstore.WithClientCache(time.Second))
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { db.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { ln.Close() })
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { rln.Close() })
	issuer := "http://" + ln.Addr().String()
	log := slog.New(slog.DiscardHandler)
	sc := &serveConfig{issuer: issuer, accessAlg: idp.ES256, accessLifespan: 10 * time.Minute,
		resourceAudience: "http://" + rln.Addr().String()}
	// The provider and the resource API use the access policy as `gatehouse serve` does.
	pctx, stopPolicies := context.WithCancel(context.WithoutCancel(ctx))
	cleanups = append(cleanups, stopPolicies)
	pr, err := openPolicies(pctx, "", db, gg.database, false, log)
	if err != nil {
		return nil, err
	}
	lim := benchLimits
	lim.PasswordChecks = passwordCheckDefault() // as serve's default
	srv, _, _, err := newIDPServer(ctx, &gg, sc, db, store, log, benchProxies, lim, pr)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cleanups = append(cleanups, cancel)
	done := make(chan error, 1)
	go func() {
		done <- serveAll(sctx, []listening{
			{name: "bench", handler: srv, ln: ln},
			// The resource API's verifier discovers the provider's keys, so it is built once
			// the provider serves.
			{name: "bench-resource", ln: rln, build: func(ctx context.Context) (http.Handler, error) {
				return newResourceServer(ctx, &gg, sc, db, log, pr)
			}},
		}, 10*time.Second, log)
	}()

	t = &benchTarget{issuer: issuer, resourceURL: sc.resourceAudience, transport: newBenchTransport(max(c.concurrency, c.withConcurrency)),
		concurrency: c.concurrency, timeout: c.timeout, store: store, policies: pr}
	t.stop = func(ctx context.Context) {
		for _, id := range t.created {
			_ = store.DeleteClient(ctx, id)
		}
		// The store cannot delete users: end the bench users' sessions and disable them.
		for _, id := range t.userIDs {
			_ = store.DeleteUserLoginSessions(ctx, id)
			_ = store.UpdateUser(ctx, id, func(u *idp.User) error { u.Disabled = true; return nil })
		}
		t.transport.CloseIdleConnections()
		cancel()
		<-done
		stopPolicies()
		db.Close()
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	return t, nil
}

func (t *benchTarget) close(ctx context.Context) { t.stop(ctx) }

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// peakRSS is the process's peak memory in self-contained mode, where the process is the server;
// 0 in remote mode, where it is only the load generator.
func (t *benchTarget) peakRSS() float64 {
	if t.store == nil {
		return 0
	}
	return peakRSSMB()
}

// machineClient returns a confidential client allowed client_credentials and introspection.
func (t *benchTarget) machineClient(ctx context.Context) (id, secret string, err error) {
	if t.clientID != "" || t.store == nil {
		return t.clientID, t.clientSecret, nil
	}
	now := time.Now()
	secret = idp.GenerateClientSecret()
	c := &idp.Client{
		ID: "bench-" + uuid.NewString(), Name: "gatehouse bench (machine)", SecretHash: idp.HashClientSecret([]byte(secret)),
		TokenEndpointAuthMethod: idp.AuthMethodBasic, GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{},
		Scopes: []string{"todos:read"}, Audiences: []string{"https://api.example"}, CreatedAt: now, UpdatedAt: now,
	}
	if err := t.createClient(ctx, c); err != nil {
		return "", "", err
	}
	t.clientID, t.clientSecret = c.ID, secret
	return t.clientID, t.clientSecret, nil
}

// webClient returns a first-party confidential client with the code and refresh grants, and a
// user who may sign in to it.
func (t *benchTarget) webClient(ctx context.Context) error {
	if t.store == nil || t.webID != "" {
		return t.benchUser(ctx)
	}
	now := time.Now()
	secret := idp.GenerateClientSecret()
	c := &idp.Client{
		ID: "bench-web-" + uuid.NewString(), Name: "gatehouse bench (web)", FirstParty: true,
		SecretHash: idp.HashClientSecret([]byte(secret)), TokenEndpointAuthMethod: idp.AuthMethodBasic,
		RedirectURIs: []string{"http://127.0.0.1/bench/callback"}, GrantTypes: []string{"authorization_code", "refresh_token"},
		ResponseTypes: []string{"code"}, Scopes: []string{"openid", "offline_access"}, CreatedAt: now, UpdatedAt: now,
		// With no registered audience the grant's audience is the issuer, which the refresh
		// grant then refuses as not whitelisted; register the API's, as real web clients do.
		Audiences: []string{"https://api.example"},
	}
	if err := t.createClient(ctx, c); err != nil {
		return err
	}
	t.webID, t.webSecret, t.redirectURI = c.ID, secret, c.RedirectURIs[0]
	return t.benchUser(ctx)
}

func (t *benchTarget) createClient(ctx context.Context, c *idp.Client) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("bench client: %w", err)
	}
	if err := t.store.CreateClient(ctx, c); err != nil {
		return fmt.Errorf("create bench client: %w", err)
	}
	t.created = append(t.created, c.ID)
	return nil
}

// basicAuth is the client's HTTP Basic header; RFC 6749 §2.3.1 form-encodes both parts first.
func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// oauthConfig is the web client as an x/oauth2 client.
func (t *benchTarget) oauthConfig() *oauth2.Config {
	return &oauth2.Config{
		ClientID: t.webID, ClientSecret: t.webSecret, RedirectURL: t.redirectURI, Scopes: []string{"openid", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: t.issuer + "/oauth2/authorize", TokenURL: t.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
}

// refreshTokens mints n refresh tokens, each the start of its own grant, through the real code
// + PKCE flow: one browser signs in once, then authorizes n times and exchanges each code.
func (t *benchTarget) refreshTokens(ctx context.Context, n int) ([]string, error) {
	b := loginflow.New(t.issuer, t.transport)
	cfg := t.oauthConfig()
	xctx := context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: t.transport, Timeout: 30 * time.Second})
	tokens := make([]string, 0, n)
	for range n {
		verifier := oauth2.GenerateVerifier()
		loc, err := b.Authorize(ctx, cfg.AuthCodeURL(uuid.NewString(), oauth2.S256ChallengeOption(verifier),
			oauth2.SetAuthURLParam("nonce", uuid.NewString())), t.nextUser(), t.password)
		if err != nil {
			return nil, fmt.Errorf("authorize: %w", err)
		}
		if e := loc.Query().Get("error"); e != "" {
			return nil, fmt.Errorf("authorize: %s: %s", e, loc.Query().Get("error_description"))
		}
		tok, err := cfg.Exchange(xctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			return nil, fmt.Errorf("code exchange: %w", err)
		}
		if tok.RefreshToken == "" {
			return nil, errors.New("code exchange: no refresh token (is offline_access allowed?)")
		}
		tokens = append(tokens, tok.RefreshToken)
	}
	return tokens, nil
}
