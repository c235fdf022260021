package idp_test

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/internal/loginflow"
)

// withSessionConfig changes the provider's Config before the server is built (lifetimes and
// timeouts the rows below shorten).
func withSessionConfig(fn func(c *idp.Config)) harnessOpt {
	return func(s *harnessSetup) { fn(&s.cfg) }
}

// sessTokens runs the code flow for email in b and redeems the code.
func (h *harness) sessTokens(b *browser, cfg *oauth2.Config, email string, extra ...oauth2.AuthCodeOption) *oauth2.Token {
	h.t.Helper()
	code, verifier := h.codeFlow(b, cfg, email, extra...)
	tok, err := cfg.Exchange(h.t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		h.t.Fatalf("exchange: %v", err)
	}
	return tok
}

// sessRefresh sends a refresh_token grant for client c (Basic for a confidential client, the
// client_id in the form for a public one), with extra form fields.
func (h *harness) sessRefresh(c *idp.Client, secret, rt string, extra url.Values) (int, map[string]any) {
	h.t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for k, v := range extra {
		form[k] = v
	}
	user := c.ID
	if secret == "" {
		form.Set("client_id", c.ID)
		user = ""
	}
	status, m, _ := h.postForm("/oauth2/token", form, user, secret)
	return status, m
}

// sessPromptNone sends a prompt=none authorization in b and returns the redirect's query.
func (h *harness) sessPromptNone(b *browser, cfg *oauth2.Config) url.Values {
	h.t.Helper()
	loc, err := b.authorize(cfg.AuthCodeURL("state-"+uuid.NewString(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "none")), "", "")
	if err != nil {
		h.t.Fatalf("prompt=none: %v", err)
	}
	return loc.Query()
}

// sessHome reports the path a GET of / in b ends on: / when signed in, /login otherwise.
func (h *harness) sessHome(b *browser) string {
	h.t.Helper()
	resp, err := b.client.Get(h.issuer + "/")
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Request.URL.Path
}

// sessDisable disables a user the way `gatehouse users disable` does (cmd/gatehouse/users.go):
// the flag, then every login session, then every token of the subject.
func (h *harness) sessDisable(id string) {
	h.t.Helper()
	ctx := h.t.Context()
	if err := h.store.UpdateUser(ctx, id, func(u *idp.User) error { u.Disabled = true; u.UpdatedAt = time.Now(); return nil }); err != nil {
		h.t.Fatal(err)
	}
	if err := h.store.DeleteUserLoginSessions(ctx, id); err != nil {
		h.t.Fatal(err)
	}
	if err := h.store.RevokeSubjectTokens(ctx, id); err != nil {
		h.t.Fatal(err)
	}
}

// sessCookie returns the value of the session cookie in b's jar, or "".
func (h *harness) sessCookie(b *browser) string {
	u, _ := url.Parse(h.issuer)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "gatehouse_session" {
			return c.Value
		}
	}
	return ""
}

func wantInvalidGrant(t *testing.T, what string, status int, m map[string]any) {
	t.Helper()
	if status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("%s: refresh = %d %v, want 400 invalid_grant", what, status, m)
	}
}

// TestRefreshIdleExpiry_RT05 configures a 3-second refresh idle window: a refresh within it
// works and gives a token whose own idle window starts again; that token left unused past its
// window gives invalid_grant.
func TestRefreshIdleExpiry_RT05(t *testing.T) {
	const idle = 3 * time.Second
	h := sqliteHarness(t, withSessionConfig(func(c *idp.Config) { c.RefreshTokenIdle = idle }))
	web, secret := h.confidential(firstParty)
	h.user("rt05@example.com")
	tok := h.sessTokens(h.browser(), h.oauthConfig(web, secret, "openid", "offline_access"), "rt05@example.com")

	status, m := h.sessRefresh(web, secret, tok.RefreshToken, nil)
	if status != http.StatusOK {
		t.Fatalf("refresh within the idle window = %d %v", status, m)
	}
	rt, _ := m["refresh_token"].(string)
	rotated := time.Now()
	_, intro, _ := h.postForm("/oauth2/introspect", url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}}, web.ID, secret)
	exp, _ := intro["exp"].(float64)
	if end := time.Unix(int64(exp), 0); end.Before(rotated.Add(idle-2*time.Second)) || end.After(rotated.Add(idle+time.Second)) {
		t.Errorf("rotated refresh token exp = %s, want about %s (the idle window from the rotation)", end.Format(time.RFC3339), rotated.Add(idle).Format(time.RFC3339))
	}
	time.Sleep(time.Until(rotated.Add(idle + time.Second)))
	status, m = h.sessRefresh(web, secret, rt, nil)
	wantInvalidGrant(t, "after the idle window", status, m)
}

// TestRefreshBroaderScope_RT06 asks for more on refresh than the grant holds: a scope the
// client may have but the user never granted, and one the client may not have at all. Neither
// is granted: the answer is invalid_scope, or tokens without the extra scope.
//
// The narrower half of RT-06 (a refresh asking for less gets an access token with only that) is
// not met: fosite v0.49.0's refresh handler ignores the scope parameter and grants the original
// scopes again (handler/oauth2/flow_refresh.go). Reported as a gap, not asserted here.
func TestRefreshBroaderScope_RT06(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential(firstParty)
	h.user("rt06@example.com")
	tok := h.sessTokens(h.browser(), h.oauthConfig(web, secret, "openid", "offline_access"), "rt06@example.com")
	rt := tok.RefreshToken
	for _, scope := range []string{"openid offline_access email", "openid offline_access todos:read", "openid offline_access admin"} {
		status, m := h.sessRefresh(web, secret, rt, url.Values{"scope": {scope}})
		if status == http.StatusBadRequest && m["error"] == "invalid_scope" {
			continue
		}
		if status != http.StatusOK {
			t.Fatalf("refresh asking for %q = %d %v, want invalid_scope or no extra scope", scope, status, m)
		}
		rt, _ = m["refresh_token"].(string)
		if got, _ := m["scope"].(string); got != "" && !sameScopes(got, "openid offline_access") {
			t.Errorf("refresh asking for %q: response scope %q, want only the original", scope, got)
		}
		_, claims := decodeJWT(t, m["access_token"].(string))
		if got, _ := claims["scope"].(string); !sameScopes(got, "openid offline_access") {
			t.Errorf("refresh asking for %q: access token scope %q, want only the original", scope, got)
		}
		if idt, _ := m["id_token"].(string); idt != "" {
			if _, c := decodeJWT(t, idt); c["email"] != nil {
				t.Errorf("refresh asking for %q: ID token carries email %v", scope, c["email"])
			}
		}
	}
}

func sameScopes(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// TestRefreshIDToken_RT07 compares the ID token of a refresh with the original: same iss, sub
// and aud, the same auth_time, a later iat; the new one verifies against the JWKS.
func TestRefreshIDToken_RT07(t *testing.T) {
	h := sqliteHarness(t)
	spa := h.public()
	h.user("rt07@example.com")
	cfg := h.oauthConfig(spa, "", "openid", "email", "offline_access")
	tok := h.sessTokens(h.browser(), cfg, "rt07@example.com")
	raw1, _ := tok.Extra("id_token").(string)
	_, c1 := decodeJWT(t, raw1)
	iat1, _ := c1["iat"].(float64)
	time.Sleep(time.Until(time.Unix(int64(iat1)+1, 0)) + 50*time.Millisecond) // iat has whole seconds

	status, m := h.sessRefresh(spa, "", tok.RefreshToken, nil)
	if status != http.StatusOK {
		t.Fatalf("refresh = %d %v", status, m)
	}
	raw2, _ := m["id_token"].(string)
	if raw2 == "" {
		t.Fatalf("refresh gave no ID token: %v", m)
	}
	provider, err := oidc.NewProvider(t.Context(), h.issuer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.Verifier(&oidc.Config{ClientID: spa.ID}).Verify(t.Context(), raw2); err != nil {
		t.Errorf("refreshed ID token does not verify: %v", err)
	}
	_, c2 := decodeJWT(t, raw2)
	for _, k := range []string{"iss", "sub", "aud", "auth_time"} {
		if c1[k] == nil || !equalJSON(c1[k], c2[k]) {
			t.Errorf("%s: original %v, refreshed %v, want the same", k, c1[k], c2[k])
		}
	}
	if iat2, _ := c2["iat"].(float64); iat2 <= iat1 {
		t.Errorf("iat: original %v, refreshed %v, want a later one", iat1, iat2)
	}
}

// withinASecond compares a token's exp − iat with a lifetime. fosite reads the clock twice (exp,
// then iat) and keeps whole seconds (exp of access tokens rounded, iat truncated), so the
// difference of the two claims can be one second off the configured lifetime.
func withinASecond(got, want time.Duration) bool {
	return got >= want-time.Second && got <= want+time.Second
}

func equalJSON(a, b any) bool {
	if as, ok := a.([]any); ok {
		bs, ok := b.([]any)
		return ok && slices.Equal(as, bs)
	}
	return a == b
}

// TestRefreshRevokedOnEvents_RT08 uses refresh tokens of a first-party SPA and a third-party
// web client after a password change and after the account is disabled: every one gives
// invalid_grant, and the access tokens are no longer active.
//
// Not covered, reported as gaps: logout does not revoke the SPA's refresh tokens (see
// TestLogout_LO02), and Gatehouse offers no consent revocation (CO-05).
func TestRefreshRevokedOnEvents_RT08(t *testing.T) {
	for _, tt := range []struct {
		name  string
		event func(t *testing.T, h *harness, b *browser, u *idp.User)
	}{
		{"password change", func(t *testing.T, h *harness, b *browser, _ *idp.User) {
			form, _, _ := b.formFrom("/password")
			form.Set("current_password", testPassword)
			form.Set("new_password", "a completely new passphrase")
			if r, body := b.postPath("/password", form); r.StatusCode != http.StatusOK {
				t.Fatalf("password change: %d %s", r.StatusCode, trim([]byte(body)))
			}
		}},
		{"account disabled", func(_ *testing.T, h *harness, _ *browser, u *idp.User) { h.sessDisable(u.ID) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := sqliteHarness(t)
			spa := h.public()
			web, secret := h.confidential()
			rs, rsSecret := h.confidential()
			u := h.user("rt08@example.com")
			b, _ := h.httpSession(t, u.Email)
			spaTok := h.sessTokens(b, h.oauthConfig(spa, "", "openid", "offline_access"), u.Email)
			webTok := h.sessTokens(b, h.oauthConfig(web, secret, "openid", "offline_access"), u.Email)

			tt.event(t, h, b, u)

			status, m := h.sessRefresh(spa, "", spaTok.RefreshToken, nil)
			wantInvalidGrant(t, "SPA", status, m)
			status, m = h.sessRefresh(web, secret, webTok.RefreshToken, nil)
			wantInvalidGrant(t, "web client", status, m)
			for name, at := range map[string]string{"SPA": spaTok.AccessToken, "web client": webTok.AccessToken} {
				if h.introspect(at, rs, rsSecret) {
					t.Errorf("%s access token still active", name)
				}
			}
		})
	}
}

// TestRefreshIssuancePolicy_RT09 checks who gets refresh tokens, as the README documents them
// ("Refresh tokens are issued when offline_access is granted"): the first-party SPA gets one
// with offline_access and none without; a third-party client gets offline_access only through
// the consent page, which names it, and prompt=none cannot skip that; client credentials never
// get one, even when asking for offline_access.
func TestRefreshIssuancePolicy_RT09(t *testing.T) {
	h := sqliteHarness(t)
	spa := h.public()
	web, secret := h.confidential()
	u := h.user("rt09@example.com")
	b, _ := h.httpSession(t, u.Email)

	if tok := h.sessTokens(b, h.oauthConfig(spa, "", "openid", "offline_access"), u.Email); tok.RefreshToken == "" {
		t.Error("first-party SPA with offline_access: no refresh token")
	}
	if tok := h.sessTokens(b, h.oauthConfig(spa, "", "openid"), u.Email); tok.RefreshToken != "" {
		t.Error("first-party SPA without offline_access got a refresh token")
	}

	// Third party: consent to openid alone first.
	if tok := h.sessTokens(b, h.oauthConfig(web, secret, "openid"), u.Email); tok.RefreshToken != "" {
		t.Error("third-party client without offline_access got a refresh token")
	}
	offline := h.oauthConfig(web, secret, "openid", "offline_access")
	if q := h.sessPromptNone(b, offline); q.Get("error") != "consent_required" {
		t.Errorf("prompt=none adding offline_access = %v, want consent_required", q)
	}
	resp, err := b.client.Get(offline.AuthCodeURL("state-"+uuid.NewString(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `action="/consent"`) || !strings.Contains(string(page), "<code>offline_access</code>") {
		t.Fatalf("authorization adding offline_access = %d, want the consent page naming offline_access: %s", resp.StatusCode, trim(page))
	}
	if tok := h.sessTokens(b, offline, u.Email); tok.RefreshToken == "" {
		t.Error("third-party client after consent to offline_access: no refresh token")
	}

	// Client credentials: never a refresh token.
	status, m, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"offline_access"}}, web.ID, secret)
	if status == http.StatusOK && m["refresh_token"] != nil {
		t.Errorf("client credentials with offline_access got a refresh token: %v", m)
	}
	if status != http.StatusOK && status != http.StatusBadRequest {
		t.Errorf("client credentials with offline_access = %d %v", status, m)
	}
}

// TestLogout_LO02 signs out through RP-initiated logout and checks what ended: the old session
// cookie, replayed in another browser, leads to the login page; prompt=none gives
// login_required. The JWT access token is not recalled: it still verifies offline against the
// JWKS until exp, and exp − iat is the configured access-token lifetime (README: 10m by
// default, at most 24h), here 5 minutes. The SPA's refresh token (a public client's grant is
// bound to the sign-in it came from) gives invalid_grant; a third-party client's offline_access
// grant from the same session, which the user granted to outlive it, still refreshes.
func TestLogout_LO02(t *testing.T) {
	const atLifespan = 5 * time.Minute
	h := sqliteHarness(t, withSessionConfig(func(c *idp.Config) { c.AccessTokenLifespan = atLifespan }))
	spa := h.public(func(c *idp.Client) { c.PostLogoutRedirectURIs = []string{"http://127.0.0.1:5173/bye"} })
	u := h.user("lo02@example.com")
	b, cookie := h.httpSession(t, u.Email)
	cfg := h.oauthConfig(spa, "", "openid", "offline_access")
	tok := h.sessTokens(b, cfg, u.Email)
	idt, _ := tok.Extra("id_token").(string)
	web, secret := h.confidential()
	webTok := h.sessTokens(b, h.oauthConfig(web, secret, "openid", "offline_access"), u.Email)
	if status, m := h.sessRefresh(spa, "", tok.RefreshToken, nil); status != http.StatusOK {
		t.Fatalf("SPA refresh while signed in: %d %v", status, m)
	} else {
		tok.RefreshToken, _ = m["refresh_token"].(string)
	}

	resp, err := b.client.Get(h.issuer + "/oauth2/logout?" + url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"http://127.0.0.1:5173/bye"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout = %d, want 303 to the registered URI", resp.StatusCode)
	}

	replay := h.browser()
	iss, _ := url.Parse(h.issuer)
	replay.client.Jar.SetCookies(iss, []*http.Cookie{{Name: "gatehouse_session", Value: cookie, Path: "/"}})
	if path := h.sessHome(replay); path != "/login" {
		t.Errorf("old session cookie after logout: / ends on %s, want /login", path)
	}
	replay.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = replay.client.Get(cfg.AuthCodeURL("state-"+uuid.NewString(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?") {
		t.Errorf("authorization with the old cookie = %d %q, want 303 to the login page", resp.StatusCode, loc)
	}
	for name, br := range map[string]*browser{"logged-out browser": b, "replayed cookie": replay} {
		if q := h.sessPromptNone(br, cfg); q.Get("error") != "login_required" {
			t.Errorf("%s: prompt=none = %v, want login_required", name, q)
		}
	}

	status, m := h.sessRefresh(spa, "", tok.RefreshToken, nil)
	wantInvalidGrant(t, "SPA refresh after logout", status, m)
	if status, m := h.sessRefresh(web, secret, webTok.RefreshToken, nil); status != http.StatusOK {
		t.Errorf("third-party offline_access refresh after logout: %d %v, want 200", status, m)
	}

	ks := oidc.NewRemoteKeySet(t.Context(), h.issuer+"/.well-known/jwks.json")
	if _, err := ks.VerifySignature(t.Context(), tok.AccessToken); err != nil {
		t.Errorf("access token after logout does not verify offline: %v", err)
	}
	_, claims := decodeJWT(t, tok.AccessToken)
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	if got := time.Duration(exp-iat) * time.Second; !withinASecond(got, atLifespan) {
		t.Errorf("access token exp − iat = %s, want the configured %s", got, atLifespan)
	}
}

// TestSessionCookies_SE01 reads Set-Cookie from a provider whose issuer is https: every cookie
// (CSRF, session, device) has the __Host- prefix, Secure, Path=/ and no Domain, is HttpOnly and
// SameSite Lax or Strict. The pages carry no script (CSP without script-src, no <script>), so
// nothing on them can put a token in localStorage. Under an http issuer (local use) the names
// lose the prefix and Secure, as cookies must, and keep HttpOnly and SameSite.
func TestSessionCookies_SE01(t *testing.T) {
	tlsSrv := httptest.NewUnstartedServer(nil)
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	h := sqliteHarness(t, withSessionConfig(func(c *idp.Config) { c.Issuer = tlsSrv.URL }))
	tlsSrv.Config.Handler = h.idp
	h.user("se01@example.com")

	jar, _ := cookiejar.New(nil)
	client := tlsSrv.Client()
	client.Jar = jar
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var cookies []*http.Cookie
	resp, err := client.Get(tlsSrv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cookies = append(cookies, resp.Cookies()...)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("login page CSP %q allows scripts", csp)
	}
	if strings.Contains(strings.ToLower(string(page)), "<script") {
		t.Error("login page has a script")
	}
	lf := &loginflow.Browser{Issuer: tlsSrv.URL, Client: client}
	form := url.Values{"csrf_token": {submatch(csrfRe, string(page))}, "email": {"se01@example.com"}, "password": {testPassword}}
	resp, err = lf.Post(t.Context(), "/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login over https = %d, want 303", resp.StatusCode)
	}
	cookies = append(cookies, resp.Cookies()...)

	names := map[string]bool{}
	for _, c := range cookies {
		names[c.Name] = true
		if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || c.Path != "/" || c.Domain != "" {
			t.Errorf("cookie %s: Secure=%t Path=%q Domain=%q, want __Host-, Secure, Path=/, no Domain", c.Name, c.Secure, c.Path, c.Domain)
		}
		if !c.HttpOnly {
			t.Errorf("cookie %s is not HttpOnly", c.Name)
		}
		if c.SameSite != http.SameSiteLaxMode && c.SameSite != http.SameSiteStrictMode {
			t.Errorf("cookie %s: SameSite %v, want Lax or Strict", c.Name, c.SameSite)
		}
	}
	for _, n := range []string{"__Host-gatehouse_session", "__Host-gatehouse_csrf"} {
		if !names[n] {
			t.Errorf("no %s cookie set (got %v)", n, names)
		}
	}
	// The __Host- session works: the browser is signed in.
	resp, err = client.Get(tlsSrv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "signed in as se01@example.com") {
		t.Errorf("after login over https / shows %s", trim(body))
	}

	// http issuer: no prefix, no Secure, still HttpOnly and SameSite.
	hh := sqliteHarness(t)
	hh.user("se01@example.com")
	hb := hh.browser()
	hb.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = hb.client.Get(hh.issuer + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	cookies = resp.Cookies()
	resp, err = hb.post("/login", url.Values{"csrf_token": {submatch(csrfRe, string(page))}, "email": {"se01@example.com"}, "password": {testPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies = append(cookies, resp.Cookies()...)
	if hh.sessCookie(hb) == "" {
		t.Fatal("no session cookie under http")
	}
	for _, c := range cookies {
		if strings.HasPrefix(c.Name, "__Host-") || c.Secure || !c.HttpOnly || (c.SameSite != http.SameSiteLaxMode && c.SameSite != http.SameSiteStrictMode) {
			t.Errorf("http issuer cookie %s: Secure=%t HttpOnly=%t SameSite=%v", c.Name, c.Secure, c.HttpOnly, c.SameSite)
		}
	}
}

// TestSessionIDs_SE03 signs in 1,000 times and collects the session IDs: all differ, each
// decodes to at least 128 bits (base64url), and every bit position is set in about half of them,
// as it is for random values (a counter or a timestamp would leave most positions fixed).
func TestSessionIDs_SE03(t *testing.T) {
	const n = 1000
	h := sqliteHarness(t)
	h.user("se03@example.com")
	b := h.browser()
	form := b.loginForm("se03@example.com", testPassword)
	seen := make(map[string]bool, n)
	var raws [][]byte
	for range n {
		resp, err := b.post("/login", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		id := h.sessCookie(b)
		if id == "" || seen[id] {
			t.Fatalf("after %d logins: session ID %q is empty or repeated", len(seen), id)
		}
		seen[id] = true
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(raw) < 16 {
			t.Fatalf("session ID %q: %d bytes (%v), want at least 16 random bytes", id, len(raw), err)
		}
		raws = append(raws, raw)
	}
	bits := len(raws[0]) * 8
	for i := range bits {
		ones := 0
		for _, r := range raws {
			if i/8 < len(r) && r[i/8]&(1<<(i%8)) != 0 {
				ones++
			}
		}
		// 1,000 fair coins: standard deviation 16; 100 is over six.
		if ones < n/2-100 || ones > n/2+100 {
			t.Errorf("bit %d is set in %d of %d session IDs, want about half", i, ones, n)
		}
	}
}

// TestPublicGrantFollowsSession_RT08_SE04: a browser app's (public, with web origins) refresh
// token works while the sign-in it came from lives; a refresh does not keep that sign-in alive
// (an app refreshing in the background must not keep the browser signed in for every other
// client); once the session has been idle past the timeout the refresh gets invalid_grant. A
// confidential client's grant and a native app's (public, no web origins) from the same session
// are not bound to it.
func TestPublicGrantFollowsSession_RT08_SE04(t *testing.T) {
	const idle = time.Hour
	h := sqliteHarness(t, withSessionConfig(func(c *idp.Config) { c.SessionIdleTimeout = idle }))
	spa := h.public()
	native := h.public(func(c *idp.Client) {
		c.AllowedCORSOrigins = nil
		c.RedirectURIs = []string{"http://127.0.0.1/native-cb"}
	})
	web, secret := h.confidential()
	h.user("rt08@example.com")
	b, cookie := h.httpSession(t, "rt08@example.com")
	spaTok := h.sessTokens(b, h.oauthConfig(spa, "", "openid", "offline_access"), "rt08@example.com")
	nativeCfg := h.oauthConfig(native, "", "openid", "offline_access")
	nativeCfg.RedirectURL = "http://127.0.0.1/native-cb"
	nativeTok := h.sessTokens(b, nativeCfg, "rt08@example.com")
	webTok := h.sessTokens(b, h.oauthConfig(web, secret, "openid", "offline_access"), "rt08@example.com")
	age := func(by time.Duration) {
		t.Helper()
		if err := h.store.TouchLoginSession(t.Context(), sessionHash(cookie), time.Now().Add(-by)); err != nil {
			t.Fatal(err)
		}
	}
	age(idle - time.Minute)
	status, m := h.sessRefresh(spa, "", spaTok.RefreshToken, nil)
	if status != http.StatusOK {
		t.Fatalf("SPA refresh in a live session: %d %v", status, m)
	}
	if ls, err := h.store.GetLoginSession(t.Context(), sessionHash(cookie)); err != nil || time.Since(ls.LastSeenAt) < idle-2*time.Minute {
		t.Fatalf("the refresh counted as activity on the sign-in: %+v %v", ls, err)
	}
	age(idle + time.Minute)
	status, m = h.sessRefresh(spa, "", m["refresh_token"].(string), nil)
	wantInvalidGrant(t, "SPA refresh after the session went idle", status, m)
	if status, m := h.sessRefresh(web, secret, webTok.RefreshToken, nil); status != http.StatusOK {
		t.Errorf("confidential client's refresh: %d %v, want 200", status, m)
	}
	if status, m := h.sessRefresh(native, "", nativeTok.RefreshToken, nil); status != http.StatusOK {
		t.Errorf("native app's refresh: %d %v, want 200", status, m)
	}
}

// TestReauthenticationKeepsBrowserGrant_LO02: signing in again in the same browser (prompt=login
// from another client) rotates the session ID but continues the sign-in, so a browser app's
// refresh token keeps working; a different person signing in in that browser starts a new
// sign-in, and the first person's browser-app grant ends with hers.
func TestReauthenticationKeepsBrowserGrant_LO02(t *testing.T) {
	h := sqliteHarness(t)
	spa := h.public()
	h.user("alice@example.com")
	h.user("bob@example.com")
	b, cookie := h.httpSession(t, "alice@example.com")
	spaTok := h.sessTokens(b, h.oauthConfig(spa, "", "openid", "offline_access"), "alice@example.com")
	other := h.public()
	loc, err := b.authorize(h.oauthConfig(other, "", "openid").AuthCodeURL("state-reauth-1", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "login")), "alice@example.com", testPassword)
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("re-authentication with prompt=login: %v %v", loc, err)
	}
	if _, err := h.store.GetLoginSession(t.Context(), sessionHash(cookie)); !errors.Is(err, idp.ErrNotFound) {
		t.Fatalf("the session ID did not rotate at re-authentication: %v", err)
	}
	status, m := h.sessRefresh(spa, "", spaTok.RefreshToken, nil)
	if status != http.StatusOK {
		t.Fatalf("SPA refresh after re-authentication: %d %v, want 200", status, m)
	}
	rt := m["refresh_token"].(string)
	if ok, r, body := b.login("bob@example.com", testPassword); !ok {
		t.Fatalf("bob signs in in alice's browser: %d %s", r.StatusCode, trim([]byte(body)))
	}
	status, m = h.sessRefresh(spa, "", rt, nil)
	wantInvalidGrant(t, "alice's SPA refresh after bob signed in in her browser", status, m)
}

// TestSessionTimeouts_SE04 ends sessions by each timeout. Idle: a session last seen longer ago
// than SessionIdleTimeout (aged in the store) no longer signs in: prompt=none gives
// login_required, / leads to the login page, and signing in again works. Absolute: with a
// 3-second SessionAbsoluteTimeout a session in use ends all the same.
func TestSessionTimeouts_SE04(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		const idle = time.Hour
		h := sqliteHarness(t, withSessionConfig(func(c *idp.Config) { c.SessionIdleTimeout = idle }))
		spa := h.public()
		h.user("idle@example.com")
		b, cookie := h.httpSession(t, "idle@example.com")
		cfg := h.oauthConfig(spa, "", "openid")
		if q := h.sessPromptNone(b, cfg); q.Get("code") == "" {
			t.Fatalf("fresh session: prompt=none = %v, want a code", q)
		}
		if err := h.store.TouchLoginSession(t.Context(), sessionHash(cookie), time.Now().Add(-idle-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if q := h.sessPromptNone(b, cfg); q.Get("error") != "login_required" {
			t.Errorf("idle session: prompt=none = %v, want login_required", q)
		}
		if path := h.sessHome(b); path != "/login" {
			t.Errorf("idle session: / ends on %s, want /login", path)
		}
		h.sessTokens(b, cfg, "idle@example.com") // signs in again
	})
	t.Run("absolute", func(t *testing.T) {
		const absolute = 3 * time.Second
		h := sqliteHarness(t, withSessionConfig(func(c *idp.Config) { c.SessionAbsoluteTimeout = absolute }))
		spa := h.public()
		h.user("absolute@example.com")
		start := time.Now()
		b, cookie := h.httpSession(t, "absolute@example.com")
		cfg := h.oauthConfig(spa, "", "openid")
		if q := h.sessPromptNone(b, cfg); q.Get("code") == "" {
			t.Fatalf("fresh session: prompt=none = %v, want a code", q)
		}
		time.Sleep(time.Until(start.Add(absolute + 500*time.Millisecond)))
		// In use a moment ago: the idle timeout (12 h) is not what ends it.
		if err := h.store.TouchLoginSession(t.Context(), sessionHash(cookie), time.Now()); err != nil {
			t.Fatal(err)
		}
		if q := h.sessPromptNone(b, cfg); q.Get("error") != "login_required" {
			t.Errorf("session past its absolute timeout: prompt=none = %v, want login_required", q)
		}
		if path := h.sessHome(b); path != "/login" {
			t.Errorf("session past its absolute timeout: / ends on %s, want /login", path)
		}
		h.sessTokens(b, cfg, "absolute@example.com")
	})
}

// TestDisableUser_SE06 disables alice as `gatehouse users disable` does while she has two
// browser sessions, a first-party SPA grant and a third-party grant: both sessions end
// (prompt=none gives login_required, / the login page, the store has none), the refresh tokens
// give invalid_grant, the access tokens are inactive and refused by userinfo, and a new sign-in
// with the right password gets the same answer as a wrong one.
func TestDisableUser_SE06(t *testing.T) {
	h := sqliteHarness(t)
	spa := h.public()
	web, secret := h.confidential()
	rs, rsSecret := h.confidential()
	alice := h.user("alice@example.com")
	b1, c1 := h.httpSession(t, alice.Email)
	b2, c2 := h.httpSession(t, alice.Email)
	spaCfg := h.oauthConfig(spa, "", "openid", "offline_access")
	spaTok := h.sessTokens(b1, spaCfg, alice.Email)
	webTok := h.sessTokens(b2, h.oauthConfig(web, secret, "openid", "offline_access"), alice.Email)

	h.sessDisable(alice.ID)

	for i, b := range []*browser{b1, b2} {
		if q := h.sessPromptNone(b, spaCfg); q.Get("error") != "login_required" {
			t.Errorf("session %d: prompt=none = %v, want login_required", i+1, q)
		}
		if path := h.sessHome(b); path != "/login" {
			t.Errorf("session %d: / ends on %s, want /login", i+1, path)
		}
	}
	for _, c := range []string{c1, c2} {
		if s, err := h.store.GetLoginSession(t.Context(), sessionHash(c)); !errors.Is(err, idp.ErrNotFound) {
			t.Errorf("login session after disable: %+v %v, want ErrNotFound", s, err)
		}
	}
	status, m := h.sessRefresh(spa, "", spaTok.RefreshToken, nil)
	wantInvalidGrant(t, "SPA", status, m)
	status, m = h.sessRefresh(web, secret, webTok.RefreshToken, nil)
	wantInvalidGrant(t, "web client", status, m)
	for name, at := range map[string]string{"SPA": spaTok.AccessToken, "web client": webTok.AccessToken} {
		if h.introspect(at, rs, rsSecret) {
			t.Errorf("%s access token active after disable", name)
		}
		if code, _ := h.userinfo(at); code != http.StatusUnauthorized {
			t.Errorf("%s access token: userinfo = %d, want 401", name, code)
		}
	}
	ok, right, rightBody := h.browser().login(alice.Email, testPassword)
	if ok {
		t.Fatal("a disabled account signed in")
	}
	_, wrong, wrongBody := h.browser().login(alice.Email, "not the password at all")
	if right.StatusCode != wrong.StatusCode || !strings.Contains(rightBody, "Invalid email or password.") || !strings.Contains(wrongBody, "Invalid email or password.") {
		t.Errorf("disabled account with the right password = %d, wrong password = %d; want the same invalid-credentials answer", right.StatusCode, wrong.StatusCode)
	}
}

// TestDisabledUserGrants_SE06: a user disabled in storage alone (the tokens not revoked, as a
// direct database edit or an interrupted `users disable` would leave them) still has no grant:
// her refresh token and an unredeemed code get invalid_grant, and the refresh token stays
// revoked once she is enabled again.
func TestDisabledUserGrants_SE06(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential()
	alice := h.user("alice@example.com")
	cfg := h.oauthConfig(web, secret, "openid", "offline_access")
	tok := h.sessTokens(h.browser(), cfg, alice.Email)
	code, verifier := h.codeFlow(h.browser(), cfg, alice.Email)
	setDisabled := func(d bool) {
		t.Helper()
		if err := h.store.UpdateUser(t.Context(), alice.ID, func(u *idp.User) error { u.Disabled = d; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	setDisabled(true)
	status, m := h.sessRefresh(web, secret, tok.RefreshToken, nil)
	wantInvalidGrant(t, "refresh of a disabled user", status, m)
	if _, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier)); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("code of a disabled user: %v, want invalid_grant", err)
	}
	setDisabled(false)
	status, m = h.sessRefresh(web, secret, tok.RefreshToken, nil)
	wantInvalidGrant(t, "refresh after enabling again", status, m)
}

// TestIDTokenClaims_OIDC01 decodes the ID tokens of a public first-party SPA and a confidential
// third-party client for each combination of openid, email and profile: aud is the client_id
// alone (azp would be required with several), sub is at most 255 ASCII characters, no claim
// about the person appears beyond what the scopes ask for, at_hash matches the access token, and
// exp − iat is the configured ID-token lifetime (7 minutes here).
func TestIDTokenClaims_OIDC01(t *testing.T) {
	const idLifespan = 7 * time.Minute
	h := sqliteHarness(t, withSessionConfig(func(c *idp.Config) { c.IDTokenLifespan = idLifespan }))
	spa := h.public()
	web, secret := h.confidential()
	h.user("oidc01@example.com")
	provider, err := oidc.NewProvider(t.Context(), h.issuer)
	if err != nil {
		t.Fatal(err)
	}
	protocol := []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "c_hash", "amr", "acr", "azp", "jti", "rat", "sid"}
	byScope := map[string][]string{
		"email":   {"email", "email_verified"},
		"profile": {"name", "family_name", "given_name", "middle_name", "nickname", "preferred_username", "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"},
	}
	for _, c := range []struct {
		client *idp.Client
		secret string
	}{{spa, ""}, {web, secret}} {
		b := h.browser()
		for _, scopes := range [][]string{{"openid"}, {"openid", "email"}, {"openid", "profile"}, {"openid", "email", "profile"}} {
			name := c.client.ID + " " + strings.Join(scopes, " ")
			tok := h.sessTokens(b, h.oauthConfig(c.client, c.secret, scopes...), "oidc01@example.com")
			raw, _ := tok.Extra("id_token").(string)
			idt, err := provider.Verifier(&oidc.Config{ClientID: c.client.ID}).Verify(t.Context(), raw)
			if err != nil {
				t.Fatalf("%s: verify ID token: %v", name, err)
			}
			if idt.AccessTokenHash != "" {
				if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
					t.Errorf("%s: at_hash: %v", name, err)
				}
			}
			_, claims := decodeJWT(t, raw)
			aud := idt.Audience
			if len(aud) != 1 || aud[0] != c.client.ID {
				t.Errorf("%s: aud = %v, want [%s]", name, aud, c.client.ID)
			}
			if azp, ok := claims["azp"]; (len(aud) > 1 || ok) && azp != c.client.ID {
				t.Errorf("%s: azp = %v with aud %v, want %s", name, azp, aud, c.client.ID)
			}
			if len(idt.Subject) == 0 || len(idt.Subject) > 255 || strings.IndexFunc(idt.Subject, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
				t.Errorf("%s: sub %q, want 1 to 255 printable ASCII characters", name, idt.Subject)
			}
			allowed := slices.Clone(protocol)
			for _, sc := range scopes {
				allowed = append(allowed, byScope[sc]...)
			}
			for k := range claims {
				if !slices.Contains(allowed, k) {
					t.Errorf("%s: claim %s=%v beyond what the scopes ask for", name, k, claims[k])
				}
			}
			if slices.Contains(scopes, "email") && (claims["email"] != "oidc01@example.com" || claims["email_verified"] != true) {
				t.Errorf("%s: email scope but email=%v email_verified=%v", name, claims["email"], claims["email_verified"])
			}
			iat, _ := claims["iat"].(float64)
			exp, _ := claims["exp"].(float64)
			if got := time.Duration(exp-iat) * time.Second; !withinASecond(got, idLifespan) {
				t.Errorf("%s: exp − iat = %s, want the configured %s", name, got, idLifespan)
			}
		}
	}
}

// TestSubNeverReassigned_OIDC02: Gatehouse never deletes users (the store cannot; `users
// disable` keeps the row), so bob's sub and address stay his. After bob is disabled,
// registering his address again (in any case) answers as for a new address but creates no
// account and signs nobody in; the store refuses a new user with bob's ID; and a new account
// gets a sub of its own.
func TestSubNeverReassigned_OIDC02(t *testing.T) {
	h := sqliteHarness(t)
	spa := h.public()
	bob := h.user("bob@example.com")
	cfg := h.oauthConfig(spa, "", "openid")
	tok := h.sessTokens(h.browser(), cfg, bob.Email)
	idt, _ := tok.Extra("id_token").(string)
	if _, c := decodeJWT(t, idt); c["sub"] != bob.ID {
		t.Fatalf("bob's sub = %v, want %s", c["sub"], bob.ID)
	}
	h.sessDisable(bob.ID)
	before, err := h.store.ListUsers(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	const newPW = "a brand new passphrase for the address"
	for _, email := range []string{"bob@example.com", "BOB@Example.com"} {
		if resp, body := h.browser().register(email, newPW); resp.StatusCode != http.StatusOK {
			t.Errorf("registering %s again = %d %s, want the answer a new address gets", email, resp.StatusCode, trim([]byte(body)))
		}
	}
	after, err := h.store.ListUsers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("registering a disabled account's address created an account: %d users, were %d", len(after), len(before))
	}
	if u, err := h.store.GetUserByEmail(t.Context(), bob.Email); err != nil || u.ID != bob.ID || !u.Disabled {
		t.Errorf("bob's address now belongs to %+v (%v), want bob's disabled account", u, err)
	}
	if ok, _, _ := h.browser().login(bob.Email, newPW); ok {
		t.Error("the password given at re-registration signs in")
	}
	err = h.store.CreateUser(t.Context(), &idp.User{ID: bob.ID, Email: "other@example.com", PasswordHash: bob.PasswordHash, CreatedAt: time.Now(), UpdatedAt: time.Now()})
	if !errors.Is(err, idp.ErrConflict) {
		t.Errorf("a new user with bob's ID: %v, want ErrConflict", err)
	}

	carol := h.signUp("carol@example.com", newPW)
	b := h.browser()
	code, verifier := func() (string, string) {
		v := oauth2.GenerateVerifier()
		loc, err := b.authorize(cfg.AuthCodeURL("state-"+uuid.NewString(), oauth2.S256ChallengeOption(v)), carol.Email, newPW)
		if err != nil || loc.Query().Get("code") == "" {
			t.Fatalf("carol's authorization: %v %v", loc, err)
		}
		return loc.Query().Get("code"), v
	}()
	tok, err = cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idt, _ = tok.Extra("id_token").(string)
	if _, c := decodeJWT(t, idt); c["sub"] == bob.ID || c["sub"] != carol.ID {
		t.Errorf("new account's sub = %v, want its own ID %s (bob's was %s)", c["sub"], carol.ID, bob.ID)
	}
}

// TestUnverifiedEmail_OIDC03 registers an account and asks for the email scope before the
// address is confirmed. Gatehouse is stricter than the row: an unconfirmed account cannot sign
// in at all, so no token ever carries its address (no email_verified=false to misread); the
// authorization ends on the "confirm your email address" page, not at the client. After the
// mailed link is used, the ID token and userinfo say email_verified=true.
func TestUnverifiedEmail_OIDC03(t *testing.T) {
	h := sqliteHarness(t)
	spa := h.public()
	const email, pw = "oidc03@example.com", "an unverified passphrase"
	if resp, body := h.browser().register(email, pw); resp.StatusCode != http.StatusOK {
		t.Fatalf("register: %d %s", resp.StatusCode, trim([]byte(body)))
	}
	cfg := h.oauthConfig(spa, "", "openid", "email")
	b := h.browser()
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("state-"+uuid.NewString(), oauth2.S256ChallengeOption(verifier))
	loc, err := b.authorize(authURL, email, pw)
	var se *loginflow.StatusError
	if err == nil || !errors.As(err, &se) || se.Code != http.StatusForbidden || !strings.Contains(se.Body, "Confirm your email address") {
		t.Fatalf("authorization before confirmation = %v %v, want the 403 confirm-your-address page", loc, err)
	}
	if h.sessCookie(b) != "" {
		t.Error("an unconfirmed account got a session")
	}

	if resp, body := h.browser().followLink(h.lastLink(email, 2), ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("verify: %d %s", resp.StatusCode, trim([]byte(body)))
	}
	loc, err = b.authorize(authURL, email, pw)
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorization after confirmation: %v %v", loc, err)
	}
	tok, err := cfg.Exchange(t.Context(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idt, _ := tok.Extra("id_token").(string)
	if _, c := decodeJWT(t, idt); c["email"] != email || c["email_verified"] != true {
		t.Errorf("ID token email=%v email_verified=%v, want %s and true", c["email"], c["email_verified"], email)
	}
	if code, info := h.userinfo(tok.AccessToken); code != http.StatusOK || info["email_verified"] != true {
		t.Errorf("userinfo = %d %v, want email_verified true", code, info)
	}
}

var urlAttrRe = regexp.MustCompile(`(?i)\b(?:src|href|action|srcset|poster|data)\s*=\s*["']?([^"'\s>]+)`)

// TestReferrerPolicy_HD03 checks the authorization endpoint's answers (its redirect to the login
// page, its error page, its consent page and its redirect to the client), the login page and the
// consent page: each has Referrer-Policy no-referrer (or strict-origin), and every page names
// only same-origin URLs in src, href and action (no third-party scripts, images or links), with
// a CSP that could not load any, and its stylesheet imports nothing.
func TestReferrerPolicy_HD03(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential()
	h.user("hd03@example.com")
	cfg := h.oauthConfig(web, secret, "openid", "email")
	authURL := cfg.AuthCodeURL("state-"+uuid.NewString(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))

	anon := h.browser()
	anon.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	signedIn, _ := h.httpSession(t, "hd03@example.com")
	signedIn.client.CheckRedirect = anon.client.CheckRedirect
	get := func(b *browser, u string) (*http.Response, string) {
		resp, err := b.client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	check := func(what string, resp *http.Response, body string) {
		t.Helper()
		if rp := resp.Header.Get("Referrer-Policy"); rp != "no-referrer" && rp != "strict-origin" {
			t.Errorf("%s: Referrer-Policy %q", what, rp)
		}
		if body == "" {
			return
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "http") || strings.Contains(csp, "*") {
			t.Errorf("%s: CSP %q allows third-party loads", what, csp)
		}
		urls := urlAttrRe.FindAllStringSubmatch(body, -1)
		if len(urls) == 0 {
			t.Errorf("%s: no src, href or action found: the page check saw nothing", what)
		}
		for _, m := range urls {
			u, err := url.Parse(htmlUnescape(m[1]))
			if err != nil || (u.Host != "" && u.Scheme+"://"+u.Host != h.issuer) || (u.Scheme != "" && u.Host == "") {
				t.Errorf("%s: third-party or unsafe URL %q", what, m[1])
			}
		}
	}

	resp, body := get(anon, authURL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("authorize without a session = %d, want 303 to login", resp.StatusCode)
	}
	check("authorize → login redirect", resp, "")
	resp, body = get(anon, h.issuer+resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="/login"`) {
		t.Fatalf("login page = %d", resp.StatusCode)
	}
	check("login page", resp, body)
	resp, body = get(anon, h.issuer+"/oauth2/authorize?client_id=nope&response_type=code&state=state-12345678")
	check("authorize error page", resp, body)
	resp, body = get(signedIn, authURL)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="/consent"`) {
		t.Fatalf("consent page = %d", resp.StatusCode)
	}
	check("consent page", resp, body)
	resp, err := signedIn.post("/consent", url.Values{"csrf_token": {submatch(csrfRe, body)}, "return_to": {submatch(regexp.MustCompile(`name="return_to" value="([^"]*)"`), body)}, "challenge": {submatch(regexp.MustCompile(`name="challenge" value="([^"]*)"`), body)}, "decision": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	check("consent answer", resp, "")
	resp, _ = get(signedIn, h.issuer+resp.Header.Get("Location"))
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize after consent = %d %q, want the redirect with a code", resp.StatusCode, resp.Header.Get("Location"))
	}
	check("authorize → client redirect", resp, "")
	resp, css := get(anon, h.issuer+"/static/gatehouse.css")
	if resp.StatusCode != http.StatusOK || strings.Contains(css, "@import") || strings.Contains(css, "url(") {
		t.Errorf("stylesheet = %d, loads other resources: %v", resp.StatusCode, strings.Contains(css, "url("))
	}
}
