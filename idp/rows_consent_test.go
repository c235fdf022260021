package idp_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
)

// appsGrant is a user's tokens for one client, got through the real pages and x/oauth2.
type appsGrant struct {
	name   string
	client *idp.Client
	secret string
	cfg    *oauth2.Config
	tok    *oauth2.Token
}

// grantFor runs the code flow for c in b (signing in and consenting when asked) and exchanges
// the code with x/oauth2.
func (h *harness) grantFor(t *testing.T, b *browser, name string, c *idp.Client, secret, email string) appsGrant {
	t.Helper()
	cfg := h.oauthConfig(c, secret, "openid", "email", "offline_access", "todos:read")
	code, verifier := h.codeFlow(b, cfg, email)
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("%s: exchange: %v", name, err)
	}
	if tok.RefreshToken == "" {
		t.Fatalf("%s: no refresh token (offline_access was granted)", name)
	}
	return appsGrant{name: name, client: c, secret: secret, cfg: cfg, tok: tok}
}

// refreshErr refreshes g's refresh token with x/oauth2 and returns the OAuth error code, or ""
// when a new token came back (the grant then holds the rotated tokens).
func (g *appsGrant) refreshErr(t *testing.T) string {
	t.Helper()
	tok, err := g.cfg.TokenSource(t.Context(), &oauth2.Token{RefreshToken: g.tok.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	switch {
	case err == nil:
		g.tok = tok
		return ""
	case errors.As(err, &re):
		return re.ErrorCode
	default:
		t.Fatalf("%s: refresh: %v", g.name, err)
		return ""
	}
}

// wantLive checks that g's access token introspects active, userinfo accepts it and its refresh
// token still rotates.
func (h *harness) wantLive(t *testing.T, g *appsGrant) {
	t.Helper()
	if !h.introspect(g.tok.AccessToken, g.client, g.secret) {
		t.Errorf("%s: access token inactive, want active", g.name)
	}
	if st, m := h.userinfo(g.tok.AccessToken); st != http.StatusOK {
		t.Errorf("%s: userinfo = %d %v, want 200", g.name, st, m)
	}
	if e := g.refreshErr(t); e != "" {
		t.Errorf("%s: refresh = %s, want new tokens", g.name, e)
	}
}

// noFollow is b's client (same cookie jar) that stops at the first redirect.
func (b *browser) noFollow() *http.Client {
	c := *b.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// sendForm posts form to path as a same-origin page would, without following redirects.
func (b *browser) sendForm(path string, form url.Values) (*http.Response, string) {
	b.h.t.Helper()
	req, _ := http.NewRequestWithContext(b.h.t.Context(), http.MethodPost, b.h.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.h.issuer)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := b.noFollow().Do(req)
	if err != nil {
		b.h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// getPage fetches path with b without following redirects.
func (b *browser) getPage(path string) (*http.Response, string) {
	b.h.t.Helper()
	resp, err := b.noFollow().Get(b.h.issuer + path)
	if err != nil {
		b.h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var appClientIDRe = regexp.MustCompile(`name="client_id" value="([^"]*)"`)

// appsPage opens /apps in b and returns the page, its CSRF token and the client IDs it offers
// to revoke.
func (b *browser) appsPage(t *testing.T) (body, csrf string, ids []string) {
	t.Helper()
	resp, body := b.getPage("/apps")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /apps = %d %s", resp.StatusCode, trim([]byte(body)))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("GET /apps: CSP %q", csp)
	}
	for _, m := range appClientIDRe.FindAllStringSubmatch(body, -1) {
		ids = append(ids, htmlUnescape(m[1]))
	}
	return body, submatch(csrfRe, body), ids
}

// wantRedirect checks a 303 to path (which for /login may carry no return_to outside the
// authorization endpoint: safeReturnTo allows none).
func wantRedirect(t *testing.T, what string, resp *http.Response, body, path string) {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != path {
		t.Fatalf("%s = %d, Location %q %s; want 303 to %s", what, resp.StatusCode, resp.Header.Get("Location"), trim([]byte(body)), path)
	}
}

// TestRevokeConsent_CO05: alice allowed two third-party clients, bob one of them. On
// /apps alice sees both, by name, with the granted scopes in the consent page's words, and
// revokes one. Then that client's refresh token gets invalid_grant, its access token introspects
// inactive and userinfo refuses it (401), its unredeemed code is void and the next authorization
// shows the consent page again; alice's other client and bob's tokens for the same client work
// as before. A POST without the CSRF token is refused (403) and changes nothing; signed out,
// /apps and the revoke both send the browser to /login and change nothing.
func TestRevokeConsent_CO05(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		testRevokeConsent(t, newHarness(t, newDB(t)))
	})
}

func testRevokeConsent(t *testing.T, h *harness) {
	web, webSecret := h.confidential(func(c *idp.Client) { c.Name = "Photo Printer" })
	other, otherSecret := h.confidential(func(c *idp.Client) { c.Name = "Other App" })
	alice, bob := h.user("alice@example.com"), h.user("bob@example.com")
	ab, bb := h.browser(), h.browser()
	aliceWeb := h.grantFor(t, ab, "alice/web", web, webSecret, alice.Email)
	aliceOther := h.grantFor(t, ab, "alice/other", other, otherSecret, alice.Email)
	bobWeb := h.grantFor(t, bb, "bob/web", web, webSecret, bob.Email)
	// A code issued to web for alice but not redeemed yet: revoking must void it too.
	pendingCode, pendingVerifier := h.codeFlow(ab, aliceWeb.cfg, alice.Email)

	body, csrf, ids := ab.appsPage(t)
	for _, want := range []string{"Photo Printer", "Other App", "keep access while you are away", "see your email address",
		"know who you are", "todos:read", "https://api.example"} {
		if !strings.Contains(body, want) {
			t.Errorf("/apps does not show %q: %s", want, body)
		}
	}
	if len(ids) != 2 || !slices.Contains(ids, web.ID) || !slices.Contains(ids, other.ID) {
		t.Fatalf("/apps offers to revoke %q, want %s and %s", ids, web.ID, other.ID)
	}
	if csrf == "" || !strings.Contains(body, `action="/apps/revoke"`) {
		t.Fatalf("/apps has no revoke form with a CSRF token: %s", body)
	}

	// Refused attempts change nothing.
	if resp, body := ab.sendForm("/apps/revoke", url.Values{"client_id": {web.ID}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("revoke without CSRF token = %d %s, want 403", resp.StatusCode, trim([]byte(body)))
	}
	if resp, body := ab.sendForm("/apps/revoke", url.Values{"client_id": {web.ID}, "csrf_token": {strings.Repeat("x", 43)}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("revoke with a wrong CSRF token = %d %s, want 403", resp.StatusCode, trim([]byte(body)))
	}
	anon := h.browser()
	resp, body := anon.getPage("/apps")
	wantRedirect(t, "GET /apps signed out", resp, body, "/login")
	anonCSRF, _, _ := anon.formFrom("/login")
	resp, body = anon.sendForm("/apps/revoke", url.Values{"client_id": {web.ID}, "csrf_token": anonCSRF["csrf_token"]})
	wantRedirect(t, "revoke signed out", resp, body, "/login")
	if _, err := h.store.GetConsent(t.Context(), alice.ID, web.ID); err != nil {
		t.Fatalf("alice's consent to web after refused revokes: %v", err)
	}
	if !h.introspect(aliceWeb.tok.AccessToken, web, webSecret) {
		t.Fatal("alice's access token for web inactive after refused revokes")
	}

	// Alice revokes web.
	resp, body = ab.sendForm("/apps/revoke", url.Values{"client_id": {web.ID}, "csrf_token": {csrf}})
	wantRedirect(t, "revoke web", resp, body, "/apps?revoked=1")
	resp, body = ab.getPage("/apps?revoked=1")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="revoked"`) {
		t.Errorf("/apps after revoking = %d, no confirmation: %s", resp.StatusCode, trim([]byte(body)))
	}
	if _, _, ids := ab.appsPage(t); len(ids) != 1 || ids[0] != other.ID {
		t.Errorf("/apps after revoking web offers %q, want only %s", ids, other.ID)
	}

	// web's access for alice is gone.
	if _, err := h.store.GetConsent(t.Context(), alice.ID, web.ID); !errors.Is(err, idp.ErrNotFound) {
		t.Errorf("alice's consent to web after revoking: %v, want ErrNotFound", err)
	}
	if e := aliceWeb.refreshErr(t); e != "invalid_grant" {
		t.Errorf("alice's refresh token for web after revoking: %q, want invalid_grant", e)
	}
	if h.introspect(aliceWeb.tok.AccessToken, web, webSecret) {
		t.Error("alice's access token for web introspects active after revoking")
	}
	if st, m := h.userinfo(aliceWeb.tok.AccessToken); st != http.StatusUnauthorized {
		t.Errorf("userinfo with alice's access token for web after revoking = %d %v, want 401", st, m)
	}
	_, err := aliceWeb.cfg.Exchange(t.Context(), pendingCode, oauth2.VerifierOption(pendingVerifier))
	if re := (*oauth2.RetrieveError)(nil); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("exchange of alice's pending code for web after revoking = %v, want invalid_grant", err)
	}
	next := aliceWeb.cfg.AuthCodeURL("state-"+uuid.NewString(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	if form := ab.consentForm(next); form.Get("challenge") == "" {
		t.Errorf("next authorization of web: consent form without a challenge: %v", form)
	}

	// Everything else stays.
	if _, err := h.store.GetConsent(t.Context(), alice.ID, other.ID); err != nil {
		t.Errorf("alice's consent to other after revoking web: %v", err)
	}
	if _, err := h.store.GetConsent(t.Context(), bob.ID, web.ID); err != nil {
		t.Errorf("bob's consent to web after alice revoked it: %v", err)
	}
	h.wantLive(t, &aliceOther)
	h.wantLive(t, &bobWeb)
}

// TestRevokeConsentNeutral_CO05: revoking a client that does not exist, or one alice never
// allowed (bob did), answers exactly like a real revocation and touches nobody's grant; a form
// that names no single, sane client ID (NUL and invalid UTF-8 included, which PostgreSQL refuses)
// gets a 400 page, never a 500.
func TestRevokeConsentNeutral_CO05(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		testRevokeConsentNeutral(t, newHarness(t, newDB(t)))
	})
}

func testRevokeConsentNeutral(t *testing.T, h *harness) {
	web, webSecret := h.confidential()
	alice, bob := h.user("alice@example.com"), h.user("bob@example.com")
	ab, bb := h.browser(), h.browser()
	if ok, r, body := ab.login(alice.Email, testPassword); !ok {
		t.Fatalf("login alice: %d %s", r.StatusCode, trim([]byte(body)))
	}
	bobWeb := h.grantFor(t, bb, "bob/web", web, webSecret, bob.Email)
	if _, _, ids := ab.appsPage(t); len(ids) != 0 {
		t.Fatalf("alice's /apps offers %q, want nothing", ids)
	}
	pf, _, _ := ab.formFrom("/password") // /apps has no form to take the CSRF token from
	csrf := pf.Get("csrf_token")
	for _, id := range []string{"no-such-client", web.ID} {
		resp, body := ab.sendForm("/apps/revoke", url.Values{"client_id": {id}, "csrf_token": {csrf}})
		wantRedirect(t, "revoke "+id, resp, body, "/apps?revoked=1")
	}
	if _, err := h.store.GetConsent(t.Context(), bob.ID, web.ID); err != nil {
		t.Errorf("bob's consent to web after alice revoked it: %v", err)
	}
	h.wantLive(t, &bobWeb)

	for _, bad := range []url.Values{
		{},
		{"client_id": {""}},
		{"client_id": {web.ID, "other"}},
		{"client_id": {"web\x00"}},
		{"client_id": {"\xff\xfe"}},
		{"client_id": {strings.Repeat("a", 2000)}},
	} {
		bad.Set("csrf_token", csrf)
		resp, body := ab.sendForm("/apps/revoke", bad)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "did not name one application") {
			t.Errorf("revoke with %.40q = %d %s, want the 400 page", bad["client_id"], resp.StatusCode, trim([]byte(body)))
		}
	}
	// A body that is no form at all.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, h.issuer+"/apps/revoke", strings.NewReader("%zz=%%%&&=="))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", h.issuer)
	resp, err := ab.noFollow().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("revoke with a broken form = %d, want 400", resp.StatusCode)
	}
}

// TestHomeLinksApps_CO05: the signed-in home page links to /apps next to the password change.
func TestHomeLinksApps_CO05(t *testing.T) {
	h := sqliteHarness(t)
	alice := h.user("alice@example.com")
	b := h.browser()
	if ok, r, body := b.login(alice.Email, testPassword); !ok {
		t.Fatalf("login: %d %s", r.StatusCode, trim([]byte(body)))
	}
	resp, body := b.getPage("/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `href="/apps"`) || !strings.Contains(body, `href="/password"`) {
		t.Fatalf("home page = %d, want links to /apps and /password: %s", resp.StatusCode, body)
	}
	if body, _, _ := b.appsPage(t); !strings.Contains(body, `id="no-apps"`) {
		t.Errorf("/apps without consents: %s", body)
	}
}

// TestBrowserRevokeConsent_CO05: in Chromium alice allows a third-party client, goes from the
// home page to Connected apps, clicks "Revoke access" (a POST answered with 303, then a GET of
// the confirmation), and the client's refresh token is refused; the next authorization shows the
// consent page again.
func TestBrowserRevokeConsent_CO05(t *testing.T) {
	h := sqliteHarness(t)
	app := newSite(t)
	web, secret := h.confidential(withRedirectURI(app.callbackURL()), func(c *idp.Client) { c.Name = "Photo Printer" })
	alice := h.user("alice@example.com")
	scopes := []string{"openid", "offline_access"}
	cfg := h.oauthConfig(web, secret, scopes...)
	verifier := oauth2.GenerateVerifier()
	ctx := newBrowser(t)
	netlog := recordNetwork(t, ctx)

	toConsent(t, ctx, cfg.AuthCodeURL("state-"+uuid.NewString(), oauth2.S256ChallengeOption(verifier)), alice.Email, web, scopes)
	click(t, ctx, "consent-allow")
	tok, err := cfg.Exchange(t.Context(), app.callback(t).query.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("exchange the code: %v (refresh token %t)", err, tok != nil && tok.RefreshToken != "")
	}

	navigate(t, ctx, h.issuer+"/")
	if resp := click(t, ctx, "connected-apps"); resp.Status != http.StatusOK || eval[string](t, ctx, `location.pathname`) != "/apps" {
		t.Fatalf("Connected apps link: %d at %s", resp.Status, resp.URL)
	}
	if names := eval[[]string](t, ctx, `[...document.querySelectorAll(".app-name")].map(e => e.textContent)`); !slices.Equal(names, []string{"Photo Printer"}) {
		t.Fatalf("/apps lists %q, want [Photo Printer]", names)
	}
	resp := submit(t, ctx, chromedp.Click(chromedp.CSS("button.revoke")))
	if resp.Status != http.StatusOK || !eval[bool](t, ctx, `document.getElementById("revoked") !== null && document.querySelector(".app-name") === null`) {
		t.Fatalf("after Revoke access: %d at %s: %q", resp.Status, resp.URL, eval[string](t, ctx, `document.body.innerText`))
	}
	if post, next := netlog.wait(t, ctx, http.MethodPost, h.issuer+"/apps/revoke"); post.status != http.StatusSeeOther || next.method != http.MethodGet {
		t.Errorf("POST /apps/revoke answered %d and followed by %q, want 303 then GET", post.status, next.method)
	}

	g := appsGrant{name: "alice/web", client: web, secret: secret, cfg: cfg, tok: tok}
	if e := g.refreshErr(t); e != "invalid_grant" {
		t.Errorf("refresh after Revoke access: %q, want invalid_grant", e)
	}
	navigate(t, ctx, cfg.AuthCodeURL("state-"+uuid.NewString(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if got := eval[string](t, ctx, `document.querySelector("#client-name")?.textContent ?? "(none)"`); got != web.Name {
		t.Errorf("next authorization: #client-name = %q, want the consent page for %q", got, web.Name)
	}
}
