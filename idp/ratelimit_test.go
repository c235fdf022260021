package idp_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/internal/web"
)

// rawPost sends a form to path (which may carry a query) with extra headers and returns the
// response with its body read.
func (h *harness) rawPost(path string, form url.Values, hdr ...string) (*http.Response, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// loginForm fetches the login page with b and returns a form for email and password that
// passes the CSRF check, so that an allowed attempt reaches the password check.
func (b *browser) loginForm(email, password string) url.Values {
	resp, err := b.client.Get(b.h.issuer + "/login")
	if err != nil {
		b.h.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return url.Values{"csrf_token": {submatch(csrfRe, string(body))}, "email": {email}, "password": {password}}
}

func (b *browser) postPath(path string, form url.Values) (*http.Response, string) {
	b.h.t.Helper()
	resp, err := b.post(path, form)
	if err != nil {
		b.h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func checkLimited(t *testing.T, resp *http.Response, what string) {
	t.Helper()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("%s: status %d, want 429", what, resp.StatusCode)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Fatalf("%s: Retry-After %q", what, resp.Header.Get("Retry-After"))
	}
	for _, hd := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
		if resp.Header.Get(hd) == "" {
			t.Fatalf("%s: no %s", what, hd)
		}
	}
}

// TestLoginRateLimit_RL01: N+1 logins from one IP get a 429 with Retry-After; /login?x=1 shares
// the counter, /login/, /LOGIN and an encoded path are no way around it, and a limited attempt
// checks no password, not even the right one.
func TestLoginRateLimit_RL01(t *testing.T) {
	const n = 3
	h := sqliteHarness(t, withLimits(idp.Limits{Login: strconv.Itoa(n) + "-M", PasswordChecks: "100000-S"}))
	h.user("alice@example.com")
	b := h.browser()
	form := b.loginForm("alice@example.com", "wrong password")
	for i := range n {
		path := "/login"
		if i == 1 {
			path = "/login?x=1"
		}
		resp, _ := b.postPath(path, form)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401", i, resp.StatusCode)
		}
		if got := resp.Header.Get("RateLimit-Remaining"); got != strconv.Itoa(n-1-i) {
			t.Fatalf("attempt %d: RateLimit-Remaining %q", i, got)
		}
	}
	if got := h.hasher.Verifications(); got != n {
		t.Fatalf("%d password checks, want %d", got, n)
	}
	resp, body := b.postPath("/login", form)
	checkLimited(t, resp, "attempt N+1")
	if !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "Too many") {
		t.Fatalf("limited login page: %s %s", resp.Header.Get("Content-Type"), trim([]byte(body)))
	}
	resp, _ = b.postPath("/login?x=1", b.loginForm("alice@example.com", testPassword))
	checkLimited(t, resp, "right password with a query")
	for _, p := range []string{"/login/", "/LOGIN", "/Login", "/%6Cogin", "/login%2F", "//login"} {
		resp, _ := b.postPath(p, form)
		t.Logf("POST %s: %d", p, resp.StatusCode)
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode/100 != 3 {
			t.Fatalf("%s: status %d: a variant reached a handler", p, resp.StatusCode)
		}
	}
	if got := h.hasher.Verifications(); got != n {
		t.Fatalf("limited attempts checked passwords: %d checks, want %d", got, n)
	}
	// The login page itself (GET) stays reachable.
	if resp, err := b.client.Get(h.issuer + "/login"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /login while limited: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

// TestLoginRateLimitSpoofing_RL02: from an untrusted peer, X-Forwarded-For, X-Real-IP,
// True-Client-IP, CF-Connecting-IP and Forwarded change nothing; through a trusted proxy the
// right-most untrusted X-Forwarded-For entry is the client.
func TestLoginRateLimitSpoofing_RL02(t *testing.T) {
	spoof := func(i int, xff string) []string {
		fake := "198.51.100." + strconv.Itoa(i+1)
		return []string{"X-Forwarded-For", xff, "X-Real-IP", fake, "True-Client-IP", fake,
			"CF-Connecting-IP", fake, "Forwarded", "for=" + fake}
	}
	form := url.Values{"email": {"a@example.com"}, "password": {"x"}}

	t.Run("untrusted peer", func(t *testing.T) {
		h := sqliteHarness(t, withLimits(idp.Limits{Login: "2-M", PasswordChecks: "100000-S"}))
		for i := range 2 {
			if resp, _ := h.rawPost("/login", form, spoof(i, "203.0.113."+strconv.Itoa(i+1))...); resp.StatusCode == http.StatusTooManyRequests {
				t.Fatalf("attempt %d limited early", i)
			}
		}
		resp, _ := h.rawPost("/login", form, spoof(9, "203.0.113.99")...)
		checkLimited(t, resp, "spoofed headers")
	})

	t.Run("trusted proxy", func(t *testing.T) {
		h := sqliteHarness(t, withLimits(idp.Limits{Login: "2-M", PasswordChecks: "100000-S"}), withTrustedProxies("127.0.0.1/32"))
		// The client controls everything left of what the proxy appended (203.0.113.7).
		for i := range 2 {
			xff := "10.9.9." + strconv.Itoa(i) + ", 192.0.2." + strconv.Itoa(i) + ", 203.0.113.7"
			if resp, _ := h.rawPost("/login", form, spoof(i, xff)...); resp.StatusCode == http.StatusTooManyRequests {
				t.Fatalf("attempt %d limited early", i)
			}
		}
		resp, _ := h.rawPost("/login", form, spoof(5, "1.2.3.4, 203.0.113.7, 127.0.0.1")...)
		checkLimited(t, resp, "same client behind the proxy")
		if resp, _ := h.rawPost("/login", form, "X-Forwarded-For", "203.0.113.7, 203.0.113.8"); resp.StatusCode == http.StatusTooManyRequests {
			t.Fatal("another client behind the proxy is limited")
		}
	})
}

// TestLoginRateLimitSameAnswer_RL08: once limited, an existing and an unknown account get the
// same response.
func TestLoginRateLimitSameAnswer_RL08(t *testing.T) {
	h := sqliteHarness(t, withLimits(idp.Limits{Login: "1-M", PasswordChecks: "100000-S"}))
	h.user("alice@example.com")
	b := h.browser()
	b.postPath("/login", b.loginForm("x@example.com", "x"))
	norm := func(resp *http.Response, body string) string {
		body = strings.ReplaceAll(body, resp.Header.Get("X-Request-Id"), "RID")
		var hd []string
		for _, k := range []string{"Content-Type", "Cache-Control", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining"} {
			hd = append(hd, k+": "+resp.Header.Get(k))
		}
		return strconv.Itoa(resp.StatusCode) + "\n" + strings.Join(hd, "\n") + "\n" + body
	}
	r1, b1 := b.postPath("/login", b.loginForm("alice@example.com", "wrong"))
	r2, b2 := b.postPath("/login", b.loginForm("nobody@example.com", "wrong"))
	checkLimited(t, r1, "existing account")
	if a, c := norm(r1, b1), norm(r2, b2); a != c {
		t.Fatalf("limited responses differ:\n%s\n---\n%s", trim([]byte(a)), trim([]byte(c)))
	}
}

// TestOAuthRateLimits_RL07: the token endpoint is limited per IP and per client (Basic or
// form client_id), introspection and revocation per IP; the excess gets an OAuth JSON error.
func TestOAuthRateLimits_RL07(t *testing.T) {
	h := sqliteHarness(t, withLimits(idp.Limits{Token: "4-M", TokenClient: "2-M", Introspect: "2-M"}))
	cc, secret := h.confidential()
	cc2, secret2 := h.confidential()
	form := url.Values{"grant_type": {"client_credentials"}}
	for i := range 2 {
		if code, m, _ := h.postForm("/oauth2/token", form, cc.ID, secret); code != http.StatusOK {
			t.Fatalf("token %d: %d %v", i, code, m)
		}
	}
	code, m, hdr := h.postForm("/oauth2/token", form, cc.ID, secret)
	if code != http.StatusTooManyRequests || m["error"] != "temporarily_unavailable" || hdr.Get("Retry-After") == "" {
		t.Fatalf("per client: %d %v %v", code, m, hdr)
	}
	// The client named in the form counts with the same client named in Basic.
	f := url.Values{"grant_type": {"client_credentials"}, "client_id": {cc.ID}, "client_secret": {secret}}
	if code, m, _ := h.postForm("/oauth2/token", f, "", ""); code != http.StatusTooManyRequests {
		t.Fatalf("client_id in the form: %d %v", code, m)
	}
	// Another client from the same IP reaches the per-IP limit (4) after one more request.
	if code, m, _ := h.postForm("/oauth2/token", form, cc2.ID, secret2); code != http.StatusTooManyRequests {
		t.Fatalf("per IP: %d %v (want the IP limit of 4 reached)", code, m)
	}

	for i := range 2 {
		if code, _, _ := h.postForm("/oauth2/introspect", url.Values{"token": {"x"}}, cc2.ID, secret2); code != http.StatusOK {
			t.Fatalf("introspect %d: %d", i, code)
		}
	}
	if code, m, _ := h.postForm("/oauth2/introspect", url.Values{"token": {"x"}}, cc2.ID, secret2); code != http.StatusTooManyRequests || m["error"] == nil {
		t.Fatalf("introspect limited: %d %v", code, m)
	}
	for i := range 2 {
		if code, _, _ := h.postForm("/oauth2/revoke", url.Values{"token": {"x"}}, cc2.ID, secret2); code != http.StatusOK {
			t.Fatalf("revoke %d: %d (introspection and revocation are counted apart)", i, code)
		}
	}
	if code, _, _ := h.postForm("/oauth2/revoke", url.Values{"token": {"x"}}, cc2.ID, secret2); code != http.StatusTooManyRequests {
		t.Fatalf("revoke limited: %d", code)
	}
}

// testRedisURL is the Redis of the RL-04 tests; they skip without one unless
// GATEHOUSE_TEST_REQUIRE names redis.
func testRedisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("GATEHOUSE_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("GATEHOUSE_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if dbtest.Required("redis") {
			t.Fatalf("no Redis at GATEHOUSE_TEST_REDIS_URL (%v), and GATEHOUSE_TEST_REQUIRE requires it", err)
		}
		t.Skipf("no Redis (%v): set GATEHOUSE_TEST_REDIS_URL", err)
	}
	return u
}

func redisStore(t *testing.T, rawURL, prefix string) idp.Limits {
	t.Helper()
	store, client, err := web.NewRedisLimitStore(rawURL, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return idp.Limits{Store: store, Login: "3-M", Token: "100-M", TokenClient: "100-M", Introspect: "100-M", PasswordChecks: "100000-S"}
}

// TestSharedLimitRedis_RL04: two provider instances on one Redis share one count, and an
// unreachable Redis fails closed (503 with Retry-After) while the rest keeps serving.
func TestSharedLimitRedis_RL04(t *testing.T) {
	u := testRedisURL(t)
	prefix := "gatehouse-test-" + uuid.NewString()
	db := dbtest.NewSQLite(t)
	h1 := newHarness(t, db, withLimits(redisStore(t, u, prefix)))
	h2 := newHarness(t, db, withLimits(redisStore(t, u, prefix)))
	form := url.Values{"email": {"a@example.com"}, "password": {"x"}}
	for i, h := range []*harness{h1, h2, h1} {
		if resp, _ := h.rawPost("/login", form); resp.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("attempt %d limited early", i)
		}
	}
	resp, _ := h2.rawPost("/login", form)
	checkLimited(t, resp, "fourth attempt on the second instance")
	resp, _ = h1.rawPost("/login", form)
	checkLimited(t, resp, "fifth attempt on the first instance")

	// In parallel, spread over both instances: exactly the limit gets through.
	prefix2 := "gatehouse-test-" + uuid.NewString()
	p1 := newHarness(t, db, withLimits(redisStore(t, u, prefix2)))
	p2 := newHarness(t, db, withLimits(redisStore(t, u, prefix2)))
	var limited atomic.Int64
	var wg sync.WaitGroup
	for i := range 20 {
		h := []*harness{p1, p2}[i%2]
		wg.Go(func() {
			resp, err := http.PostForm(h.issuer+"/login", form)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusTooManyRequests {
					limited.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if limited.Load() != 17 {
		t.Fatalf("%d of 20 parallel attempts limited, want 17 (limit 3 across both instances)", limited.Load())
	}

	down := sqliteHarness(t, withLimits(redisStore(t, "redis://127.0.0.1:1/0", prefix)))
	resp, body := down.rawPost("/login", form)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "unavailable") {
		t.Fatalf("login with Redis down: %d %v %s", resp.StatusCode, resp.Header, trim([]byte(body)))
	}
	if down.hasher.Verifications() != 0 {
		t.Fatal("a password was checked with the limit store down")
	}
	code, m, hdr := down.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "x", "y")
	if code != http.StatusServiceUnavailable || m["error"] != "temporarily_unavailable" || hdr.Get("Retry-After") == "" {
		t.Fatalf("token with Redis down: %d %v", code, m)
	}
	if resp, err := http.Get(down.issuer + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("unlimited routes fail with the limit store down: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

// TestLoginRateLimitParallel_RL01: 40 parallel attempts from one IP under a limit of 5 let
// exactly 5 through to the password check.
func TestLoginRateLimitParallel_RL01(t *testing.T) {
	h := sqliteHarness(t, withLimits(idp.Limits{Login: "5-M", PasswordChecks: "100000-S"}))
	h.user("alice@example.com")
	b := h.browser()
	form := b.loginForm("alice@example.com", "wrong password")
	codes := make(chan int, 40)
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			resp, err := b.post("/login", form)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[http.StatusTooManyRequests] != 35 || h.hasher.Verifications() != 5 {
		t.Fatalf("statuses %v, %d password checks; want 35 × 429 and 5 checks", got, h.hasher.Verifications())
	}
}

// TestCredentialStuffingOneIP_RL06: one address trying a different username with one password
// each is limited per address (the username is not part of the key), and every refusal shows
// in the metrics an alert would watch (gatehouse_http_requests_total{code="429",
// route="/login"}).
func TestCredentialStuffingOneIP_RL06(t *testing.T) {
	const n = 5
	h := sqliteHarness(t, withLimits(idp.Limits{Login: strconv.Itoa(n) + "-M", PasswordChecks: "100000-S"}))
	b := h.browser()
	limited := 0
	for i := range 3 * n {
		resp, _ := b.postPath("/login", b.loginForm(fmt.Sprintf("user%d@example.com", i), "Summer2024!"))
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
		} else if i >= n {
			t.Fatalf("username %d from the same address: %d, want 429", i, resp.StatusCode)
		}
	}
	if limited != 2*n || h.hasher.Verifications() != n {
		t.Fatalf("%d limited, %d password checks; want %d and %d", limited, h.hasher.Verifications(), 2*n, n)
	}
	rec := httptest.NewRecorder()
	h.idp.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	want := regexp.MustCompile(`gatehouse_http_requests_total\{code="429",route="/login"[^}]*\} ` + strconv.Itoa(2*n) + `\b`)
	if !want.MatchString(rec.Body.String()) {
		var lines []string
		for l := range strings.Lines(rec.Body.String()) {
			if strings.Contains(l, "/login") {
				lines = append(lines, l)
			}
		}
		t.Fatalf("metrics lack %d refused logins:\n%s", 2*n, strings.Join(lines, ""))
	}
}

// TestRefusalsAreHeld_RL06: with the production delay, a sign-in refused by the per-IP limit
// is answered after a second (a bot that waits for its answers is slowed to one attempt a
// second per connection), still as a 429 with Retry-After; only RefusalHold answers are held
// at once (the gatehouse_refusals_held gauge counts them), and the rest are answered without
// waiting.
func TestRefusalsAreHeld_RL06(t *testing.T) {
	const hold = 3
	h := sqliteHarness(t, withLimits(idp.Limits{Login: "1-M", PasswordChecks: "100000-S", RefusalDelay: idp.DefaultRefusalDelay, RefusalHold: hold}))
	b := h.browser()
	if resp, _ := b.postPath("/login", b.loginForm("alice@example.com", "wrong password")); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("first attempt: %d, want 401", resp.StatusCode)
	}
	start := time.Now()
	resp, _ := b.postPath("/login", b.loginForm("alice@example.com", "wrong password"))
	checkLimited(t, resp, "held refusal")
	if took := time.Since(start); took < idp.DefaultRefusalDelay {
		t.Fatalf("refusal answered after %v, want at least %v", took, idp.DefaultRefusalDelay)
	}
	// 2×hold refusals at once: hold of them wait, the others are answered at once.
	type answer struct {
		status int
		took   time.Duration
	}
	answers := make(chan answer, 2*hold)
	for range 2 * hold {
		go func() {
			b := h.browser()
			form := b.loginForm("alice@example.com", "wrong password")
			start := time.Now()
			resp, _ := b.postPath("/login", form)
			answers <- answer{resp.StatusCode, time.Since(start)}
		}()
	}
	var held, quick int
	for i := range 2 * hold {
		a := <-answers
		if i == hold-1 { // the quick ones are in; the held ones are still held
			rec := httptest.NewRecorder()
			h.idp.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			if want := "gatehouse_refusals_held " + strconv.Itoa(hold) + "\n"; !strings.Contains(rec.Body.String(), want) {
				t.Errorf("metrics while %d are held: no %q", hold, want)
			}
		}
		if a.status != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429", a.status)
		}
		if a.took >= idp.DefaultRefusalDelay {
			held++
		} else {
			quick++
		}
	}
	if held != hold || quick != hold {
		t.Fatalf("%d answers held and %d at once, want %d and %d", held, quick, hold, hold)
	}
	if got := h.hasher.Verifications(); got != 1 {
		t.Fatalf("%d password checks, want 1", got)
	}
}
