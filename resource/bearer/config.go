package bearer

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults and bounds applied by New.
const (
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway is the largest Leeway Validate accepts (issue 3: at most 60 s).
	MaxLeeway = 60 * time.Second
	// DefaultMinRefreshInterval spaces JWKS refetches triggered by unknown kids (RS-02).
	DefaultMinRefreshInterval = 10 * time.Second
	// DefaultMinCacheTTL and DefaultMaxCacheTTL bound the JWKS Cache-Control max-age.
	DefaultMinCacheTTL = time.Minute
	DefaultMaxCacheTTL = time.Hour
	// DefaultMaxStale is how long past its cache lifetime a key set keeps verifying while the
	// issuer cannot be reached. Access tokens live minutes (the provider's default is 10 min,
	// its cap 24 h), so 6 h rides out an outage of the provider without trusting keys for ever
	// that the provider may have withdrawn meanwhile.
	DefaultMaxStale = 6 * time.Hour
	// MaxTokenSize is the largest token, in bytes, the verifier parses.
	MaxTokenSize = 8 << 10
)

// defaultAlgorithms are the signature algorithms accepted when Config.Algorithms is empty. Not
// exported, so no other package can widen it past Validate.
var defaultAlgorithms = []string{"ES256", "RS256"}

// allowedAlgorithms are the asymmetric algorithms a Config may list. none and HS* never are
// (RFC 8725 §3.1, RS-01).
var allowedAlgorithms = []string{"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}

// Config configures a Verifier. The zero values of the optional fields take the defaults above.
type Config struct {
	// Issuer is the authorization server's issuer identifier. Tokens' iss and the metadata's
	// issuer must equal it exactly (RS-06).
	Issuer string
	// Audience is this API's identifier; a token's aud must contain it (RS-04).
	Audience string
	// ResourceURL is this API's RFC 9728 resource identifier, served by MetadataHandler and
	// pointed to by resource_metadata in WWW-Authenticate. Empty: Audience, if it is an http(s)
	// URL; otherwise no metadata URL is advertised.
	ResourceURL string
	// Algorithms is the allowlist of signature algorithms. Default ES256 and RS256. Only
	// asymmetric algorithms are allowed: never none or HS*.
	Algorithms []string
	// HTTPClient fetches the metadata, the JWKS and introspection. Default: a client with a
	// 10 s timeout.
	HTTPClient *http.Client
	// Leeway is the clock skew allowed on exp, nbf and iat. Default 30 s, at most 60 s.
	Leeway time.Duration
	// MinRefreshInterval is the least time between two JWKS fetches triggered by a token with
	// an unknown kid, and between retries after a failed fetch. Default 10 s.
	MinRefreshInterval time.Duration
	// MinCacheTTL and MaxCacheTTL clamp the JWKS response's Cache-Control max-age (a response
	// without max-age is cached for MinCacheTTL). Defaults 1 min and 1 h.
	MinCacheTTL time.Duration
	MaxCacheTTL time.Duration
	// MaxStale is how long past its cache lifetime a key set keeps verifying while it cannot be
	// refreshed (the issuer is down or answers errors). Past it every token is refused (401)
	// until a fetch succeeds. Default 6 h (DefaultMaxStale).
	MaxStale time.Duration
	// CacheSize is how many verified tokens are remembered, by their SHA-256, until they expire,
	// so that a token presented again skips the signature check. 0 is DefaultCacheSize
	// (10,000, about 4 MB); negative disables the cache.
	CacheSize int
	// Introspection, when set, enables RequireActive.
	Introspection *IntrospectionConfig
	// Logger receives fetch failures and, at debug level, why a token was refused. Default:
	// discard.
	Logger *slog.Logger
}

// IntrospectionConfig holds the credentials RequireActive presents to the issuer's
// introspection_endpoint (RFC 7662) with HTTP Basic.
type IntrospectionConfig struct {
	ClientID     string
	ClientSecret string
}

// Validate returns every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if err := checkURL("issuer", c.Issuer); err != nil {
		errs = append(errs, err)
	}
	if c.Audience == "" {
		errs = append(errs, errors.New("audience is required"))
	}
	if c.ResourceURL != "" {
		if err := checkURL("resource URL", c.ResourceURL); err != nil {
			errs = append(errs, err)
		}
	}
	for _, a := range c.Algorithms {
		if !slices.Contains(allowedAlgorithms, a) {
			errs = append(errs, fmt.Errorf("algorithm %q is not allowed (allowed: %s)", a, strings.Join(allowedAlgorithms, ", ")))
		}
	}
	if c.Leeway < 0 || c.Leeway > MaxLeeway {
		errs = append(errs, fmt.Errorf("leeway %s is outside [0, %s]", c.Leeway, MaxLeeway))
	}
	if c.MinRefreshInterval < 0 {
		errs = append(errs, errors.New("min refresh interval must not be negative"))
	}
	if c.MaxStale < 0 {
		errs = append(errs, errors.New("max stale must not be negative"))
	}
	if c.MinCacheTTL < 0 || c.MaxCacheTTL < 0 {
		errs = append(errs, errors.New("cache TTLs must not be negative"))
	}
	if c.MinCacheTTL > 0 && c.MaxCacheTTL > 0 && c.MinCacheTTL > c.MaxCacheTTL {
		errs = append(errs, fmt.Errorf("min cache TTL %s exceeds max cache TTL %s", c.MinCacheTTL, c.MaxCacheTTL))
	}
	if ic := c.Introspection; ic != nil && (ic.ClientID == "" || ic.ClientSecret == "") {
		errs = append(errs, errors.New("introspection needs a client ID and a client secret"))
	}
	return errors.Join(errs...)
}

// withDefaults returns c with its zero optional fields set.
func (c Config) withDefaults() Config {
	if len(c.Algorithms) == 0 {
		c.Algorithms = slices.Clone(defaultAlgorithms)
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.MinRefreshInterval == 0 {
		c.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if c.MinCacheTTL == 0 {
		c.MinCacheTTL = DefaultMinCacheTTL
	}
	if c.MaxCacheTTL == 0 {
		c.MaxCacheTTL = DefaultMaxCacheTTL
	}
	c.MinCacheTTL = min(c.MinCacheTTL, c.MaxCacheTTL) // only one of them was set
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.MaxStale == 0 {
		c.MaxStale = DefaultMaxStale
	}
	if c.ResourceURL == "" {
		if u, err := url.Parse(c.Audience); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
			c.ResourceURL = c.Audience
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func checkURL(name, s string) error {
	if s == "" {
		return fmt.Errorf("%s is required", name)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s %q must be an http(s) URL without query or fragment", name, s)
	}
	return nil
}
