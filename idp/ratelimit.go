package idp

import (
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"time"

	"github.com/ory/fosite"
	"github.com/ulule/limiter/v3"

	"github.com/gatehouse-id/gatehouse/internal/web"
)

// Default rates, in ulule's "requests-period" format (see the README's protocol choices).
const (
	// DefaultLoginRate: a person mistyping a password needs a handful of attempts a minute;
	// twenty leaves room for a household or an office behind one address while a credential
	// stuffing bot gets twenty guesses a minute per address instead of thousands.
	DefaultLoginRate = "20-M"
	// DefaultTokenRate per client IP: secrets, codes and refresh tokens are 256-bit, so this
	// stops floods, not guessing; a backend caching its 10-minute tokens needs far less.
	DefaultTokenRate = "1200-M"
	// DefaultTokenClientRate per client_id, across all addresses (refreshes of a busy SPA).
	DefaultTokenClientRate = "6000-M"
	// DefaultAccountRate per client IP, each for POST /register and for the password-reset
	// forms: a person registers or resets once; ten a minute lets a shared address through
	// while mass registration and reset-mail floods from one network stop.
	DefaultAccountRate = "10-M"
	// DefaultIntrospectRate per client IP, each for introspection and for revocation.
	DefaultIntrospectRate = "6000-M"
)

// DefaultRefusalDelay is how long a refused sign-in, registration or reset request waits for
// its answer (Limits.RefusalDelay), and DefaultRefusalHold how many wait at once per process;
// the rest are answered at once. A second is little next to the Retry-After a person is shown;
// 200 bots each waiting for their answer then make at most 200 attempts a second, which this
// process refuses without noticing (see BENCHMARKS.md, "Under a login flood"). A held answer
// costs a parked goroutine and its connection, some tens of KiB: 1,024 of them a few tens of MiB.
const (
	DefaultRefusalDelay = time.Second
	DefaultRefusalHold  = 1024
)

// Limits are the rate limits (RL-01, RL-07). Empty rates take the defaults.
type Limits struct {
	// Store counts; nil is a per-process memory store. Use web.NewRedisLimitStore so that
	// every instance counts together (RL-04).
	Store limiter.Store
	// Login limits POST /login per client IP.
	Login string
	// Token limits POST /oauth2/token per client IP, TokenClient per client_id.
	Token, TokenClient string
	// Introspect limits POST /oauth2/introspect and, counted apart, /oauth2/revoke per IP.
	Introspect string
	// Account limits POST /register and, counted apart, the password-reset forms per IP.
	Account string
	// PasswordChecks bounds, per process, the password hashes that sign-ins from browsers
	// without a device cookie for the address, and registrations, may start (a rate such as
	// "8-S"); over it they get 503 with Retry-After before anything else is done. Empty: 2 a
	// second per CPU. See DefaultPasswordChecks.
	PasswordChecks string
	// RefusalDelay holds the answer of a sign-in, registration or reset request refused by a
	// limit above, by the per-account throttle or for want of password-check budget, and
	// RefusalHold bounds how many are held at once (web.Tarpit). Zero takes the defaults;
	// a negative delay answers at once.
	RefusalDelay time.Duration
	RefusalHold  int
}

// DefaultPasswordChecks is the default budget of anonymous password checks: 2 a second per CPU.
// A hash takes about 20 ms of a CPU, but it also streams 7 MiB through the caches the other
// requests use; measured on 2 cores, a flood of 1,000 wrong passwords a second from 1,000
// addresses then leaves the token endpoint 85 % of its throughput (4 a second per CPU left
// 70 %, no budget 59 %). That is still 7,200 sign-ins an hour per CPU from new browsers;
// browsers that signed in to the address before are not counted. Raise it
// (GATEHOUSE_PASSWORD_CHECK_RATE) where more people sign in from new browsers.
func DefaultPasswordChecks() string { return strconv.Itoa(2*runtime.GOMAXPROCS(0)) + "-S" }

// limits are the built middlewares.
type limits struct {
	login, token, tokenClient, introspect, revoke, register, reset func(http.Handler) http.Handler
}

func (s *Server) buildLimits(l Limits) error {
	store := l.Store
	if store == nil {
		store = web.NewMemoryLimitStore()
	}
	rate := func(setting, v, def string) (limiter.Rate, error) {
		if v == "" {
			v = def
		}
		return web.ParseRate(setting, v)
	}
	var err error
	var login, token, client, intro, account limiter.Rate
	if login, err = rate("login rate", l.Login, DefaultLoginRate); err != nil {
		return err
	}
	if token, err = rate("token rate", l.Token, DefaultTokenRate); err != nil {
		return err
	}
	if client, err = rate("token client rate", l.TokenClient, DefaultTokenClientRate); err != nil {
		return err
	}
	if intro, err = rate("introspection rate", l.Introspect, DefaultIntrospectRate); err != nil {
		return err
	}
	if account, err = rate("account rate", l.Account, DefaultAccountRate); err != nil {
		return err
	}
	checks, err := rate("password check rate", l.PasswordChecks, DefaultPasswordChecks())
	if err != nil {
		return err
	}
	delay, hold := l.RefusalDelay, l.RefusalHold
	if delay == 0 {
		delay = DefaultRefusalDelay
	}
	if hold == 0 {
		hold = DefaultRefusalHold
	}
	if hold < 0 {
		return fmt.Errorf("refusal hold %d: want a positive number", hold)
	}
	s.tarpit = web.NewTarpit(delay, hold)
	// Per process on purpose: the budget protects this process's CPU.
	s.passwordChecks = limiter.New(web.NewMemoryLimitStore(), checks)
	s.limits = limits{
		login:       web.NewLimit("login", store, login, s.log).ByIP(s.denyPage),
		token:       web.NewLimit("token", store, token, s.log).ByIP(denyOAuth),
		tokenClient: web.NewLimit("token-client", store, client, s.log).By(tokenClientID, denyOAuth),
		introspect:  web.NewLimit("introspect", store, intro, s.log).ByIP(denyOAuth),
		revoke:      web.NewLimit("revoke", store, intro, s.log).ByIP(denyOAuth),
		register:    web.NewLimit("register", store, account, s.log).ByIP(s.denyPage),
		reset:       web.NewLimit("reset", store, account, s.log).ByIP(s.denyPage),
	}
	return nil
}

// anonymousCheckAllowed takes one password check from the process's budget for a sign-in
// without a device cookie or a registration (Limits.PasswordChecks); false means answer 503.
func (s *Server) anonymousCheckAllowed(r *http.Request) bool {
	c, err := s.passwordChecks.Get(r.Context(), "password-checks")
	return err == nil && !c.Reached
}

// denyPage is the HTML answer of a limited page: the same for every account (RL-08).
func (s *Server) denyPage(w http.ResponseWriter, r *http.Request, status int) {
	s.tarpit.Hold(r.Context())
	msg := "Too many attempts from your network. Wait " + retryText(w) + " and try again."
	if status == http.StatusServiceUnavailable {
		msg = "Sign-in is unavailable for a moment. Try again in a few seconds."
	}
	s.renderError(w, r, status, "Too many attempts", msg, "rate_limited")
}

// denyOAuth is the RFC 6749 §5.2-shaped JSON answer of a limited OAuth endpoint.
func denyOAuth(w http.ResponseWriter, _ *http.Request, status int) {
	desc := "Too many requests. Retry after " + retryText(w) + "."
	if status == http.StatusServiceUnavailable {
		desc = "The service is temporarily unavailable. Retry in a few seconds."
	}
	web.JSON(w, status, map[string]string{"error": "temporarily_unavailable", "error_description": desc})
}

func retryText(w http.ResponseWriter) string {
	n, _ := strconv.Atoi(w.Header().Get("Retry-After"))
	if n <= 1 {
		return "a second"
	}
	return fmt.Sprintf("%d seconds", n)
}

// tokenClientID keys the per-client limit: the client a token request names (the Basic user
// name, form-decoded per RFC 6749 §2.3.1, or the client_id parameter) together with the caller's
// network. The name is the caller's to choose and is counted before authentication, so keyed on
// the name alone a few addresses could spend a real client's allowance and lock it out (RL-08).
// parseTokenForm has already parsed the body, so nothing is consumed before fosite reads
// r.PostForm.
func tokenClientID(r *http.Request) string {
	id := r.PostForm.Get("client_id")
	if u, _, ok := r.BasicAuth(); ok {
		id = u
		if d, err := url.QueryUnescape(u); err == nil {
			id = d
		}
	}
	return id + "@" + web.IPKey(web.ClientIP(r.Context()))
}

// parseTokenForm parses the token request's body before the per-client limit reads it, and
// answers a body that cannot be read as the token endpoint does.
func (s *Server) parseTokenForm(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			s.oauth.WriteAccessError(r.Context(), w, fosite.NewAccessRequest(NewSession()), fosite.ErrInvalidRequest.WithHint("The request body could not be read."))
			return
		}
		next.ServeHTTP(w, r)
	})
}
