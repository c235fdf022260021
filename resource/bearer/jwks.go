package bearer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// maxDocumentSize bounds the metadata and JWKS responses read from the issuer.
const maxDocumentSize = 1 << 20

// fetchTimeout bounds one metadata-and-JWKS load, whatever the caller's context.
const fetchTimeout = 10 * time.Second

// metadata is what the verifier uses of the issuer's RFC 8414 metadata.
type metadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// publicKey is one verification key with the single algorithm it may verify (RS-01).
type publicKey struct {
	alg string
	key any
	// thumb is the key's RFC 7638 SHA-256 thumbprint: the cache compares it, so a kid that the
	// issuer republishes with other key material stops the tokens the old key verified.
	thumb string
}

// keySet is an immutable snapshot of the issuer's keys.
type keySet struct {
	keys    map[string]publicKey // by kid
	expires time.Time            // refresh in the background after this
	// usableUntil is expires (as loaded) plus Config.MaxStale: if no refresh has succeeded by
	// then, the set is refused as a whole (fail closed) rather than trusted for ever.
	usableUntil time.Time
}

// lookup returns the key kid of a set that is not past its usableUntil.
func (ks *keySet) lookup(kid string, now time.Time) (publicKey, bool) {
	if ks == nil || now.After(ks.usableUntil) {
		return publicKey{}, false
	}
	k, ok := ks.keys[kid]
	return k, ok
}

// metadataURLs returns where the issuer's metadata may be: RFC 8414 §3 first (well-known
// inserted before the issuer's path), then OpenID Connect Discovery 1.0 §4 (appended), then, for
// issuers with a path, the RFC 8414 name appended as some servers publish it. The issuer in the
// document is checked exactly whichever answers.
func metadataURLs(issuer string) []string {
	u, _ := url.Parse(issuer) // validated by Config.Validate
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	base := strings.TrimSuffix(issuer, "/")
	u.RawPath, u.Path = "", "/.well-known/oauth-authorization-server"
	urls := []string{u.String() + path, base + "/.well-known/openid-configuration"}
	if path != "" {
		urls = append(urls, base+"/.well-known/oauth-authorization-server")
	}
	return urls
}

// discover fetches the issuer's metadata and checks that it names this issuer exactly.
func (v *Verifier) discover(ctx context.Context) (*metadata, error) {
	var errs []error
	for _, u := range metadataURLs(v.cfg.Issuer) {
		var m metadata
		if _, err := v.getJSON(ctx, u, &m); err != nil {
			errs = append(errs, err)
			continue
		}
		// RFC 8414 §3.3: the issuer in the metadata must be identical to the one configured.
		if m.Issuer != v.cfg.Issuer {
			return nil, fmt.Errorf("%w: metadata at %s names issuer %q, want %q", ErrMisconfigured, u, m.Issuer, v.cfg.Issuer)
		}
		if err := checkURL("jwks_uri", m.JWKSURI); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMisconfigured, err)
		}
		if strings.HasPrefix(v.cfg.Issuer, "https:") && !strings.HasPrefix(m.JWKSURI, "https:") {
			return nil, fmt.Errorf("%w: jwks_uri %q is not https", ErrMisconfigured, m.JWKSURI)
		}
		// RequireActive sends the client secret there: the same rules as jwks_uri.
		if m.IntrospectionEndpoint != "" {
			if err := checkURL("introspection_endpoint", m.IntrospectionEndpoint); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrMisconfigured, err)
			}
			if strings.HasPrefix(v.cfg.Issuer, "https:") && !strings.HasPrefix(m.IntrospectionEndpoint, "https:") {
				return nil, fmt.Errorf("%w: introspection_endpoint %q is not https", ErrMisconfigured, m.IntrospectionEndpoint)
			}
		}
		return &m, nil
	}
	return nil, fmt.Errorf("discover %s: %w", v.cfg.Issuer, errors.Join(errs...))
}

// load fetches the metadata (once) and the JWKS, and installs the new key set. The caller
// holds v.mu. On failure the current key set stays.
func (v *Verifier) load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	v.fetches.Add(1)
	if v.meta.Load() == nil {
		m, err := v.discover(ctx)
		if err != nil {
			return err
		}
		v.meta.Store(m)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	h, err := v.getJSON(ctx, v.meta.Load().JWKSURI, &doc)
	if err != nil {
		return err
	}
	expires := time.Now().Add(v.cacheTTL(h))
	ks := &keySet{keys: make(map[string]publicKey, len(doc.Keys)), expires: expires, usableUntil: expires.Add(v.cfg.MaxStale)}
	for _, raw := range doc.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			v.log.Warn("bearer: skipping unusable JWK", "err", err)
			continue
		}
		if !jwk.Valid() || !jwk.IsPublic() || jwk.KeyID == "" || (jwk.Use != "" && jwk.Use != "sig") {
			continue
		}
		alg := jwk.Algorithm
		if alg == "" {
			alg = defaultAlg(jwk.Key)
		}
		if alg == "" || !v.allows(alg) || !keyFits(alg, jwk.Key) {
			continue
		}
		if _, dup := ks.keys[jwk.KeyID]; dup {
			continue // the first key with a kid wins; no ambiguity about which key verifies
		}
		thumb, err := jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			v.log.Warn("bearer: skipping JWK without a thumbprint", "kid", jwk.KeyID, "err", err)
			continue
		}
		ks.keys[jwk.KeyID] = publicKey{alg: alg, key: jwk.Key, thumb: string(thumb)}
	}
	v.keys.Store(ks)
	v.log.Debug("bearer: JWKS loaded", "keys", len(ks.keys), "expires", ks.expires)
	return nil
}

// cacheTTL is the response's Cache-Control max-age clamped to [MinCacheTTL, MaxCacheTTL].
func (v *Verifier) cacheTTL(h http.Header) time.Duration {
	ttl := v.cfg.MinCacheTTL
	for d := range strings.SplitSeq(h.Get("Cache-Control"), ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		if strings.EqualFold(name, "max-age") {
			if n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && n >= 0 && n < 1<<31 {
				ttl = time.Duration(n) * time.Second
			}
		}
	}
	return min(max(ttl, v.cfg.MinCacheTTL), v.cfg.MaxCacheTTL)
}

func (v *Verifier) getJSON(ctx context.Context, u string, dst any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDocumentSize)).Decode(dst); err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return resp.Header, nil
}

// defaultAlg pins a key published without alg to the one algorithm its type implies.
func defaultAlg(key any) string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return "RS256"
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256"
		case elliptic.P384():
			return "ES384"
		case elliptic.P521():
			return "ES512"
		}
	case ed25519.PublicKey:
		return "EdDSA"
	}
	return ""
}

// keyFits reports whether alg can be used with key's type, so that a JWK claiming ES256 for an
// RSA key is never used.
func keyFits(alg string, key any) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return k.N.BitLen() >= 2048 && (strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS"))
	case *ecdsa.PublicKey:
		return alg == defaultAlg(k)
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}
