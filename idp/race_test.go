package idp_test

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
)

// TestConcurrentCodeRedemption_TOKEN04 redeems one code 50 times at once over HTTP, on SQLite
// and PostgreSQL: exactly one success, the rest 4xx, never a 5xx.
func TestConcurrentCodeRedemption_TOKEN04(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(*testing.T) *database.DB) {
		h := newHarness(t, newDB(t))
		web, secret := h.confidential(firstParty)
		h.user("race@example.com")
		code, verifier := h.codeFlow(h.browser(), h.oauthConfig(web, secret, "openid", "offline_access"), "race@example.com")
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {callback}}
		statuses := concurrently(50, func() int {
			s, _, _ := h.postForm("/oauth2/token", form, web.ID, secret)
			return s
		})
		if statuses[http.StatusOK] != 1 || countAtLeast(statuses, 500) > 0 {
			t.Errorf("statuses = %v, want exactly one 200 and no 5xx", statuses)
		}
	})
}

// TestConcurrentRefresh_RT02 refreshes one token 50 times at once over HTTP, on SQLite and
// PostgreSQL: no 5xx, and afterwards exactly one refresh token of the grant is live.
func TestConcurrentRefresh_RT02(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(*testing.T) *database.DB) {
		h := newHarness(t, newDB(t), withGrace(time.Minute))
		web, secret := h.confidential(firstParty)
		h.user("race2@example.com")
		cfg := h.oauthConfig(web, secret, "openid", "offline_access")
		code, verifier := h.codeFlow(h.browser(), cfg, "race2@example.com")
		tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var issued []string
		statuses := concurrently(50, func() int {
			s, m, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, web.ID, secret)
			if rt, ok := m["refresh_token"].(string); ok {
				mu.Lock()
				issued = append(issued, rt)
				mu.Unlock()
			}
			return s
		})
		if countAtLeast(statuses, 500) > 0 || statuses[http.StatusOK] == 0 {
			t.Fatalf("statuses = %v, want some 200 and no 5xx", statuses)
		}
		live := 0
		for _, rt := range issued {
			s, _, _ := h.postForm("/oauth2/introspect", url.Values{"token": {rt}}, web.ID, secret)
			if s != http.StatusOK {
				t.Fatalf("introspect: %d", s)
			}
			if _, m, _ := h.postForm("/oauth2/introspect", url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}}, web.ID, secret); m["active"] == true {
				live++
			}
		}
		if live != 1 {
			t.Errorf("%d refresh tokens of the grant are live after %d successful concurrent refreshes, want 1 (statuses %v)", live, len(issued), statuses)
		}
	})
}

// concurrently runs fn n times at once and counts the statuses.
func concurrently(n int, fn func() int) map[int]int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	out := map[int]int{}
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s := fn()
			mu.Lock()
			out[s]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func countAtLeast(m map[int]int, min int) int {
	n := 0
	for s, c := range m {
		if s >= min {
			n += c
		}
	}
	return n
}
