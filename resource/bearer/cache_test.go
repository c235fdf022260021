package bearer_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/resource/bearer"
)

// TestVerifyCache: a verified token is remembered until it expires (then refused like any
// expired token), at most CacheSize of them, each caller gets its own Principal, and a
// negative CacheSize turns the cache off.
func TestVerifyCache(t *testing.T) {
	is := newIssuer(t)
	t.Run("expiry applies to cached tokens (RS-07)", func(t *testing.T) {
		v := is.verifier(func(c *bearer.Config) { c.Leeway = time.Millisecond })
		exp := time.Now().Add(time.Second).Truncate(time.Second).Add(time.Second)
		tok := sign(t, is.es, with(is.claims(), "exp", exp.Unix()), nil)
		for range 3 {
			if _, err := v.Verify(t.Context(), tok); err != nil {
				t.Fatal(err)
			}
		}
		if n := bearer.CacheLen(v); n != 1 {
			t.Errorf("cache holds %d tokens, want 1", n)
		}
		time.Sleep(time.Until(exp) + 10*time.Millisecond)
		if _, err := v.Verify(t.Context(), tok); !errors.Is(err, bearer.ErrInvalidToken) {
			t.Fatalf("expired cached token: err = %v, want ErrInvalidToken", err)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		v := is.verifier(func(c *bearer.Config) { c.CacheSize = 3 })
		for range 10 {
			if _, err := v.Verify(t.Context(), sign(t, is.es, is.claims(), nil)); err != nil {
				t.Fatal(err)
			}
		}
		if n := bearer.CacheLen(v); n != 3 {
			t.Errorf("cache holds %d tokens, want 3", n)
		}
	})
	t.Run("each caller its own Principal", func(t *testing.T) {
		v := is.verifier()
		tok := sign(t, is.es, is.claims(), nil)
		p1, err := v.Verify(t.Context(), tok)
		if err != nil {
			t.Fatal(err)
		}
		p1.Subject = "mallory"
		p2, err := v.Verify(t.Context(), tok)
		if err != nil || p2.Subject == "mallory" || p2 == p1 {
			t.Fatalf("second Verify = %+v, %v: shares the first caller's Principal", p2, err)
		}
	})
	t.Run("off", func(t *testing.T) {
		v := is.verifier(func(c *bearer.Config) { c.CacheSize = -1 })
		if _, err := v.Verify(t.Context(), sign(t, is.es, is.claims(), nil)); err != nil {
			t.Fatal(err)
		}
		if n := bearer.CacheLen(v); n != 0 {
			t.Errorf("cache holds %d tokens with CacheSize -1", n)
		}
	})
}

// TestCacheIsolationAndKeyIdentity_F14: (review F14) the Principals the cache hands out share
// no slice with the cache or with each other, so a handler that edits Scopes or Audience in
// place cannot change what a later request with the same token is granted; and a cached token
// is accepted only while its kid still names the same key material (RFC 7638 thumbprint): an
// issuer that republishes a kid with another key stops the tokens the old key verified as soon
// as the verifier refreshes the JWKS, while tokens of the new key verify.
func TestCacheIsolationAndKeyIdentity_F14(t *testing.T) {
	t.Run("deep copies", func(t *testing.T) {
		is := newIssuer(t)
		v := is.verifier()
		tok := sign(t, is.es, with(is.claims(), "scope", "todos:read"), nil)
		first, err := v.Verify(t.Context(), tok) // the miss: verified, then cached
		if err != nil {
			t.Fatal(err)
		}
		first.Scopes[0], first.Audience[0] = "todos:admin", "https://elsewhere.example"
		second, err := v.Verify(t.Context(), tok) // a hit
		if err != nil {
			t.Fatal(err)
		}
		second.Scopes[0], second.Audience[0] = "todos:write", "https://other.example"
		second.Scopes = append(second.Scopes[:1], "todos:admin")
		third, err := v.Verify(t.Context(), tok)
		if err != nil {
			t.Fatal(err)
		}
		if len(third.Scopes) != 1 || third.Scopes[0] != "todos:read" || third.Audience[0] != audience || third.HasScope("todos:admin") {
			t.Fatalf("third caller: scopes %v audience %v; an earlier caller's edit leaked into the cache", third.Scopes, third.Audience)
		}
	})
	t.Run("same kid, other key", func(t *testing.T) {
		is := newIssuer(t)
		v := is.verifier(func(cfg *bearer.Config) {
			cfg.MinCacheTTL, cfg.MaxCacheTTL, cfg.MinRefreshInterval = 20*time.Millisecond, 20*time.Millisecond, 10*time.Millisecond
		})
		tok := sign(t, is.es, is.claims(), nil)
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		swapped := signingKey{kid: is.es.kid, alg: is.es.alg, key: ecKey2}
		is.publish(swapped, is.rs) // es-1 now names another key
		deadline := time.Now().Add(2 * time.Second)
		for {
			if _, err := v.Verify(t.Context(), tok); err != nil {
				if !errors.Is(err, bearer.ErrInvalidToken) {
					t.Fatalf("err = %v, want ErrInvalidToken", err)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a token of the replaced key is still accepted 2 s after the JWKS changed")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if _, err := v.Verify(t.Context(), sign(t, swapped, is.claims(), nil)); err != nil {
			t.Fatalf("token of the new key under the same kid: %v", err)
		}
	})
}
