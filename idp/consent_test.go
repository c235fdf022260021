package idp_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"
)

var consentFieldRe = regexp.MustCompile(`name="(csrf_token|return_to|challenge)" value="([^"]*)"`)

// consentForm opens authURL in b (signed in) and returns the consent page's form, allowing.
func (b *browser) consentForm(authURL string) url.Values {
	b.h.t.Helper()
	resp, err := b.client.Get(authURL)
	if err != nil {
		b.h.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `action="/consent"`) {
		b.h.t.Fatalf("consent page: %d %s", resp.StatusCode, trim(body))
	}
	form := url.Values{"decision": {"allow"}}
	for _, m := range consentFieldRe.FindAllStringSubmatch(string(body), -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	return form
}

// TestConsentChallenge_CO02: a consent answer counts only in the session and for the exact
// request it was shown for, within its lifetime, and once: alice's challenge in bob's session,
// a changed request, a changed challenge ID and no session at all are refused (403); of ten
// answers to one page sent at once exactly one resumes the authorization and the others get
// 409, as does a later replay. Nothing refused stores a consent.
func TestConsentChallenge_CO02(t *testing.T) {
	h := sqliteHarness(t)
	c, secret := h.confidential()
	cfg := h.oauthConfig(c, secret, "openid", "profile")
	alice, bob := h.user("alice@example.com"), h.user("bob@example.com")
	ab, bb := h.browser(), h.browser()
	for _, x := range []struct {
		b     *browser
		email string
	}{{ab, alice.Email}, {bb, bob.Email}} {
		if ok, r, body := x.b.login(x.email, testPassword); !ok {
			t.Fatalf("login %s: %d %s", x.email, r.StatusCode, trim([]byte(body)))
		}
	}
	authURL := cfg.AuthCodeURL("state-co02-0001", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	af := ab.consentForm(authURL)
	if af.Get("challenge") == "" || af.Get("return_to") == "" || af.Get("csrf_token") == "" {
		t.Fatalf("consent form fields: %v", af)
	}
	refused := func(what string, b *browser, f url.Values, want int) {
		t.Helper()
		if r, body := b.postPath("/consent", f); r.StatusCode != want {
			t.Fatalf("%s: %d %s, want %d", what, r.StatusCode, trim([]byte(body)), want)
		}
	}
	// In bob's session (with bob's own CSRF token), alice's challenge is refused.
	bf := bb.consentForm(authURL)
	bf.Set("challenge", af.Get("challenge"))
	refused("alice's challenge in bob's session", bb, bf, http.StatusForbidden)
	// A changed request under alice's challenge.
	changed := cloneValues(af)
	changed.Set("return_to", strings.Replace(af.Get("return_to"), "profile", "email", 1))
	refused("a changed request", ab, changed, http.StatusForbidden)
	// A changed challenge ID (the MAC covers it).
	changed = cloneValues(af)
	changed.Set("challenge", "A"+af.Get("challenge"))
	refused("a changed challenge ID", ab, changed, http.StatusForbidden)
	// No session: a fresh browser with its own CSRF token.
	anon := h.browser()
	nf := cloneValues(af)
	nf.Set("csrf_token", anon.loginForm("", "").Get("csrf_token"))
	refused("no session", anon, nf, http.StatusForbidden)
	for _, u := range []string{alice.ID, bob.ID} {
		if _, err := h.store.GetConsent(t.Context(), u, c.ID); err == nil {
			t.Fatalf("a refused answer stored a consent for %s", u)
		}
	}

	// Ten answers to alice's page at once: one wins.
	statuses := make([]int, 10)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Go(func() {
			r, err := ab.post("/consent", af)
			if err != nil {
				t.Error(err)
				return
			}
			r.Body.Close()
			statuses[i] = r.StatusCode
			if r.StatusCode == http.StatusSeeOther && !strings.Contains(r.Header.Get("Location"), "code=") {
				t.Errorf("the winning answer went to %s, want the client with a code", r.Header.Get("Location"))
			}
		})
	}
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if count[http.StatusSeeOther] != 1 || count[http.StatusConflict] != 9 {
		t.Fatalf("ten answers to one consent page: %v, want one 303 and nine 409", count)
	}
	refused("a replay of the used answer", ab, af, http.StatusConflict)
	if _, err := h.store.GetConsent(t.Context(), alice.ID, c.ID); err != nil {
		t.Fatalf("alice's consent: %v", err)
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// TestFirstPartyPromptConsent_CO01: a first-party client skips the consent page, unless its
// request says prompt=consent, which shows the page (OIDC Core §3.1.2.1); allowing it resumes
// the authorization, and the next request without the prompt skips the page again.
func TestFirstPartyPromptConsent_CO01(t *testing.T) {
	h := sqliteHarness(t)
	spa := h.public()
	cfg := h.oauthConfig(spa, "", "openid", "offline_access")
	h.user("fp@example.com")
	b := h.browser()
	if ok, r, body := b.login("fp@example.com", testPassword); !ok {
		t.Fatalf("login: %d %s", r.StatusCode, trim([]byte(body)))
	}
	// code reports the code the authorization redirects with at once, with no page between.
	code := func() string {
		t.Helper()
		r, err := b.client.Get(cfg.AuthCodeURL("state-fp-co01", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		loc, _ := url.Parse(r.Header.Get("Location"))
		if r.StatusCode/100 != 3 || loc == nil {
			t.Fatalf("first-party authorization: %d, want a redirect to the client", r.StatusCode)
		}
		return loc.Query().Get("code")
	}
	if code() == "" {
		t.Fatal("first-party authorization without prompt: no code")
	}
	f := b.consentForm(cfg.AuthCodeURL("state-fp-co01", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "consent")))
	r, err := b.post("/consent", f)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if loc := r.Header.Get("Location"); !strings.Contains(loc, "code=") {
		t.Fatalf("allowing the first-party consent page: %d %s, want the code", r.StatusCode, loc)
	}
	if code() == "" {
		t.Fatal("first-party authorization after prompt=consent: no code")
	}
}
