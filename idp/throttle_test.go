package idp_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
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
	// The delay after the free guesses is an hour, so that the count cannot depend on how fast
	// this machine sends 150 requests (with the default second, a slow run earns a sixth guess,
	// as the policy allows).
	h := sqliteHarness(t, withTrustedProxies("127.0.0.0/8", "::1/128"),
		withLimits(idp.Limits{Login: "3-M", Token: "100000-M", TokenClient: "100000-M", Introspect: "100000-M", Account: "100000-M", PasswordChecks: "100000-S"}),
		withThrottle(idp.ThrottlePolicy{Free: 5, Base: time.Hour, Max: time.Hour}))
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

// hasDeviceCookie reports whether b holds a device cookie.
func (b *browser) hasDeviceCookie() bool {
	u, _ := url.Parse(b.h.issuer + "/login")
	for _, c := range b.client.Jar.Cookies(u) {
		if strings.HasSuffix(c.Name, "gatehouse_device") {
			return true
		}
	}
	return false
}

// TestDeviceCookieBound_F12_RL05: device cookies do not multiply an attacker's guesses (review
// F12). A sign-in refused because the address is unconfirmed mints none (pre-registration: the
// attacker collects no buckets); and a device cookie is void once the password is reset or
// changed: its browser's attempts count against the account again, so someone who knew the old
// password gets Free guesses in all, not Free per cookie. The browser that reset or changed the
// password gets a fresh cookie that works (the owner is not locked out).
func TestDeviceCookieBound_F12_RL05(t *testing.T) {
	h := sqliteHarness(t, withThrottle(idp.ThrottlePolicy{Free: 2, Base: time.Hour, Max: time.Hour}))
	const attackerPW, ownerPW, changedPW = "attacker chosen passphrase", "owners own new passphrase", "owners second new passphrase"
	// Pre-registration: the attacker registers victim@ with his password and signs in twice.
	var attackers []*browser
	for i := range 2 {
		b := h.browser()
		if i == 0 {
			if r, body := b.register("victim@example.com", attackerPW); r.StatusCode != http.StatusOK {
				t.Fatalf("register: %d %s", r.StatusCode, trim([]byte(body)))
			}
		}
		if r, _ := b.postPath("/login", b.loginForm("victim@example.com", attackerPW)); r.StatusCode != http.StatusForbidden {
			t.Fatalf("unconfirmed sign-in: %d, want 403", r.StatusCode)
		}
		if b.hasDeviceCookie() {
			t.Fatal("a sign-in refused for an unconfirmed address minted a device cookie")
		}
		attackers = append(attackers, b)
	}
	// The owner takes the account over with a reset link; her browser gets a device cookie.
	h.waitMail("victim@example.com", 3) // the registration's link and one per refused sign-in
	owner := h.browser()
	form, _, _ := owner.formFrom("/reset")
	form.Set("email", "victim@example.com")
	owner.postPath("/reset", form)
	link := h.lastLink("victim@example.com", 4)
	if r, body := owner.followLink(link, ownerPW); r.StatusCode != http.StatusOK || !owner.hasDeviceCookie() {
		t.Fatalf("reset: %d, device cookie %v: %s", r.StatusCode, owner.hasDeviceCookie(), trim([]byte(body)))
	}
	// A browser that signed in with a password, then had it reset under it, gets no extra
	// guesses: bob signs in (device cookie), his password is reset, and his old cookie counts
	// with the account.
	h.user("bob@example.com")
	old := h.browser()
	if ok, r, body := old.login("bob@example.com", testPassword); !ok || !old.hasDeviceCookie() {
		t.Fatalf("bob's sign-in: %d %s", r.StatusCode, trim([]byte(body)))
	}
	resetter := h.browser()
	form, _, _ = resetter.formFrom("/reset")
	form.Set("email", "bob@example.com")
	resetter.postPath("/reset", form)
	if r, _ := resetter.followLink(h.lastLink("bob@example.com", 1), ownerPW); r.StatusCode != http.StatusOK {
		t.Fatalf("bob's reset: %d", r.StatusCode)
	}
	for _, tc := range []struct {
		email string
		olds  []*browser
	}{{"victim@example.com", attackers}, {"bob@example.com", []*browser{old}}} {
		before := h.hasher.Verifications()
		fresh := h.browser()
		guessers := append([]*browser{fresh}, tc.olds...)
		got := map[int]int{}
		for _, b := range guessers {
			for range 3 {
				r, _ := b.postPath("/login", b.loginForm(tc.email, "wrong guess"))
				got[r.StatusCode]++
			}
		}
		if checks := h.hasher.Verifications() - before; checks != 2 || got[http.StatusUnauthorized] != 2 {
			t.Fatalf("%s: %d guesses from %d browsers: statuses %v, %d checked; want 2 in all (Free)", tc.email, 3*len(guessers), len(guessers), got, checks)
		}
	}
	// The owner's browser, with the cookie of the reset, still signs in while throttled.
	if ok, r, body := owner.login("victim@example.com", ownerPW); !ok {
		t.Fatalf("owner's browser after the reset, account throttled: %d %s", r.StatusCode, trim([]byte(body)))
	}
	// A password change voids the cookies minted before it, too; the changing browser's new one
	// works.
	other := h.browser()
	if ok, _, _ := other.login("victim@example.com", ownerPW); !ok {
		t.Fatal("owner's second browser: sign-in failed")
	}
	form, _, _ = owner.formFrom("/password")
	form.Set("current_password", ownerPW)
	form.Set("new_password", changedPW)
	if r, body := owner.postPath("/password", form); r.StatusCode != http.StatusOK {
		t.Fatalf("change: %d %s", r.StatusCode, trim([]byte(body)))
	}
	for range 3 {
		b := h.browser()
		b.postPath("/login", b.loginForm("victim@example.com", "wrong guess"))
	}
	before := h.hasher.Verifications()
	if r, _ := other.postPath("/login", other.loginForm("victim@example.com", changedPW)); r.StatusCode != http.StatusTooManyRequests || h.hasher.Verifications() != before {
		t.Fatalf("a device cookie from before the change, account throttled: %d, want 429 and no check", r.StatusCode)
	}
	if ok, r, body := owner.login("victim@example.com", changedPW); !ok {
		t.Fatalf("the browser that changed the password, account throttled: %d %s", r.StatusCode, trim([]byte(body)))
	}
}

// TestResetMailDeviceCookie_F13_RL07: (review F13) the per-address mail throttle can be held at
// its cap by anyone who asks for reset links, so a browser with a device cookie bound to the
// account's current password counts its reset requests apart, as its sign-ins: the owner still
// mails herself a link while strangers' requests send nothing.
func TestResetMailDeviceCookie_F13_RL07(t *testing.T) {
	h := sqliteHarness(t)
	h.user("alice@example.com")
	owner := h.browser()
	if ok, r, body := owner.login("alice@example.com", testPassword); !ok {
		t.Fatalf("owner's sign-in: %d %s", r.StatusCode, trim([]byte(body)))
	}
	ask := func(b *browser) {
		t.Helper()
		form, _, _ := b.formFrom("/reset")
		form.Set("email", "alice@example.com")
		if r, _ := b.postPath("/reset", form); r.StatusCode != http.StatusOK {
			t.Fatalf("reset request: %d", r.StatusCode)
		}
	}
	for range 5 {
		ask(h.browser())
	}
	h.waitMail("alice@example.com", 5)
	ask(h.browser()) // over the address's cap: answered the same, nothing sent
	time.Sleep(200 * time.Millisecond)
	if n := len(h.mailsTo("alice@example.com")); n != 5 {
		t.Fatalf("%d mails after 6 requests from strangers, want 5 (the throttle's free ones)", n)
	}
	ask(owner)
	h.waitMail("alice@example.com", 6)
	ask(h.browser())
	time.Sleep(200 * time.Millisecond)
	if n := len(h.mailsTo("alice@example.com")); n != 6 {
		t.Fatalf("%d mails, want 6: the owner's request goes through, a stranger's still does not", n)
	}
}

// TestPasswordCheckBudget_RL06: a flood of wrong passwords from any number of addresses gets at
// most the process's budget of password checks (Limits.PasswordChecks) before it is answered
// 503 with Retry-After without a hash; a registration takes from the same budget; a browser
// that signed in to the address before (device cookie) is not counted, so the owner still
// gets in during the flood.
func TestPasswordCheckBudget_RL06(t *testing.T) {
	h := sqliteHarness(t, withLimits(idp.Limits{Login: "100000-M", Token: "100000-M", TokenClient: "100000-M",
		Introspect: "100000-M", Account: "100000-M", PasswordChecks: "3-M"}))
	h.user("alice@example.com")
	owner := h.browser()
	if ok, resp, body := owner.login("alice@example.com", testPassword); !ok { // one check, mints the device cookie
		t.Fatalf("owner's first sign-in: %d %s", resp.StatusCode, trim([]byte(body)))
	}
	before := h.hasher.Verifications()
	var got []int
	for i := range 5 {
		b := h.browser()
		resp, _ := b.postPath("/login", b.loginForm(fmt.Sprintf("victim%d@example.com", i), "wrong password"))
		got = append(got, resp.StatusCode)
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
	if want := []int{401, 401, 503, 503, 503}; !slices.Equal(got, want) {
		t.Fatalf("flood statuses %v, want %v", got, want)
	}
	if n := h.hasher.Verifications() - before; n != 2 {
		t.Errorf("%d password checks for the flood, want the 2 the budget had left", n)
	}
	if resp, body := h.browser().register("newcomer@example.com", "purple elephants dance quietly"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("registration with the budget spent: %d %s, want 503", resp.StatusCode, trim([]byte(body)))
	}
	if ok, resp, body := owner.login("alice@example.com", testPassword); !ok {
		t.Fatalf("the owner's browser during the flood: %d %s, want signed in", resp.StatusCode, trim([]byte(body)))
	}
}
