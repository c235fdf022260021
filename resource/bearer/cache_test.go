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
