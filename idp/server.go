package idp

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/ory/fosite"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/ulule/limiter/v3"

	"github.com/gatehouse-id/gatehouse/internal/web"
)

//go:embed templates
var templateFS embed.FS

// Server is the identity provider's HTTP server.
type Server struct {
	onConfirmed func(ctx context.Context, userID string) error
	cfg         Config
	store       Store
	keys        *Keys
	hasher      *PasswordHasher
	log         *slog.Logger
	oauth       fosite.OAuth2Provider
	fosite      *fosite.Config
	pages       *template.Template
	csrfKey     []byte // HMAC key for consent and logout challenges
	handler     http.Handler
	metrics     *prometheus.Registry
	trusted     []netip.Prefix
	discover    []byte // the OpenID Provider metadata, built once
	origins     atomic.Pointer[originCache]
	limits      limits
	// passwordChecks is the budget of anonymous password checks (Limits.PasswordChecks).
	passwordChecks *limiter.Limiter
	// tarpit holds refused sign-in, registration and reset answers (Limits.RefusalDelay).
	tarpit *web.Tarpit
	mailer Mailer
	mailWG sync.WaitGroup
}

// Deps are the server's collaborators, built by cmd/gatehouse.
type Deps struct {
	Store  Store
	Keys   *Keys // initialized (Init called)
	Hasher *PasswordHasher
	Log    *slog.Logger
	// Metrics is the registry /metrics serves; nil for a private one.
	Metrics *prometheus.Registry
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Limits are the rate limits of login and the OAuth endpoints; the zero value is the
	// defaults on a per-process store.
	Limits Limits
	// Mailer delivers verification and reset links; nil only logs each mail's recipient and
	// subject (the links then cannot be used: configure an outbox or SMTP).
	Mailer Mailer
	// OnConfirmed, when set, runs once a person has proved their email address: by the
	// verification link, or by a reset link of an account not yet confirmed. `gatehouse serve`
	// gives them their default roles here (not at registration, which must cost the same
	// whether or not the address is taken, AN-03). An error is logged, not shown.
	OnConfirmed func(ctx context.Context, userID string) error
}

// NewServer validates the configuration and builds the provider.
func NewServer(cfg Config, d Deps) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Store == nil || d.Keys == nil || d.Hasher == nil || d.Log == nil {
		return nil, errors.New("idp: store, keys, hasher and logger are required")
	}
	if !d.Keys.Ready() {
		return nil, errors.New("idp: signing keys are not loaded")
	}
	pages, err := template.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse templates: %w", err)
	}
	reg := d.Metrics
	if reg == nil {
		reg = web.NewRegistry()
	}
	s := &Server{
		cfg: cfg, store: d.Store, keys: d.Keys, hasher: d.Hasher, log: d.Log,
		pages: pages, csrfKey: DeriveKey(cfg.Secrets[0], "challenge"),
		metrics: reg, trusted: d.TrustedProxies, mailer: d.Mailer, onConfirmed: d.OnConfirmed,
	}
	if s.mailer == nil {
		s.mailer = logMailer{log: d.Log}
	}
	if _, err := commonPasswords(); err != nil { // the embedded list must decode
		return nil, err
	}
	if err := s.buildLimits(d.Limits); err != nil {
		return nil, fmt.Errorf("idp: %w", err)
	}
	// Held refusals near the hold's bound mean a flood of sign-ins (RL-06: alert on it).
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gatehouse_refusals_held", Help: "Refused sign-in, registration and reset requests being held before their answer (--refusal-delay).",
	}, func() float64 { return float64(s.tarpit.Held()) }))
	s.oauth, s.fosite = newProvider(cfg, d.Store, d.Keys)
	if s.discover, err = s.discoveryDocument(); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP serves the provider.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Ready reports whether the database answers and keys are loaded.
func (s *Server) Ready(ctx context.Context) error {
	if !s.keys.Ready() {
		return errors.New("signing keys not loaded")
	}
	_, err := s.store.GetClientByID(ctx, "gatehouse-readiness-probe")
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("database: %w", err)
	}
	return nil
}

// randomToken returns n random bytes, base64url encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b64(b)
}
