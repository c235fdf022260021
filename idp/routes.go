package idp

import (
	"io/fs"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-id/gatehouse/internal/web"
)

// maxBody caps request bodies: OAuth requests are small forms.
const maxBody = 64 << 10

// routes lists every route and its middleware, in one place.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(web.RequestID, web.ClientIPs(s.trusted), web.AccessLog(s.log), web.Metrics(s.metrics, "idp"), web.Recover(s.log),
		web.SecurityHeaders(s.cfg.Secure()), web.LimitBody(maxBody))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusNotFound, "Page not found", "There is nothing at this address.", "")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	})

	// Metadata and keys: public, cacheable, CORS for any origin (HD-05).
	r.Group(func(r chi.Router) {
		r.Use(corsAny)
		r.Get("/.well-known/openid-configuration", s.handleDiscovery)
		r.Get("/.well-known/oauth-authorization-server", s.handleDiscovery)
		r.Get("/.well-known/jwks.json", s.handleJWKS)
	})

	// OAuth 2.0 endpoints.
	r.Get("/oauth2/authorize", s.handleAuthorize)
	r.Post("/oauth2/authorize", s.handleAuthorize) // OIDC Core §3.1.2.1: GET and POST
	r.Group(func(r chi.Router) {
		r.Use(s.corsClients)
		// Per IP first (cheap), then per client named in the request (RL-07).
		r.With(s.limits.token, s.parseTokenForm, s.limits.tokenClient).Post("/oauth2/token", s.handleToken)
		r.With(s.limits.revoke).Post("/oauth2/revoke", s.handleRevoke)
		r.Get("/userinfo", s.handleUserinfo)
		r.Post("/userinfo", s.handleUserinfo)
		r.Options("/oauth2/token", s.handlePreflight)
		r.Options("/oauth2/revoke", s.handlePreflight)
		r.Options("/userinfo", s.handlePreflight)
	})
	r.With(s.limits.introspect).Post("/oauth2/introspect", s.handleIntrospect)
	r.With(s.limits.token).Post("/oauth2/par", s.handlePAR) // authenticates clients: counted with the token endpoint
	r.Get("/oauth2/logout", s.handleEndSession)
	r.Post("/oauth2/logout", s.handleEndSession)

	// Pages. Cross-origin POSTs are refused by the browser's Fetch metadata (SE-05) on top of
	// the double-submit CSRF token each form carries.
	cop := http.NewCrossOriginProtection()
	r.Group(func(r chi.Router) {
		r.Use(cop.Handler, noStore)
		r.Get("/", s.handleHome)
		r.Get("/login", s.handleLoginPage)
		// Counted per IP before the form is read, so a limited attempt costs no password hash
		// (RL-01). chi matches /login exactly: /login/ and /LOGIN are 404s, not a way around.
		r.With(s.limits.login).Post("/login", s.handleLogin)
		r.Post("/consent", s.handleConsent)
		// Account pages (accounts.go): the forms that send mail or create accounts are counted
		// per IP before the form is read, like /login.
		r.Get("/register", s.handleRegisterPage)
		r.With(s.limits.register).Post("/register", s.handleRegister)
		r.Get("/verify", s.handleVerifyPage)
		r.Post("/verify", s.handleVerify)
		r.Get("/reset", s.handleResetRequestPage)
		r.With(s.limits.reset).Post("/reset", s.handleResetRequest)
		r.Get("/reset/confirm", s.handleResetPage)
		r.With(s.limits.reset).Post("/reset/confirm", s.handleReset)
		r.Get("/password", s.handlePasswordPage)
		r.With(s.limits.login).Post("/password", s.handlePassword)
		r.Get("/apps", s.handleAppsPage)
		r.Post("/apps/revoke", s.handleAppsRevoke)
		r.Get("/logout", s.handleLogoutPage)
		r.Post("/logout", s.handleLogout)
	})
	static, _ := fs.Sub(templateFS, "templates")
	r.Get("/static/gatehouse.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		http.ServeFileFS(w, r, static, "gatehouse.css")
	})

	// Operations.
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		web.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", s.handleReady)
	return r
}

// MetricsHandler serves the Prometheus metrics. It is not routed on the public listener:
// cmd/gatehouse serves it on its own address (--metrics-addr, loopback by default).
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{})
}

func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if err := s.Ready(r.Context()); err != nil {
		s.log.Error("not ready", "err", err)
		web.JSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	web.JSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
