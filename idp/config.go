package idp

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// MaxAccessTokenLifespan caps every access-token lifetime, server-wide or per client.
const MaxAccessTokenLifespan = 24 * time.Hour

// DefaultRetireAfter is how long a retired signing key stays in JWKS: longer than any token it
// can have signed lives (access tokens at most MaxAccessTokenLifespan, ID tokens an hour).
const DefaultRetireAfter = MaxAccessTokenLifespan + time.Hour

// Config is the provider's configuration. cmd/gatehouse fills it from flags and the environment;
// Validate reports every problem at once.
type Config struct {
	// Issuer is the provider's URL, exactly as it appears in iss (no trailing slash).
	Issuer string
	// Secrets are the server secrets, newest first: the first derives the HMAC key for codes and
	// refresh tokens and encrypts new signing keys; the rest still verify and decrypt.
	Secrets [][]byte
	// AccessTokenAlg signs access tokens: ES256 (default) or RS256. ID tokens are always RS256.
	AccessTokenAlg string

	AccessTokenLifespan   time.Duration // default 10 min
	IDTokenLifespan       time.Duration // default 1 h
	AuthorizeCodeLifespan time.Duration // default 5 min; at most 10 (TOKEN-03)
	// RefreshTokenIdle is how long a refresh token lives unused (RT-05); each rotation starts a
	// new one. Default 14 days.
	RefreshTokenIdle time.Duration
	// GrantLifespan is the absolute lifetime of a grant's refresh tokens, counted from the
	// authorization (RT-04), unless the client sets its own. Default 30 days.
	GrantLifespan time.Duration

	SessionIdleTimeout     time.Duration // default 12 h
	SessionAbsoluteTimeout time.Duration // default 7 days

	// LoginThrottle is the per-account login throttle (RL-05); zero fields take the defaults.
	LoginThrottle ThrottlePolicy
	// MinPasswordLength is the least number of characters (Unicode code points, after NFKC) of a
	// new password; default 8, at least 8 (NIST SP 800-63B §3.1.1.2, AN-04).
	MinPasswordLength int
	// VerifyLinkLifespan is how long an email verification link works; default 24 h.
	VerifyLinkLifespan time.Duration
	// ResetLinkLifespan is how long a password reset link works; default 30 min.
	ResetLinkLifespan time.Duration
	// AccountAnswerFloor: a registration (counted from its password hash, which both paths pay)
	// or a password-reset request (from its arrival) is answered no sooner than this, so the
	// database work that differs between a taken and a free address (an account and a link
	// created, or not) does not show in the answer's timing (AN-03); default 100 ms, more than
	// a few writes take. At most 2 s.
	AccountAnswerFloor time.Duration

	// Debug sends fosite's error_debug to clients. Tests only; never in production (SE-09).
	Debug bool
}

// WithDefaults returns the configuration with every zero duration set to its default.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.AccessTokenLifespan, 10*time.Minute)
	def(&c.IDTokenLifespan, time.Hour)
	def(&c.AuthorizeCodeLifespan, 5*time.Minute)
	def(&c.RefreshTokenIdle, 14*24*time.Hour)
	def(&c.GrantLifespan, 30*24*time.Hour)
	def(&c.SessionIdleTimeout, 12*time.Hour)
	def(&c.SessionAbsoluteTimeout, 7*24*time.Hour)
	def(&c.VerifyLinkLifespan, 24*time.Hour)
	def(&c.ResetLinkLifespan, 30*time.Minute)
	def(&c.AccountAnswerFloor, 100*time.Millisecond)
	c.LoginThrottle = c.LoginThrottle.WithDefaults()
	if c.MinPasswordLength == 0 {
		c.MinPasswordLength = MinPasswordLength
	}
	if c.AccessTokenAlg == "" {
		c.AccessTokenAlg = ES256
	}
	c.Issuer = strings.TrimSuffix(c.Issuer, "/")
	return c
}

// Validate reports every problem with the configuration, naming the setting.
func (c Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "":
		errs = append(errs, errors.New("issuer: required"))
	case err != nil || !u.IsAbs() || u.Host == "":
		errs = append(errs, fmt.Errorf("issuer %q: must be an absolute URL", c.Issuer))
	case u.Scheme != "https" && u.Scheme != "http":
		errs = append(errs, fmt.Errorf("issuer %q: scheme must be https (or http for local use)", c.Issuer))
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		errs = append(errs, fmt.Errorf("issuer %q: must not have a query, fragment or user info (OIDC Discovery §3)", c.Issuer))
	}
	if len(c.Secrets) == 0 {
		errs = append(errs, errors.New("secret: required"))
	}
	for i, s := range c.Secrets {
		if len(s) < MinSecretLength {
			errs = append(errs, fmt.Errorf("secret #%d: %d bytes, at least %d required", i+1, len(s), MinSecretLength))
		}
	}
	if !slices.Contains(SupportedSigningAlgs, c.AccessTokenAlg) {
		errs = append(errs, fmt.Errorf("access-token-alg %q: want one of %s", c.AccessTokenAlg, strings.Join(SupportedSigningAlgs, ", ")))
	}
	if c.AuthorizeCodeLifespan > 10*time.Minute {
		errs = append(errs, fmt.Errorf("authorize-code-lifespan %s: at most 10m (ASVS 10.4.3)", c.AuthorizeCodeLifespan))
	}
	for name, d := range map[string]time.Duration{
		"access-token-lifespan": c.AccessTokenLifespan, "id-token-lifespan": c.IDTokenLifespan,
		"authorize-code-lifespan": c.AuthorizeCodeLifespan, "refresh-token-idle": c.RefreshTokenIdle,
		"grant-lifespan": c.GrantLifespan, "session-idle-timeout": c.SessionIdleTimeout,
		"session-absolute-timeout": c.SessionAbsoluteTimeout,
		"verify-link-lifespan":     c.VerifyLinkLifespan, "reset-link-lifespan": c.ResetLinkLifespan,
		"account-answer-floor": c.AccountAnswerFloor,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", name))
		}
	}
	if c.SessionIdleTimeout < sessionTouchInterval*5 {
		// Activity is written back at most once per sessionTouchInterval: a shorter idle
		// timeout would end sessions that are in use.
		errs = append(errs, fmt.Errorf("session-idle-timeout %s: at least %s", c.SessionIdleTimeout, sessionTouchInterval*5))
	}
	if err := c.LoginThrottle.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MinPasswordLength < MinPasswordLength || c.MinPasswordLength > 64 {
		errs = append(errs, fmt.Errorf("min-password-length %d: want %d to 64 (NIST SP 800-63B)", c.MinPasswordLength, MinPasswordLength))
	}
	if c.AccountAnswerFloor > 2*time.Second {
		errs = append(errs, fmt.Errorf("account-answer-floor %s: at most 2s", c.AccountAnswerFloor))
	}
	if c.ResetLinkLifespan > 24*time.Hour {
		errs = append(errs, fmt.Errorf("reset-link-lifespan %s: at most 24h", c.ResetLinkLifespan))
	}
	if c.VerifyLinkLifespan > 7*24*time.Hour {
		errs = append(errs, fmt.Errorf("verify-link-lifespan %s: at most 168h", c.VerifyLinkLifespan))
	}
	if c.AccessTokenLifespan > MaxAccessTokenLifespan {
		errs = append(errs, fmt.Errorf("access-token-lifespan %s: at most %s; JWT access tokens cannot be recalled", c.AccessTokenLifespan, MaxAccessTokenLifespan))
	}
	return errors.Join(errs...)
}

// Secure reports whether the issuer is https, which turns on Secure and __Host- cookies and HSTS.
func (c Config) Secure() bool { return strings.HasPrefix(c.Issuer, "https://") }
