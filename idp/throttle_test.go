package idp_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
)

// withThrottle sets the per-account throttle policy.
func withThrottle(p idp.ThrottlePolicy) harnessOpt {
	return func(s *harnessSetup) { s.cfg.LoginThrottle = p }
}

// TestAccountThrottleParallel_RL05: 100 parallel wrong passwords for one account, from one
// address with a generous per-IP limit, get exactly the policy's 5 free guesses checked; the
// other 95 are refused with 429 and Retry-After before any hash. Unknown accounts get the same
// answers (RL-08), on SQLite and PostgreSQL (the count is in the database).
func TestAccountThrottleParallel_RL05(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		h := newHarness(t, newDB(t), withThrottle(idp.ThrottlePolicy{Free: 5, Base: time.Hour, Max: time.Hour}))
		h.user("alice@example.com")
		throttledBody := map[string]string{}
		for _, email := range []string{"alice@example.com", "nobody@example.com"} {
			before := h.hasher.Verifications()
			b := h.browser()
			form := b.loginForm(email, "wrong password")
			codes := make(chan *http.Response, 100)
			var wg sync.WaitGroup
			for range 100 {
				wg.Go(func() {
					resp, err := b.post("/login", form)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					codes <- resp
				})
			}
			wg.Wait()
			close(codes)
			got := map[int]int{}
			for resp := range codes {
				got[resp.StatusCode]++
				if resp.StatusCode == http.StatusTooManyRequests {
					if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 3500 || ra > 3601 {
						t.Fatalf("%s: Retry-After %q, want about an hour", email, resp.Header.Get("Retry-After"))
					}
				}
			}
			checks := h.hasher.Verifications() - before
			if got[http.StatusUnauthorized] != 5 || got[http.StatusTooManyRequests] != 95 || checks != 5 {
				t.Fatalf("%s: statuses %v and %d password checks; want 5 × 401, 95 × 429 and 5 checks", email, got, checks)
			}
			// The right password is refused too while throttled, and not checked.
			resp, body := b.postPath("/login", b.loginForm(email, testPassword))
			if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed sign-ins for this email address") {
				t.Fatalf("%s: right password while throttled: %d %s", email, resp.StatusCode, trim([]byte(body)))
			}
			if h.hasher.Verifications()-before != 5 {
				t.Fatalf("%s: a throttled attempt checked a password", email)
			}
			// Each browser has its own CSRF token; everything else must match.
			throttledBody[email] = csrfRe.ReplaceAllString(strings.ReplaceAll(body, email, "EMAIL"), "CSRF")
		}
		// RL-08: the throttled answers for a known and an unknown address are the same page.
		if throttledBody["alice@example.com"] != throttledBody["nobody@example.com"] {
			t.Fatalf("throttled pages differ:\n%s\n%s", throttledBody["alice@example.com"], throttledBody["nobody@example.com"])
		}
	})
}

// TestAccountThrottleOwner_RL05: the owner is never locked out for long. A browser that signed
// in before (device cookie) still signs in while an attacker keeps the account throttled; any
// browser can once the capped delay has passed; a success resets the count.
func TestAccountThrottleOwner_RL05(t *testing.T) {
	h := sqliteHarness(t, withThrottle(idp.ThrottlePolicy{Free: 2, Base: 300 * time.Millisecond, Max: 600 * time.Millisecond}))
	h.user("alice@example.com")
	owner := h.browser()
	signedIn := func(b *browser, what string) {
		t.Helper()
		if resp, body := b.postPath("/login", b.loginForm("alice@example.com", testPassword)); resp.StatusCode != http.StatusOK || !strings.Contains(body, "You are signed in") {
			t.Fatalf("%s: %d %s", what, resp.StatusCode, trim([]byte(body)))
		}
	}
	signedIn(owner, "owner's first login")
	attacker := h.browser()
	wrong := attacker.loginForm("alice@example.com", "wrong password")
	for range 2 {
		attacker.postPath("/login", wrong)
	}
	if resp, _ := attacker.postPath("/login", wrong); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("attacker's third guess: %d, want 429", resp.StatusCode)
	}
	// Throttled for every other browser, even with the right password …
	if resp, _ := attacker.postPath("/login", attacker.loginForm("alice@example.com", testPassword)); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password from a new browser while throttled: %d, want 429", resp.StatusCode)
	}
	// … but the owner's browser has its own count.
	signedIn(owner, "owner with the device cookie while the account is throttled")
	// The owner's success reset the account: the attacker starts again from Free.
	for i := range 2 {
		if resp, _ := attacker.postPath("/login", wrong); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("after the owner's success, guess %d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	// The delay is capped: after Max a new browser may try again and signs in.
	time.Sleep(700 * time.Millisecond)
	fresh := h.browser()
	signedIn(fresh, "right password after the capped delay")
	// A device cookie is bound to its account: it does not help with another one.
	h.user("bob@example.com")
	for range 2 {
		attacker.postPath("/login", attacker.loginForm("bob@example.com", "wrong password"))
	}
	if resp, _ := owner.postPath("/login", owner.loginForm("bob@example.com", "wrong password")); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("alice's device cookie on bob's throttled account: %d, want 429", resp.StatusCode)
	}
}

// TestAccountThrottleManyIPs_RL05: 150 wrong passwords for alice, each from another address
// (through a trusted proxy, so that the per-IP limit never fires), get the 5 free guesses
// checked and no more; alice's own browser, which signed in before, still signs in with the
// right password: a soft lock for the attacker, none for the owner.
func TestAccountThrottleManyIPs_RL05(t *testing.T) {
	h := sqliteHarness(t, withTrustedProxies("127.0.0.0/8", "::1/128"),
		withLimits(idp.Limits{Login: "3-M", Token: "100000-M", TokenClient: "100000-M", Introspect: "100000-M", Account: "100000-M"}))
	h.user("alice@example.com")
	owner := h.browser()
	if ok, r, body := owner.login("alice@example.com", testPassword); !ok {
		t.Fatalf("owner's first login: %d %s", r.StatusCode, trim([]byte(body)))
	}
	before := h.hasher.Verifications()
	attacker := h.browser()
	form := attacker.loginForm("alice@example.com", "wrong password")
	got := map[int]int{}
	for i := range 150 {
		ip := "198.51." + strconv.Itoa(100+i/250) + "." + strconv.Itoa(1+i%250)
		req, _ := http.NewRequest(http.MethodPost, h.issuer+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", ip)
		resp, err := attacker.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got[resp.StatusCode]++
	}
	if checks := h.hasher.Verifications() - before; checks != 5 || got[http.StatusUnauthorized] != 5 || got[http.StatusTooManyRequests] != 145 {
		t.Fatalf("150 guesses from 150 addresses: statuses %v, %d password checks; want 5 × 401, 145 × 429, 5 checks", got, checks)
	}
	if ok, r, body := owner.login("alice@example.com", testPassword); !ok {
		t.Fatalf("owner after the attack: %d %s", r.StatusCode, trim([]byte(body)))
	}
}
