// The race detector slows every step several times over, unevenly, so timing comparisons
// would measure it: these tests build only without it (the plain go test run has them).

//go:build !race

package idp_test

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/idp"
)

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// compareTimings runs a and b interleaved n times each and fails when their medians differ by
// 5 ms or more (SECURITY.md AN-02).
func compareTimings(t *testing.T, n int, what string, a, b func(i int)) {
	t.Helper()
	var ta, tb []time.Duration
	for i := range n {
		start := time.Now()
		a(i)
		ta = append(ta, time.Since(start))
		start = time.Now()
		b(i)
		tb = append(tb, time.Since(start))
	}
	ma, mb := median(ta), median(tb)
	t.Logf("%s: medians %v and %v over %d interleaved attempts each", what, ma, mb, n)
	if diff := (ma - mb).Abs(); diff >= 5*time.Millisecond {
		t.Fatalf("%s: medians %v and %v differ by %v, want < 5ms", what, ma, mb, diff)
	}
}

// TestLoginTiming_AN02: 100 interleaved attempts for an unknown address and for a known one with
// a wrong password take the same median time (the unknown address is checked against a dummy
// hash). The per-account throttle is raised so that every attempt reaches the hash.
func TestLoginTiming_AN02(t *testing.T) {
	h := sqliteHarness(t, withThrottle(idp.ThrottlePolicy{Free: 1000}))
	h.user("alice@example.com")
	b := h.browser()
	known, unknown := b.loginForm("alice@example.com", "wrong password"), b.loginForm("nobody@example.com", "wrong password")
	post := func(form map[string][]string) func(int) {
		return func(int) {
			if r, _ := b.postPath("/login", form); r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d", r.StatusCode)
			}
		}
	}
	compareTimings(t, 100, "login, unknown vs known address", post(unknown), post(known))
}

// TestRegisterResetTiming_AN03: registering a taken and a free address, and asking a reset for a
// known and an unknown one, take the same median time: the same hash, the mail is sent in the
// background, and the answer waits for Config.AccountAnswerFloor (25 ms in the harness), which
// hides the writes only a free address (or a known one) costs.
func TestRegisterResetTiming_AN03(t *testing.T) {
	h := sqliteHarness(t)
	h.user("alice@example.com")
	b := h.browser()
	reg := func(email func(int) string) func(int) {
		return func(i int) {
			if r, _ := b.register(email(i), "purple elephants dance quietly"); r.StatusCode != http.StatusOK {
				t.Fatalf("register: %d", r.StatusCode)
			}
		}
	}
	compareTimings(t, 30, "registration, taken vs free address",
		reg(func(int) string { return "alice@example.com" }),
		reg(func(i int) string { return "new" + strconv.Itoa(i) + "@example.com" }))
	reset := func(email string) func(int) {
		return func(int) {
			form, _, _ := b.formFrom("/reset")
			form.Set("email", email)
			if r, _ := b.postPath("/reset", form); r.StatusCode != http.StatusOK {
				t.Fatalf("reset: %d", r.StatusCode)
			}
		}
	}
	compareTimings(t, 30, "reset request, known vs unknown address", reset("alice@example.com"), reset("nobody@example.com"))
}

// TestHasherSaturated503: when every hashing slot is taken and the queue is full, a login and a
// registration answer 503 with Retry-After at once instead of waiting; the queued ones finish.
// The slots are held by a blocking hook, not by timing.
func TestHasherSaturated503(t *testing.T) {
	hasher := idp.NewPasswordHasher(testArgon2, 1, 1) // one slot, one waiting
	release, entered := make(chan struct{}), make(chan struct{}, 8)
	hasher.SetBeforeHash(func() { entered <- struct{}{}; <-release })
	h := sqliteHarness(t, func(s *harnessSetup) { s.deps.Hasher = hasher })
	h.user("alice@example.com")
	b := h.browser()
	var wg sync.WaitGroup
	statuses := make(chan int, 2)
	for _, email := range []string{"alice@example.com", "bob@example.com"} {
		form := b.loginForm(email, "wrong password")
		wg.Go(func() {
			r, _ := b.postPath("/login", form)
			statuses <- r.StatusCode
		})
		if email == "alice@example.com" {
			<-entered // the first holds the slot
		}
	}
	for deadline := time.Now().Add(5 * time.Second); hasher.Pending() < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the second login never queued (pending %d)", hasher.Pending())
		}
	}
	r, body := b.postPath("/login", b.loginForm("carol@example.com", "wrong password"))
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("login with a full queue: %d Retry-After %q %s", r.StatusCode, r.Header.Get("Retry-After"), trim([]byte(body)))
	}
	if r, _ := b.register("dave@example.com", "purple elephants dance quietly"); r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("registration with a full queue: %d", r.StatusCode)
	}
	close(release)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusUnauthorized {
			t.Fatalf("a queued login ended with %d, want 401", s)
		}
	}
}
