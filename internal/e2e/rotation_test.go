package e2e_test

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/resource/bearer"
)

// untilStatus polls GET /api/v1/todos with token until it answers want, for at most limit; it
// returns how long that took, or fails.
func untilStatus(t *testing.T, api *todosAPI, token string, want int, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		r := call(t, api, token, "GET", "/api/v1/todos", "")
		if r.status == want {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("still %d after %s, want %d: %s %s", r.status, limit, want, r.header.Get("WWW-Authenticate"), r.body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestKeyRotationWithRealProvider_RS12 rotates the real provider's keys (idp.Keys.Rotate, what
// `gatehouse keys rotate` does) while the todos API runs: tokens of the new key are accepted
// within a second without a restart, tokens of the retired key until they expire, and once the
// retired key leaves the provider's JWKS its unexpired tokens are refused after the cache
// refreshes.
func TestKeyRotationWithRealProvider_RS12(t *testing.T) {
	const lifespan, retireAfter = 3 * time.Second, 5 * time.Second
	p := startProvider(t, func(c *idp.Config, k *idp.KeysConfig) {
		c.AccessTokenLifespan = lifespan
		k.RetireAfter = retireAfter
	})
	// A sibling that issues hour-long tokens with the same keys: one of them outlives its key.
	long := p.sibling(t, false, func(c *idp.Config) { c.AccessTokenLifespan = time.Hour })
	api := startTodos(t, p, func(c *bearer.Config) {
		c.Leeway = time.Millisecond // expiry observable at once
		c.MinCacheTTL, c.MaxCacheTTL = 300*time.Millisecond, 300*time.Millisecond
		c.MinRefreshInterval = 500 * time.Millisecond
	})
	user := func() string { return "u-" + uuid.NewString()[:8] + "@example.com" }
	scopes := []string{"openid", "todos:read"}

	oldTok := p.userToken(t, user(), scopes...)
	issued := time.Now()
	oldLong, _ := p.userTokensVia(t, long.URL, user(), scopes...)
	oldKID := split3kid(t, oldTok)
	if split3kid(t, oldLong) != oldKID {
		t.Fatal("the sibling signs with another key")
	}
	untilStatus(t, api, oldTok, 200, 0)
	untilStatus(t, api, oldLong, 200, 0)

	// Rotation 1 activates the key published as next at start-up (the RS has it already);
	// rotation 2 activates the one rotation 1 created, which the RS has not seen: one refetch.
	for i := 1; i <= 2; i++ {
		before := api.fetches.jwks.Load()
		newKID, err := p.keys.Rotate(t.Context(), p.cfg.AccessTokenAlg)
		if err != nil {
			t.Fatal(err)
		}
		rotated := time.Now()
		tok := p.userToken(t, user(), scopes...)
		if got := split3kid(t, tok); got != newKID || got == oldKID {
			t.Fatalf("rotation %d: token kid %s, want the new %s", i, got, newKID)
		}
		minted := time.Since(rotated)
		accepted := untilStatus(t, api, tok, 200, time.Second)
		t.Logf("rotation %d: new kid %s accepted %s after its first token (token minted %s after Rotate); %d JWKS fetches",
			i, newKID[:8], accepted, minted, api.fetches.jwks.Load()-before)
		if n := api.fetches.jwks.Load() - before; n > 1 {
			t.Errorf("rotation %d cost %d JWKS fetches, want at most 1", i, n)
		}
		untilStatus(t, api, oldTok, 200, 0) // retired, still published, not expired
	}

	// The retired key's token works until it expires, then is refused.
	if d := time.Until(issued.Add(lifespan)); d > 100*time.Millisecond {
		untilStatus(t, api, oldTok, 200, 0)
		time.Sleep(d)
	}
	untilStatus(t, api, oldTok, 401, 1100*time.Millisecond) // exp has 1 s granularity
	untilStatus(t, api, oldLong, 200, 0)                    // same key, not expired

	// Once the retired key leaves JWKS, its unexpired token is refused (RS-12: a removed kid is
	// refused once out of cache).
	time.Sleep(time.Until(issued.Add(retireAfter + 300*time.Millisecond)))
	if err := p.keys.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, k := range p.publicKeys(t) {
		if k.KeyID == oldKID {
			t.Fatal("the retired key is still published after RetireAfter")
		}
	}
	d := untilStatus(t, api, oldLong, 401, 2*time.Second)
	t.Logf("removed kid refused %s after it left the provider's JWKS", d)
}

// TestResourceSurvivesProviderOutage_RS02_RS12 stops the real provider while the todos API
// runs: tokens verified with the cached keys keep working, and a flood of tokens with forged
// kids from several clients makes at most one JWKS request per MinRefreshInterval.
func TestResourceSurvivesProviderOutage_RS02_RS12(t *testing.T) {
	const interval, outage = 500 * time.Millisecond, 2500 * time.Millisecond
	p := startProvider(t)
	api := startTodos(t, p, func(c *bearer.Config) {
		c.MinRefreshInterval = interval
		c.MinCacheTTL, c.MaxCacheTTL = 200*time.Millisecond, 200*time.Millisecond // expires during the outage
	})
	tok := p.userToken(t, "alice@example.com", "openid", "todos:read")
	untilStatus(t, api, tok, 200, 0)
	hdr, payload, sig := split(t, tok)

	p.srv.CloseClientConnections()
	p.srv.Close()
	before := api.fetches.jwks.Load()
	start := time.Now()
	var ok, refused, wrong atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Since(start) < outage; i++ {
				forged := encodeJSON(t, with(hdr, "kid", fmt.Sprintf("forged-%d-%d", g, i))) + "." + payload + "." + sig
				if r := call(t, api, forged, "GET", "/api/v1/todos", ""); r.status == 401 {
					refused.Add(1)
				} else {
					wrong.Add(1)
				}
				if r := call(t, api, tok, "GET", "/api/v1/todos", ""); r.status == 200 {
					ok.Add(1)
				} else {
					wrong.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	fetches := api.fetches.jwks.Load() - before
	limit := int64(math.Ceil(float64(elapsed)/float64(interval))) + 1
	t.Logf("provider down for %s: %d cached-key requests answered 200, %d forged kids refused, %d JWKS attempts (limit %d, one per %s)",
		elapsed.Round(time.Millisecond), ok.Load(), refused.Load(), fetches, limit, interval)
	if wrong.Load() != 0 {
		t.Errorf("%d answers other than 200 for the cached key or 401 for a forged kid", wrong.Load())
	}
	if fetches > limit {
		t.Errorf("%d JWKS attempts in %s, want at most %d (one per %s)", fetches, elapsed, limit, interval)
	}
	if refused.Load() < 20 {
		t.Errorf("only %d forged tokens sent", refused.Load())
	}
}
