package bearer

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Errors returned by Verify and New. Every refusal of a token wraps ErrInvalidToken.
var (
	// ErrInvalidToken is wrapped by every reason a token is refused.
	ErrInvalidToken = errors.New("invalid access token")
	// ErrNoKeys means the verifier has no keys for the token (the issuer is unreachable and
	// nothing is cached, or the kid is unknown). It wraps ErrInvalidToken: fail closed.
	ErrNoKeys = fmt.Errorf("%w: no verification key", ErrInvalidToken)
	// ErrMisconfigured means the issuer's metadata contradicts the configuration.
	ErrMisconfigured = errors.New("issuer metadata does not match the configuration")
)

// Verifier verifies RFC 9068 JWT access tokens issued by one issuer for one audience. It is safe
// for concurrent use.
type Verifier struct {
	cfg  Config
	log  *slog.Logger
	algs []jose.SignatureAlgorithm

	keys atomic.Pointer[keySet]
	meta atomic.Pointer[metadata]

	mu          sync.Mutex // serialises fetches (single flight); guards lastRefetch
	lastRefetch time.Time  // last fetch after New, whatever caused it: fetches are paced by it
	refreshing  atomic.Bool
	fetches     atomic.Int64

	cache *tokenCache // nil when Config.CacheSize < 0
}

// New validates cfg and returns a Verifier. It discovers the issuer's jwks_uri and loads the
// keys. If the issuer is unreachable, New still succeeds: the verifier refuses every token
// (fail closed) and retries at most once per MinRefreshInterval. New fails when the issuer's
// metadata names another issuer, or lacks an introspection_endpoint while Introspection is set.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bearer: %w", err)
	}
	cfg = cfg.withDefaults()
	v := &Verifier{cfg: cfg, log: cfg.Logger, cache: newTokenCache(cfg.CacheSize)}
	for _, a := range cfg.Algorithms {
		v.algs = append(v.algs, jose.SignatureAlgorithm(a))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.load(ctx); err != nil {
		if errors.Is(err, ErrMisconfigured) {
			return nil, fmt.Errorf("bearer: %w", err)
		}
		v.lastRefetch = time.Now() // pace the retries
		v.log.Warn("bearer: cannot load the issuer's keys yet; refusing tokens until it can", "issuer", cfg.Issuer, "err", err)
	}
	if m := v.meta.Load(); m != nil && cfg.Introspection != nil && m.IntrospectionEndpoint == "" {
		return nil, fmt.Errorf("bearer: %w: no introspection_endpoint", ErrMisconfigured)
	}
	return v, nil
}

// Principal is the verified caller: what a handler may trust about the token.
type Principal struct {
	Subject   string    // sub: the user, or the client for client-credentials tokens
	ClientID  string    // client_id: the OAuth client the token was issued to
	Scopes    []string  // scope, split on spaces
	TokenID   string    // jti
	ExpiresAt time.Time // exp
	Audience  []string  // aud
}

// IsClient reports whether the token acts for its client alone (client credentials): RFC 9068
// §2.2 sets sub to the client_id then. Routes serving a user's data should refuse such tokens,
// so that a client registered with a user's sub as its ID gains nothing (RS-11).
//
// The equality is a sound signal with Gatehouse as the issuer (review F9): a user's token has
// sub = the user's ID and client_id = the app's, and user and client IDs never coincide (both
// are random UUIDs, and the provider's store refuses a client with a user's ID and a user with
// a client's). With another issuer, check that it keeps user subjects and client IDs apart.
func (p *Principal) IsClient() bool { return p != nil && p.Subject == p.ClientID }

// HasScope reports whether the token was granted scope s.
func (p *Principal) HasScope(s string) bool { return p != nil && slices.Contains(p.Scopes, s) }

type principalKey struct{}
type stateKey struct{}

// state is what Middleware leaves in the request context besides the Principal: the raw token
// (for RequireActive) and the verifier (for Challenge).
type state struct {
	v     *Verifier
	token string
}

// NewContext returns ctx carrying p. Middleware calls it; tests of handlers may too.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the Principal Middleware put in ctx.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}

// claims are the RFC 9068 §2.2 claims the verifier reads.
type claims struct {
	jwt.Claims
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
	Scp      []string `json:"scp"` // older fosite and Okta style; used only when scope is absent
}

// forbiddenHeaders are refused outright: the verifier never takes a key or a key's location from
// the token (RFC 8725 §3.10, RS-03) and supports no critical extension (RFC 7515 §4.1.11, RS-08).
var forbiddenHeaders = []string{"jku", "jwk", "x5u", "x5c", "crit"}

// Verify checks raw (the compact JWS, without "Bearer ") and returns its Principal. Every error
// wraps ErrInvalidToken; the message is for logs, not for clients.
//
// A token that passed is remembered (Config.CacheSize) by its SHA-256 until it expires, so that
// presenting it again skips the signature check; see tokenCache for what still applies.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Principal, error) {
	if len(raw) > MaxTokenSize {
		return nil, fmt.Errorf("%w: token too large", ErrInvalidToken)
	}
	var key [sha256.Size]byte
	if v.cache != nil {
		key = sha256.Sum256([]byte(raw))
		now, ks := time.Now(), v.keys.Load()
		if p, ok := v.cache.get(key, now, ks); ok {
			if now.After(ks.expires) { // as keyFor: cached tokens must not keep old keys alive
				v.refreshInBackground()
			}
			return p, nil
		}
	}
	p, kid, k, err := v.verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	v.cache.put(key, p, k, kid, p.ExpiresAt.Add(v.cfg.Leeway))
	return p, nil
}

// verify checks raw and returns its Principal and the kid and key that verified it.
func (v *Verifier) verify(ctx context.Context, raw string) (*Principal, string, publicKey, error) {
	// Compact serialisation only: the JSON serialisation may carry unprotected headers.
	if strings.Count(raw, ".") != 2 {
		return nil, "", publicKey{}, errors.New("not a compact JWS")
	}
	hdr, err := base64.RawURLEncoding.DecodeString(raw[:strings.IndexByte(raw, '.')])
	if err != nil {
		return nil, "", publicKey{}, errors.New("malformed header")
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &h); err != nil {
		return nil, "", publicKey{}, errors.New("malformed header")
	}
	for _, name := range forbiddenHeaders {
		if _, ok := h[name]; ok {
			return nil, "", publicKey{}, fmt.Errorf("header %q refused", name)
		}
	}
	// RFC 9068 §4: typ must be at+jwt; media types are case-insensitive (RFC 8725 §3.11, RS-05).
	var typ string
	if err := json.Unmarshal(h["typ"], &typ); err != nil || !(strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")) {
		return nil, "", publicKey{}, fmt.Errorf("typ %q is not at+jwt", typ)
	}
	// ParseSigned refuses algorithms outside the allowlist (RFC 8725 §3.1, RS-01).
	tok, err := jwt.ParseSigned(raw, v.algs)
	if err != nil {
		return nil, "", publicKey{}, err
	}
	if len(tok.Headers) != 1 {
		return nil, "", publicKey{}, errors.New("want exactly one signature")
	}
	kid, alg := tok.Headers[0].KeyID, tok.Headers[0].Algorithm
	if kid == "" {
		return nil, "", publicKey{}, errors.New("no kid")
	}
	key, err := v.keyFor(ctx, kid)
	if err != nil {
		return nil, "", publicKey{}, err
	}
	// One algorithm per key: the token's alg must be the key's own (RS-01).
	if alg != key.alg {
		return nil, "", publicKey{}, fmt.Errorf("alg %s does not match key %q's %s", alg, kid, key.alg)
	}
	var c claims
	if err := tok.Claims(key.key, &c); err != nil {
		return nil, "", publicKey{}, err
	}
	if err := v.checkClaims(&c, time.Now()); err != nil {
		return nil, "", publicKey{}, err
	}
	scopes := strings.Fields(c.Scope)
	if c.Scope == "" {
		scopes = c.Scp
	}
	return &Principal{
		Subject: c.Subject, ClientID: c.ClientID, Scopes: scopes, TokenID: c.ID,
		ExpiresAt: c.Expiry.Time(), Audience: []string(c.Audience),
	}, kid, key, nil
}

// checkClaims applies RFC 9068 §4 and RFC 7519 §4.1 to verified claims.
func (v *Verifier) checkClaims(c *claims, now time.Time) error {
	var errs []error
	if c.Issuer != v.cfg.Issuer { // exact, no normalisation (RS-06)
		errs = append(errs, fmt.Errorf("iss %q is not %q", c.Issuer, v.cfg.Issuer))
	}
	if !slices.Contains(c.Audience, v.cfg.Audience) { // also refuses aud: [] (RS-04)
		errs = append(errs, fmt.Errorf("aud %q does not contain %q", []string(c.Audience), v.cfg.Audience))
	}
	leeway := v.cfg.Leeway
	switch {
	case c.Expiry == nil:
		errs = append(errs, errors.New("no exp"))
	case now.After(c.Expiry.Time().Add(leeway)):
		errs = append(errs, errors.New("expired"))
	}
	if c.NotBefore != nil && now.Add(leeway).Before(c.NotBefore.Time()) {
		errs = append(errs, errors.New("nbf in the future"))
	}
	if c.IssuedAt != nil && now.Add(leeway).Before(c.IssuedAt.Time()) {
		errs = append(errs, errors.New("iat in the future"))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("no client_id"))
	}
	if c.Subject == "" {
		errs = append(errs, errors.New("no sub"))
	}
	return errors.Join(errs...)
}

// keyFor returns the key with kid. An unknown kid makes the verifier refetch the JWKS, at most
// once per MinRefreshInterval whatever the number of callers (RS-02); concurrent callers wait
// for the one fetch. A known kid in an expired set is used at once while the set refreshes in
// the background, so verification continues while the issuer is unreachable, up to
// Config.MaxStale past the set's cache lifetime; after that the set is refused (fail closed)
// until a fetch succeeds.
func (v *Verifier) keyFor(ctx context.Context, kid string) (publicKey, error) {
	now := time.Now()
	ks := v.keys.Load()
	if k, ok := ks.lookup(kid, now); ok {
		if now.After(ks.expires) {
			v.refreshInBackground()
		}
		return k, nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if k, ok := v.keys.Load().lookup(kid, now); ok { // another caller's fetch brought it
		return k, nil
	}
	if time.Since(v.lastRefetch) < v.cfg.MinRefreshInterval {
		if ks != nil && now.After(ks.usableUntil) {
			return publicKey{}, fmt.Errorf("%w: cached keys older than the stale limit", ErrNoKeys)
		}
		return publicKey{}, fmt.Errorf("%w: unknown kid", ErrNoKeys)
	}
	v.lastRefetch = time.Now()
	if err := v.load(ctx); err != nil {
		v.log.Warn("bearer: JWKS refetch failed", "issuer", v.cfg.Issuer, "err", err)
		return publicKey{}, fmt.Errorf("%w: %w", ErrNoKeys, err)
	}
	if k, ok := v.keys.Load().lookup(kid, time.Now()); ok {
		return k, nil
	}
	return publicKey{}, fmt.Errorf("%w: unknown kid", ErrNoKeys)
}

// refreshInBackground reloads an expired key set without holding up the request. A failed
// load keeps the current keys and is retried no sooner than MinRefreshInterval later.
func (v *Verifier) refreshInBackground() {
	if !v.refreshing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer v.refreshing.Store(false)
		v.mu.Lock()
		defer v.mu.Unlock()
		ks := v.keys.Load()
		now := time.Now()
		if ks == nil || now.Before(ks.expires) {
			return // someone else refreshed
		}
		// One pace for every fetch, whatever caused it: an unknown kid's refetch that just
		// failed does not make a background refresh follow at once.
		if wait := v.cfg.MinRefreshInterval - now.Sub(v.lastRefetch); wait > 0 {
			retry := *ks
			retry.expires = now.Add(wait)
			v.keys.Store(&retry)
			return
		}
		v.lastRefetch = now
		if err := v.load(context.Background()); err != nil {
			v.log.Warn("bearer: JWKS refresh failed; still using the cached keys", "issuer", v.cfg.Issuer, "err", err)
			retry := *ks
			retry.expires = time.Now().Add(v.cfg.MinRefreshInterval)
			v.keys.Store(&retry)
		}
	}()
}

func (v *Verifier) allows(alg string) bool {
	return slices.Contains(v.algs, jose.SignatureAlgorithm(alg))
}

// Fetches returns how many times the verifier has tried to load the issuer's keys. Operators may
// export it as a metric.
func (v *Verifier) Fetches() int64 { return v.fetches.Load() }
