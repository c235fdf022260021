package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/idp/mail"
	"github.com/gatehouse-id/gatehouse/idp/sqlstore"
	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/policies"
	"github.com/gatehouse-id/gatehouse/resource"
	"github.com/gatehouse-id/gatehouse/resource/bearer"
	rsqlstore "github.com/gatehouse-id/gatehouse/resource/sqlstore"
)

// serveConfig is everything `gatehouse serve` reads.
type serveConfig struct {
	issuer           string
	idpAddr          string
	resourceAddr     string
	resourceAudience string
	// The resource API's introspection credentials (its admin view must see revocations).
	resourceIntrospectID, resourceIntrospectSecret string
	resourceAdminNoIntrospect                      bool
	migrate                                        bool
	production                                     bool
	accessLifespan                                 time.Duration
	accessAlg                                      string
	refreshGrace                                   time.Duration
	trustedProxies                                 []string
	logFormat                                      string
	logLevel                                       string
	shutdownTimeout                                time.Duration
	pprofAddr                                      string
	metricsAddr                                    string
	redisURL                                       string
	loginRate                                      string
	tokenRate                                      string
	tokenClientRate                                string
	introspectRate                                 string
	accountRate                                    string
	smtpURL                                        string
	mailFrom                                       string
	mailOutbox                                     string
	minPasswordLen                                 int
	defaultRoles                                   []string
	policyMaxStale                                 time.Duration
	passwordCheckRate                              string
	refusalDelay                                   time.Duration
}

func newServeCmd(e *env, g *globals) *cobra.Command {
	c := &serveConfig{}
	cmd := &cobra.Command{
		Use:   "serve [idp|resource]",
		Short: "Run the identity provider and the resource API",
		Long: `Run Gatehouse. With no argument the provider (--idp-addr) and the todos resource API
(--resource-addr) run in one process; "serve idp" runs only the provider and "serve resource"
only the resource API, which knows the provider by --issuer alone. On first start the database
is migrated and signing keys are created.`,
		Args:      cobra.MatchAll(cobra.MaximumNArgs(1), cobra.OnlyValidArgs),
		ValidArgs: []string{"idp", "resource"},
		RunE: func(cmd *cobra.Command, args []string) error {
			which := ""
			if len(args) == 1 {
				which = args[0]
			}
			return serve(cmd.Context(), e, g, c, which)
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.issuer, "issuer", "http://localhost:8080", "the provider's public URL, exactly as in iss (GATEHOUSE_ISSUER)")
	f.StringVar(&c.idpAddr, "idp-addr", "127.0.0.1:8080", "listen address of the provider (GATEHOUSE_IDP_ADDR)")
	f.StringVar(&c.resourceAddr, "resource-addr", "127.0.0.1:8090", "listen address of the resource API (GATEHOUSE_RESOURCE_ADDR)")
	f.StringVar(&c.resourceIntrospectID, "resource-introspection-client-id", "", "a confidential client the resource API introspects with on its admin view, so a revoked token loses it at once (GATEHOUSE_RESOURCE_INTROSPECTION_CLIENT_ID)")
	f.StringVar(&c.resourceIntrospectSecret, "resource-introspection-client-secret", "", "that client's secret (GATEHOUSE_RESOURCE_INTROSPECTION_CLIENT_SECRET)")
	f.BoolVar(&c.resourceAdminNoIntrospect, "resource-admin-without-introspection", false, "open the resource API's admin view without introspection credentials: a revoked token keeps it until it expires (GATEHOUSE_RESOURCE_ADMIN_WITHOUT_INTROSPECTION)")
	f.StringVar(&c.resourceAudience, "resource-audience", "http://localhost:8090", "the resource API's audience: tokens must name it in aud; also its public URL (GATEHOUSE_RESOURCE_AUDIENCE)")
	f.BoolVar(&c.migrate, "migrate", true, "apply database migrations on start (GATEHOUSE_MIGRATE)")
	f.BoolVar(&c.production, "production", false, "refuse unsafe settings instead of warning (GATEHOUSE_PRODUCTION)")
	f.DurationVar(&c.accessLifespan, "access-token-lifespan", 10*time.Minute, "lifetime of access tokens (GATEHOUSE_ACCESS_TOKEN_LIFESPAN)")
	f.StringVar(&c.accessAlg, "access-token-alg", idp.ES256, "access-token signing algorithm: ES256 or RS256 (GATEHOUSE_ACCESS_TOKEN_ALG)")
	f.DurationVar(&c.refreshGrace, "refresh-grace", 10*time.Second, "how long a rotated refresh token may be replayed without revoking its grant (GATEHOUSE_REFRESH_GRACE)")
	f.StringSliceVar(&c.trustedProxies, "trusted-proxies", nil, "CIDRs of reverse proxies whose X-Forwarded-For is believed (GATEHOUSE_TRUSTED_PROXIES)")
	f.StringVar(&c.redisURL, "redis-url", "", "Redis for the rate limits, shared by every instance, e.g. redis://host:6379/0 (GATEHOUSE_REDIS_URL); default: counted per process")
	f.StringVar(&c.loginRate, "login-rate", idp.DefaultLoginRate, "POST /login per client IP, as requests-period with period S, M, H or D (GATEHOUSE_LOGIN_RATE)")
	f.StringVar(&c.tokenRate, "token-rate", idp.DefaultTokenRate, "POST /oauth2/token per client IP (GATEHOUSE_TOKEN_RATE)")
	f.StringVar(&c.tokenClientRate, "token-client-rate", idp.DefaultTokenClientRate, "POST /oauth2/token per client_id (GATEHOUSE_TOKEN_CLIENT_RATE)")
	f.StringVar(&c.introspectRate, "introspect-rate", idp.DefaultIntrospectRate, "POST /oauth2/introspect and, counted apart, /oauth2/revoke per client IP (GATEHOUSE_INTROSPECT_RATE)")
	f.StringVar(&c.accountRate, "account-rate", idp.DefaultAccountRate, "POST /register and, counted apart, the password-reset forms per client IP (GATEHOUSE_ACCOUNT_RATE)")
	f.StringVar(&c.smtpURL, "smtp-url", "", "SMTP server for verification and reset mail: smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465 (GATEHOUSE_SMTP_URL); default: mail goes to the log and --mail-outbox")
	f.StringVar(&c.mailFrom, "mail-from", "", "sender of the provider's mail (GATEHOUSE_MAIL_FROM); default noreply@ the issuer's host")
	f.StringVar(&c.mailOutbox, "mail-outbox", "gatehouse-outbox", "folder that receives one .eml file per mail when --smtp-url is not set (GATEHOUSE_MAIL_OUTBOX)")
	f.IntVar(&c.minPasswordLen, "min-password-length", idp.MinPasswordLength, "least number of characters of a new password, at least 8 (GATEHOUSE_MIN_PASSWORD_LENGTH)")
	f.StringVar(&c.passwordCheckRate, "password-check-rate", "", "per process, password hashes that sign-ins from browsers without a device cookie for the address, and registrations, may start, e.g. 8-S; over it they get 503 (GATEHOUSE_PASSWORD_CHECK_RATE); default 2 a second per CPU")
	f.DurationVar(&c.refusalDelay, "refusal-delay", idp.DefaultRefusalDelay, "how long a sign-in, registration or reset request refused by a limit waits for its answer, at most 1,024 at once; 0 answers at once (GATEHOUSE_REFUSAL_DELAY)")
	f.DurationVar(&c.policyMaxStale, "policy-max-stale", 5*time.Minute, "how long an instance decides without confirming it holds the latest access-policy revision before it fails closed (503, /readyz unavailable) (GATEHOUSE_POLICY_MAX_STALE)")
	f.StringSliceVar(&c.defaultRoles, "default-roles", []string{"user"}, "roles a person who registered gets once their email address is confirmed, comma-separated; empty for none (GATEHOUSE_DEFAULT_ROLES)")
	f.StringVar(&c.logFormat, "log-format", "auto", "log format: auto, text or json (GATEHOUSE_LOG_FORMAT)")
	f.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error (GATEHOUSE_LOG_LEVEL)")
	f.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 20*time.Second, "how long SIGTERM waits for in-flight requests (GATEHOUSE_SHUTDOWN_TIMEOUT)")
	f.StringVar(&c.metricsAddr, "metrics-addr", "127.0.0.1:9464", "listen address of /metrics, apart from the public listener; empty to disable (GATEHOUSE_METRICS_ADDR)")
	f.StringVar(&c.pprofAddr, "pprof-addr", "", "serve Go's pprof profiles on this loopback address, e.g. 127.0.0.1:6060 (GATEHOUSE_PPROF_ADDR); off by default")
	return cmd
}

// servePprof serves net/http/pprof on a loopback address only: profiles reveal internals.
func servePprof(addr string, log *slog.Logger) error {
	host, _, err := net.SplitHostPort(addr)
	if ip, perr := netip.ParseAddr(host); err != nil || perr != nil || !ip.IsLoopback() {
		return fmt.Errorf("GATEHOUSE_PPROF_ADDR %q: must be a loopback address", addr)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		if err := srv.ListenAndServe(); err != nil {
			log.Error("pprof server", "err", err)
		}
	}()
	return nil
}

// checkProduction lists the settings that are unsafe for production.
func checkProduction(c *serveConfig, generatedSecret, resourceAPI bool) []string {
	var warns []string
	if generatedSecret {
		warns = append(warns, "GATEHOUSE_SECRET is not set (a generated secret file is used)")
	}
	if u, err := url.Parse(c.issuer); err == nil && u.Scheme == "http" && !isLoopbackURL(u) {
		warns = append(warns, fmt.Sprintf("issuer %s uses http on a public address; use https", c.issuer))
	}
	if c.smtpURL == "" {
		warns = append(warns, "GATEHOUSE_SMTP_URL is not set: verification and reset mail only goes to the outbox folder "+c.mailOutbox)
	}
	if u, err := url.Parse(c.resourceAudience); resourceAPI && (err != nil || isLoopbackURL(u)) {
		warns = append(warns, fmt.Sprintf("resource audience %s is a loopback address: give each API its own public URL (GATEHOUSE_RESOURCE_AUDIENCE)", c.resourceAudience))
	}
	return warns
}

func parseProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("GATEHOUSE_TRUSTED_PROXIES: %q is not a CIDR or address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func serve(ctx context.Context, e *env, g *globals, c *serveConfig, which string) error {
	log, err := newLogger(e.stderr, c.logFormat, c.logLevel)
	if err != nil {
		return err
	}
	proxies, err := parseProxies(c.trustedProxies)
	if err != nil {
		return err
	}
	if (c.resourceIntrospectID == "") != (c.resourceIntrospectSecret == "") {
		return errors.New("GATEHOUSE_RESOURCE_INTROSPECTION_CLIENT_ID and GATEHOUSE_RESOURCE_INTROSPECTION_CLIENT_SECRET go together: set both or neither")
	}
	if c.resourceIntrospectID != "" && c.resourceAdminNoIntrospect {
		return errors.New("GATEHOUSE_RESOURCE_ADMIN_WITHOUT_INTROSPECTION contradicts GATEHOUSE_RESOURCE_INTROSPECTION_CLIENT_ID: set one")
	}
	limits, closeLimits, err := buildLimits(ctx, c)
	if err != nil {
		return err
	}
	defer closeLimits()
	db, store, err := openStore(ctx, g, c.migrate, sqlstore.WithRefreshGrace(c.refreshGrace), sqlstore.WithClientCache(time.Second))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, err := openPolicies(ctx, g.policyDatabase, db, g.database, c.migrate, log, policies.WithMaxStale(c.policyMaxStale))
	if err != nil {
		return err
	}
	defer pr.Close()

	var servers []listening
	var provider *idp.Server
	if which != "resource" {
		srv, keys, generated, err := newIDPServer(ctx, g, c, db, store, log, proxies, limits, pr)
		if err != nil {
			return err
		}
		provider = srv
		for _, w := range checkProduction(c, generated, which == "") {
			if c.production {
				return fmt.Errorf("--production: %s", w)
			}
			log.Warn("unsafe for production: " + w)
		}
		if c.metricsAddr != "" {
			mln, err := net.Listen("tcp", c.metricsAddr)
			if err != nil {
				return fmt.Errorf("GATEHOUSE_METRICS_ADDR: %w", err)
			}
			mux := http.NewServeMux()
			mux.Handle("/metrics", srv.MetricsHandler())
			ms := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			go func() { _ = ms.Serve(mln) }()
			defer ms.Close()
		}
		go keys.Run(ctx)
		go cleanup(ctx, db, store, log)
		handler, err := withAdminAPI(srv, pr, strings.HasPrefix(c.issuer, "https://"), log)
		if err != nil {
			return err
		}
		servers = append(servers, listening{name: "GATEHOUSE_IDP_ADDR", addr: c.idpAddr, handler: handler})
	}
	if which == "resource" {
		for _, w := range checkProduction(c, false, true) {
			if c.production {
				return fmt.Errorf("--production: %s", w)
			}
			log.Warn("unsafe for production: " + w)
		}
	}
	if which != "idp" {
		// Built once the provider (if it runs here) is serving: the verifier discovers its keys
		// at start.
		servers = append(servers, listening{name: "GATEHOUSE_RESOURCE_ADDR", addr: c.resourceAddr,
			build: func(ctx context.Context) (http.Handler, error) {
				return newResourceServer(ctx, g, c, db, log, pr)
			}})
	}
	if c.pprofAddr != "" {
		if err := servePprof(c.pprofAddr, log); err != nil {
			return err
		}
	}
	for i := range servers {
		if servers[i].ln, err = net.Listen("tcp", servers[i].addr); err != nil {
			return fmt.Errorf("%s: %w", servers[i].name, err)
		}
	}
	// Start-up (migrations, key generation, fosite composition) leaves garbage that would set the
	// first GC target far above the steady-state heap; collect it before serving.
	debug.FreeOSMemory()

	fmt.Fprintln(e.stdout, "Gatehouse is running.")
	for _, s := range servers {
		if s.name == "GATEHOUSE_IDP_ADDR" {
			fmt.Fprintf(e.stdout, "  provider:     %s  (listening on %s, database %s)\n  discovery:    %s/.well-known/openid-configuration\n",
				c.issuer, s.ln.Addr(), database.Redact(g.database), c.issuer)
		} else {
			fmt.Fprintf(e.stdout, "  resource API: http://%s/api/v1/todos  (audience %s; docs at /docs)\n", s.ln.Addr(), c.resourceAudience)
		}
	}
	fmt.Fprint(e.stdout, `Next: create a user and a client in another terminal, for example
  gatehouse users create --email you@example.com --password-stdin
  gatehouse clients create --name demo --public --first-party --redirect-uri http://127.0.0.1:9999/callback
`)
	err = serveAll(ctx, servers, c.shutdownTimeout, log)
	if provider != nil {
		// Mail goes out in the background (its timing must reveal nothing): let what is in
		// flight finish, within the shutdown timeout.
		sent := make(chan struct{})
		go func() { provider.WaitMail(); close(sent) }()
		select {
		case <-sent:
		case <-time.After(c.shutdownTimeout):
			log.Warn("stopped with mail still being sent", "timeout", c.shutdownTimeout)
		}
	}
	return err
}

// listening is one HTTP server of the process.
type listening struct {
	name, addr string // the setting that names the address, for errors
	handler    http.Handler
	// build makes the handler when handler is nil, after the servers before it started serving.
	build func(context.Context) (http.Handler, error)
	ln    net.Listener
}

// newResourceServer builds the todos resource API: its store (cursors signed with a key derived
// from the server secret, so every instance accepts every other's cursors) and the bearer
// verifier, which knows the provider only by its issuer URL.
func newResourceServer(ctx context.Context, g *globals, c *serveConfig, db *database.DB, log *slog.Logger, pr *policyRuntime) (http.Handler, error) {
	var az resource.Authorizer
	if pr != nil {
		az = pr.resourceAuthorizer()
	}
	secrets, _, err := loadSecrets(g, db, log)
	if err != nil {
		return nil, err
	}
	st, err := rsqlstore.New(db, idp.DeriveKey(secrets[0], "resource-cursor"))
	if err != nil {
		return nil, err
	}
	bcfg := bearer.Config{Issuer: c.issuer, Audience: c.resourceAudience, ResourceURL: c.resourceAudience, Logger: log}
	if c.resourceIntrospectID != "" {
		bcfg.Introspection = &bearer.IntrospectionConfig{ClientID: c.resourceIntrospectID, ClientSecret: c.resourceIntrospectSecret}
	}
	v, err := bearer.New(ctx, bcfg)
	if err != nil {
		return nil, fmt.Errorf("resource API: %w", err)
	}
	rc := resource.Config{Authorizer: az, AdminWithoutIntrospection: c.resourceAdminNoIntrospect}
	if bcfg.Introspection != nil {
		rc.RequireActive, rc.AdminWithoutIntrospection = v.RequireActive, false
	}
	api, err := resource.NewServer(rc, st, v.Middleware, log)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+bearer.MetadataPath, v.MetadataHandler(resource.Scopes()))
	if pr != nil {
		mux.Handle("GET /readyz", readyWithPolicy(pr, nil))
	}
	mux.Handle("/", api)
	return mux, nil
}

// hashWorkers is how many passwords the provider hashes at once: one per core. Hashes run on
// low-priority threads (idp.PasswordHasher), which yield the CPU to requests only if the OS has
// more runnable threads than cores: the first call gives the Go runtime a P per worker on top
// of one per core, so that busy hashing threads never hold the Ps that requests need.
func hashWorkers() int {
	n := cores()
	raiseProcs.Do(func() { runtime.GOMAXPROCS(2 * n) })
	return n
}

// passwordCheckDefault is idp.DefaultPasswordChecks counted on the CPUs: idp's counts GOMAXPROCS,
// which serve raises for the hashing threads.
func passwordCheckDefault() string { return strconv.Itoa(2*cores()) + "-S" }

// cores is the CPUs the process may use, as GOMAXPROCS was before hashWorkers raised it.
func cores() int {
	coresOnce.Do(func() { coreCount = runtime.GOMAXPROCS(0) })
	return coreCount
}

var (
	raiseProcs, coresOnce sync.Once
	coreCount             int
)

// newIDPServer builds the provider on an open store.
func newIDPServer(ctx context.Context, g *globals, c *serveConfig, db *database.DB, store *sqlstore.Store, log *slog.Logger, proxies []netip.Prefix, limits idp.Limits, pr *policyRuntime) (*idp.Server, *idp.Keys, bool, error) {
	secrets, generated, err := loadSecrets(g, db, log)
	if err != nil {
		return nil, nil, false, err
	}
	sealer, err := idp.NewSealer(secrets)
	if err != nil {
		return nil, nil, false, fmt.Errorf("GATEHOUSE_SECRET: %w", err)
	}
	cfg := idp.Config{
		Issuer: c.issuer, Secrets: secrets, AccessTokenAlg: c.accessAlg,
		AccessTokenLifespan: c.accessLifespan, MinPasswordLength: c.minPasswordLen,
	}.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, nil, false, fmt.Errorf("invalid configuration:\n%w", err)
	}
	keys := idp.NewKeys(store, sealer, idp.KeysConfig{
		AccessTokenAlg: cfg.AccessTokenAlg,
		RetireAfter:    max(idp.DefaultRetireAfter, cfg.IDTokenLifespan+time.Hour),
		ReloadInterval: 10 * time.Second,
	}, log)
	// Instances starting together take turns creating the first keys, so each algorithm gets
	// one active key.
	release, err := db.Lock(ctx, "signing-keys-init")
	if err != nil {
		return nil, nil, false, err
	}
	err = keys.Init(ctx)
	release()
	if err != nil {
		return nil, nil, false, err
	}
	mailer, err := newMailer(c, log)
	if err != nil {
		return nil, nil, false, err
	}
	srv, err := idp.NewServer(cfg, idp.Deps{
		Store: store, Keys: keys, Hasher: idp.NewPasswordHasher(idp.DefaultArgon2, hashWorkers(), 0),
		Log: log, TrustedProxies: proxies, Limits: limits, Mailer: mailer,
		OnConfirmed: pr.defaultRoles(c.defaultRoles),
	})
	if err != nil {
		return nil, nil, false, err
	}
	return srv, keys, generated, nil
}

// newMailer is SMTP when GATEHOUSE_SMTP_URL is set, else the outbox folder; with neither (an
// empty --mail-outbox) mail only reaches the log.
func newMailer(c *serveConfig, log *slog.Logger) (idp.Mailer, error) {
	from := c.mailFrom
	if from == "" {
		host := "localhost"
		if u, err := url.Parse(c.issuer); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		}
		from = "Gatehouse <noreply@" + host + ">"
	}
	if c.smtpURL != "" {
		return mail.NewSMTP(c.smtpURL, from, log)
	}
	if c.mailOutbox == "" {
		return nil, nil // the log only (recipient and subject)
	}
	ob, err := mail.NewOutbox(c.mailOutbox, from, log)
	if err != nil {
		return nil, fmt.Errorf("GATEHOUSE_MAIL_OUTBOX: %w", err)
	}
	return ob, nil
}

// buildLimits validates the rates (the error names the setting) and connects the Redis store
// when GATEHOUSE_REDIS_URL is set; an unreachable Redis stops the start.
func buildLimits(ctx context.Context, c *serveConfig) (idp.Limits, func(), error) {
	l := idp.Limits{Login: c.loginRate, Token: c.tokenRate, TokenClient: c.tokenClientRate, Introspect: c.introspectRate, Account: c.accountRate, PasswordChecks: c.passwordCheckRate}
	if l.PasswordChecks == "" {
		l.PasswordChecks = passwordCheckDefault()
	}
	switch {
	case c.refusalDelay < 0 || c.refusalDelay > time.Minute:
		return l, nil, fmt.Errorf("GATEHOUSE_REFUSAL_DELAY %s: want 0 to 1m", c.refusalDelay)
	case c.refusalDelay == 0:
		l.RefusalDelay = -1 // answer at once
	default:
		l.RefusalDelay = c.refusalDelay
	}
	for _, r := range []struct{ setting, v string }{
		{"GATEHOUSE_LOGIN_RATE", c.loginRate}, {"GATEHOUSE_TOKEN_RATE", c.tokenRate},
		{"GATEHOUSE_TOKEN_CLIENT_RATE", c.tokenClientRate}, {"GATEHOUSE_INTROSPECT_RATE", c.introspectRate},
		{"GATEHOUSE_ACCOUNT_RATE", c.accountRate}, {"GATEHOUSE_PASSWORD_CHECK_RATE", c.passwordCheckRate},
	} {
		if r.v == "" && r.setting == "GATEHOUSE_PASSWORD_CHECK_RATE" {
			continue // the default depends on the CPUs
		}
		if _, err := web.ParseRate(r.setting, r.v); err != nil {
			return l, nil, err
		}
	}
	if c.redisURL == "" {
		return l, func() {}, nil
	}
	store, client, err := web.NewRedisLimitStore(c.redisURL, "gatehouse")
	if err != nil {
		return l, nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		_ = client.Close()
		return l, nil, fmt.Errorf("GATEHOUSE_REDIS_URL: cannot reach Redis: %w", err)
	}
	l.Store = store
	return l, func() { _ = client.Close() }, nil
}

// serveAll serves every listener until ctx ends or one fails, then drains in-flight requests
// (SIGTERM).
func serveAll(ctx context.Context, servers []listening, timeout time.Duration, log *slog.Logger) error {
	errc := make(chan error, len(servers))
	var hss []*http.Server
	var first error
	for i, s := range servers {
		if s.handler == nil {
			if s.handler, first = s.build(ctx); first != nil {
				for _, rest := range servers[i:] {
					rest.ln.Close()
				}
				break
			}
		}
		hs := &http.Server{
			Handler:           s.handler,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		hss = append(hss, hs)
		go func(ln net.Listener) { errc <- hs.Serve(ln) }(s.ln)
	}
	if first == nil {
		select {
		case first = <-errc:
		case <-ctx.Done():
		}
	}
	log.Info("shutting down: draining requests", "timeout", timeout)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, hs := range hss {
		if err := hs.Shutdown(sctx); err != nil && first == nil {
			first = fmt.Errorf("shutdown: %w", err)
		}
	}
	if first != nil && !errors.Is(first, http.ErrServerClosed) {
		return first
	}
	return nil
}

// cleanup deletes expired tokens, codes and sessions every ten minutes, on one instance at a
// time (a PostgreSQL advisory lock; the others skip that round).
func cleanup(ctx context.Context, db *database.DB, store *sqlstore.Store, log *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			release, ok, err := db.TryLock(ctx, "cleanup")
			if err != nil || !ok {
				if err != nil && ctx.Err() == nil {
					log.Error("cleanup lock", "err", err)
				}
				continue
			}
			n, err := store.DeleteExpired(ctx, time.Now())
			release()
			if err != nil && ctx.Err() == nil {
				log.Error("delete expired rows", "err", err)
			} else if n > 0 {
				log.Info("deleted expired rows", "rows", n)
			}
		}
	}
}

// isLoopbackURL reports whether u names localhost or a loopback address.
func isLoopbackURL(u *url.URL) bool {
	if u == nil {
		return false
	}
	host := u.Hostname()
	ip, err := netip.ParseAddr(host)
	return host == "localhost" || (err == nil && ip.IsLoopback())
}
