package bearer_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/resource/bearer"
)

func TestRS02KidInjection(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier()
	c := is.claims()
	before := is.jwksFetches.Load()
	for _, tt := range []struct{ name, kid string }{
		{"path traversal", "../../../../dev/null"},
		{"SQL injection", "' OR '1'='1"},
		{"NUL byte", "es-1\x00"},
		{"URL", "http://169.254.169.254/latest/meta-data/"},
		{"4 KB", strings.Repeat("k", 4<<10)},
		{"10 KB", strings.Repeat("k", 10<<10)},
		{"empty", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok := sign(t, signingKey{tt.kid, jose.ES256, ecKey}, c, nil)
			if p, err := v.Verify(t.Context(), tok); err == nil {
				t.Fatalf("Verify(kid %.40q) = %+v, want an error", tt.kid, p)
			}
		})
	}
	if n := is.jwksFetches.Load() - before; n > 1 {
		t.Errorf("kid injection caused %d JWKS fetches, want at most 1", n)
	}
}

func TestRS02UnknownKidFlood(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier()
	c := is.claims()
	toks := make([]string, 1000)
	for i := range toks {
		toks[i] = sign(t, signingKey{fmt.Sprintf("forged-%d", rand.Uint64()), jose.ES256, ecKey2}, c, nil)
	}
	before := is.jwksFetches.Load()
	start := time.Now()
	var wg sync.WaitGroup
	var accepted sync.Map
	for _, tok := range toks {
		wg.Go(func() {
			if _, err := v.Verify(t.Context(), tok); err == nil {
				accepted.Store(tok, true)
			}
		})
	}
	wg.Wait()
	got := is.jwksFetches.Load() - before
	t.Logf("1000 forged kids: %d JWKS fetches in %s", got, time.Since(start))
	if got > 1 {
		t.Errorf("JWKS fetches = %d, want at most 1 per MinRefreshInterval", got)
	}
	accepted.Range(func(k, _ any) bool { t.Error("a forged kid was accepted"); return false })
	// The valid key still works after the flood, without another fetch.
	if _, err := v.Verify(t.Context(), sign(t, is.es, c, nil)); err != nil {
		t.Fatalf("valid token after the flood: %v", err)
	}
}

func TestRS12JWKSUnavailable(t *testing.T) {
	c := func(is *issuer) map[string]any { return is.claims() }
	t.Run("500 with cached keys", func(t *testing.T) {
		is := newIssuer(t)
		v := is.verifier(func(cfg *bearer.Config) {
			cfg.MinCacheTTL, cfg.MaxCacheTTL, cfg.MinRefreshInterval = time.Millisecond, time.Millisecond, 20*time.Millisecond
		})
		is.jwksStatus.Store(500)
		deadline := time.Now().Add(200 * time.Millisecond)
		for n := 0; time.Now().Before(deadline); n++ {
			if _, err := v.Verify(t.Context(), sign(t, is.es, c(is), nil)); err != nil {
				t.Fatalf("verify %d while JWKS is 500: %v", n, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		// Background retries are paced by MinRefreshInterval: ~10 in 200 ms, not one per request.
		if n := is.jwksFetches.Load(); n > 15 {
			t.Errorf("JWKS fetches = %d in 200 ms with a 20 ms retry interval", n)
		}
	})
	t.Run("issuer down with cached keys", func(t *testing.T) {
		is := newIssuer(t)
		v := is.verifier(func(cfg *bearer.Config) { cfg.MinCacheTTL, cfg.MaxCacheTTL = time.Millisecond, time.Millisecond })
		is.srv.Close()
		time.Sleep(5 * time.Millisecond)
		for i := range 3 {
			if _, err := v.Verify(t.Context(), sign(t, is.rs, c(is), nil)); err != nil {
				t.Fatalf("verify %d while the issuer is down: %v", i, err)
			}
		}
		if _, err := v.Verify(t.Context(), sign(t, signingKey{"new", jose.ES256, ecKey2}, c(is), nil)); err == nil {
			t.Fatal("unknown kid accepted while the issuer is down")
		}
	})
	t.Run("no cached keys fails closed", func(t *testing.T) {
		for _, tt := range []struct {
			name   string
			break_ func(*issuer)
		}{
			{"JWKS 500", func(is *issuer) { is.jwksStatus.Store(500) }},
			{"issuer down", func(is *issuer) { is.srv.Close() }},
			{"JWKS empty", func(is *issuer) { is.publish() }},
		} {
			t.Run(tt.name, func(t *testing.T) {
				is := newIssuer(t)
				tt.break_(is)
				v, err := bearer.New(t.Context(), is.config())
				if err != nil {
					t.Fatalf("New: %v (want a verifier that refuses tokens)", err)
				}
				for _, k := range []signingKey{is.es, is.rs} {
					if _, err := v.Verify(t.Context(), sign(t, k, c(is), nil)); !errors.Is(err, bearer.ErrInvalidToken) {
						t.Fatalf("Verify with no keys: err = %v, want ErrInvalidToken", err)
					}
				}
			})
		}
	})
	t.Run("recovers when the issuer comes back", func(t *testing.T) {
		is := newIssuer(t)
		is.jwksStatus.Store(500)
		v := is.verifier(func(cfg *bearer.Config) { cfg.MinRefreshInterval = 20 * time.Millisecond })
		tok := sign(t, is.es, c(is), nil)
		if _, err := v.Verify(t.Context(), tok); err == nil {
			t.Fatal("accepted with no keys")
		}
		is.jwksStatus.Store(0)
		time.Sleep(25 * time.Millisecond)
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatalf("after the issuer recovered: %v", err)
		}
	})
}

func TestRS12Rotation(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier()
	oldTok := sign(t, is.es, is.claims(), nil)
	if _, err := v.Verify(t.Context(), oldTok); err != nil {
		t.Fatal(err)
	}
	es2 := signingKey{"es-2", jose.ES256, ecKey2}
	is.publish(es2, is.es, is.rs)
	before := is.jwksFetches.Load()
	if _, err := v.Verify(t.Context(), sign(t, es2, is.claims(), nil)); err != nil {
		t.Fatalf("new kid after rotation: %v", err)
	}
	if n := is.jwksFetches.Load() - before; n != 1 {
		t.Errorf("new kid cost %d JWKS fetches, want 1", n)
	}
	if _, err := v.Verify(t.Context(), oldTok); err != nil {
		t.Fatalf("old kid still published: %v", err)
	}

	t.Run("removed kid refused once the cache refreshes", func(t *testing.T) {
		is := newIssuer(t)
		v := is.verifier(func(cfg *bearer.Config) { cfg.MinCacheTTL, cfg.MaxCacheTTL = 20*time.Millisecond, 20*time.Millisecond })
		tok := sign(t, is.es, is.claims(), nil)
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		is.publish(is.rs) // es-1 removed
		deadline := time.Now().Add(2 * time.Second)
		for {
			_, err := v.Verify(t.Context(), tok)
			if err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("removed kid still accepted 2 s after the cache expired")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if _, err := v.Verify(t.Context(), sign(t, is.rs, is.claims(), nil)); err != nil {
			t.Fatalf("remaining key: %v", err)
		}
	})
}

func TestCacheControl(t *testing.T) {
	for _, tt := range []struct {
		name      string
		header    string
		wantFetch bool // a second verify after 30 ms refetches
	}{
		{"max-age below the minimum is raised", "max-age=0", false},
		{"no-store is cached for the minimum", "no-store", false},
		{"max-age above the maximum is lowered", "public, max-age=86400", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			is := newIssuer(t)
			is.cacheControl.Store(&tt.header)
			lo, hi := time.Hour, 2*time.Hour
			if tt.wantFetch {
				lo, hi = time.Millisecond, 10*time.Millisecond
			}
			v := is.verifier(func(cfg *bearer.Config) { cfg.MinCacheTTL, cfg.MaxCacheTTL = lo, hi })
			time.Sleep(30 * time.Millisecond)
			if _, err := v.Verify(t.Context(), sign(t, is.es, is.claims(), nil)); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(time.Second)
			for tt.wantFetch && is.jwksFetches.Load() < 2 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if got := is.jwksFetches.Load() >= 2; got != tt.wantFetch {
				t.Fatalf("refetched = %v (fetches %d), want %v", got, is.jwksFetches.Load(), tt.wantFetch)
			}
		})
	}
}

func TestRS12JWKSTimeout(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier(func(cfg *bearer.Config) {
		cfg.MinCacheTTL, cfg.MaxCacheTTL = time.Millisecond, time.Millisecond
		cfg.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond}
	})
	is.jwksDelay.Store(int64(time.Second))
	time.Sleep(5 * time.Millisecond)
	tok := sign(t, is.es, is.claims(), nil)
	for i := range 5 {
		start := time.Now()
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatalf("verify %d while JWKS hangs: %v", i, err)
		}
		// The refresh runs in the background: a request with a cached kid never waits for it.
		if d := time.Since(start); d > 40*time.Millisecond {
			t.Errorf("verify %d took %s while JWKS hangs", i, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := v.Verify(t.Context(), sign(t, signingKey{"unknown", jose.ES256, ecKey2}, is.claims(), nil)); err == nil {
		t.Fatal("unknown kid accepted while JWKS hangs")
	}
}

func TestDiscovery(t *testing.T) {
	testKeys(t)
	es := signingKey{"es-1", jose.ES256, ecKey}
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{es.public()}}
	for _, tt := range []struct {
		name     string
		path     string // the issuer's path
		metaPath string // where the metadata is served
		wantErr  bool
	}{
		{"RFC 8414", "", "/.well-known/oauth-authorization-server", false},
		{"OIDC fallback", "", "/.well-known/openid-configuration", false},
		{"RFC 8414 with an issuer path", "/tenant", "/.well-known/oauth-authorization-server/tenant", false},
		{"OIDC with an issuer path", "/tenant", "/tenant/.well-known/openid-configuration", false},
		{"RFC 8414 appended to an issuer path", "/tenant", "/tenant/.well-known/oauth-authorization-server", false},
		{"metadata elsewhere", "/tenant", "/other/.well-known/openid-configuration", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var srvURL string
			mux := http.NewServeMux()
			mux.HandleFunc("GET "+tt.metaPath, func(w http.ResponseWriter, r *http.Request) {
				json.NewEncoder(w).Encode(map[string]string{"issuer": srvURL + tt.path, "jwks_uri": srvURL + "/keys"})
			})
			mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(jwks) })
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			srvURL = srv.URL
			v, err := bearer.New(t.Context(), bearer.Config{Issuer: srv.URL + tt.path, Audience: audience})
			if err != nil {
				t.Fatal(err)
			}
			c := with(map[string]any{"sub": "alice", "client_id": "web", "aud": audience, "exp": time.Now().Add(time.Minute).Unix()}, "iss", srv.URL+tt.path)
			_, err = v.Verify(t.Context(), sign(t, es, c, nil))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Verify: err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

// TestRS12MaxStale: while the issuer is unreachable the cached keys keep verifying for
// MaxStale past their cache lifetime, then every token is refused (fail closed) until a fetch
// succeeds again.
func TestRS12MaxStale(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier(func(cfg *bearer.Config) {
		cfg.MinCacheTTL, cfg.MaxCacheTTL = 50*time.Millisecond, 50*time.Millisecond
		cfg.MaxStale, cfg.MinRefreshInterval = 200*time.Millisecond, 20*time.Millisecond
	})
	loaded := time.Now()
	tok := sign(t, is.es, is.claims(), nil)
	is.jwksStatus.Store(500)
	// Within TTL + MaxStale (250 ms): accepted although every refresh fails.
	for time.Since(loaded) < 180*time.Millisecond {
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatalf("%s after the last fetch (stale limit 250 ms): %v", time.Since(loaded), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(250*time.Millisecond - time.Since(loaded) + 20*time.Millisecond)
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, bearer.ErrNoKeys) {
		t.Fatalf("past the stale limit: err = %v, want ErrNoKeys", err)
	}
	// Refusals are paced too: a flood past the limit does not hammer the issuer.
	before := is.jwksFetches.Load()
	for range 100 {
		v.Verify(t.Context(), tok)
	}
	if n := is.jwksFetches.Load() - before; n > 2 {
		t.Errorf("100 tokens past the stale limit caused %d JWKS fetches in well under 20 ms, want ≤ 2", n)
	}
	is.jwksStatus.Store(0)
	time.Sleep(25 * time.Millisecond)
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatalf("after the issuer recovered: %v", err)
	}
}
