package idp_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
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
)

// These tests repeat, with real relying-party libraries (x/oauth2, go-oidc), the OpenID
// conformance modules of SECURITY.md §1 that the basic and config plans run, or that only the
// dynamic plan runs and the rows ask to repeat by hand with a static client.

// confRP is a relying party's view of the provider: its discovery, through go-oidc.
func confRP(t *testing.T, h *harness) *oidc.Provider {
	t.Helper()
	p, err := oidc.NewProvider(t.Context(), h.issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return p
}

// confExchange redeems a code with x/oauth2 and verifies the ID token with go-oidc, as an RP
// would.
func confExchange(t *testing.T, h *harness, cfg *oauth2.Config, code, verifier string) (*oauth2.Token, *oidc.IDToken) {
	t.Helper()
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := confRP(t, h).Verifier(&oidc.Config{ClientID: cfg.ClientID}).Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	return tok, idt
}

// confClaims returns all claims of a verified ID token.
func confClaims(t *testing.T, idt *oidc.IDToken) map[string]any {
	t.Helper()
	var m map[string]any
	if err := idt.Claims(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// confDiscovery returns the discovery document as a map.
func confDiscovery(t *testing.T, h *harness) map[string]any {
	t.Helper()
	resp, body := getNoFollow(t, h.issuer+"/.well-known/openid-configuration")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery: %d", resp.StatusCode)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return m
}

// confAuthzQuery is a valid code-flow authorization request for client c.
func confAuthzQuery(c *idp.Client, redirectURI string) url.Values {
	return url.Values{
		"client_id": {c.ID}, "response_type": {"code"}, "redirect_uri": {redirectURI}, "scope": {"openid"},
		"state": {"state-" + uuid.NewString()}, "code_challenge": {s256("verifier-" + c.ID)}, "code_challenge_method": {"S256"},
	}
}

// confErrorPage asserts that an authorization request got an HTML error page: no redirect
// anywhere, and no code.
func confErrorPage(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	if loc := resp.Header.Get("Location"); loc != "" {
		t.Fatalf("redirected to %q, want an error page", loc)
	}
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("status %d %q, want a 400 HTML error page", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if strings.Contains(body, "code=") {
		t.Errorf("error page carries a code: %s", trim([]byte(body)))
	}
}

// TestResponseTypeMissing_CONF02 (oidcc-response-type-missing): a request without
// response_type never yields a code; the client gets invalid_request or
// unsupported_response_type with its state, or the user an error page.
func TestResponseTypeMissing_CONF02(t *testing.T) {
	h := sqliteHarness(t)
	web, _ := h.confidential()
	q := confAuthzQuery(web, callback)
	q.Del("response_type")
	resp, body := getNoFollow(t, h.issuer+"/oauth2/authorize?"+q.Encode())
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if loc.String() == "" {
		confErrorPage(t, resp, body)
		t.Logf("recorded: an error page, status %d", resp.StatusCode)
		return
	}
	t.Logf("recorded: redirect with error=%s", loc.Query().Get("error"))
	if !strings.HasPrefix(loc.String(), callback+"?") {
		t.Fatalf("redirected to %s, want the registered redirect URI or an error page", loc)
	}
	got := loc.Query()
	if e := got.Get("error"); e != "invalid_request" && e != "unsupported_response_type" {
		t.Errorf("error = %q, want invalid_request or unsupported_response_type (%s)", e, loc)
	}
	if got.Get("state") != q.Get("state") || got.Has("code") {
		t.Errorf("redirect %s: want the state back and no code", loc)
	}
}

// TestUserinfoMethods_CONF05 (oidcc-userinfo-get, -post-header, -post-body): the access token in
// the Authorization header works with GET and POST, and the answer's sub is the ID token's, with
// no nonce. Gatehouse's choice for the optional body form (RFC 6750 §2.2): it is refused
// properly, 401 with a Bearer challenge and no claims (a WARNING in the suite, not a failure).
func TestUserinfoMethods_CONF05(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential(firstParty)
	h.user("ui@example.com")
	cfg := h.oauthConfig(web, secret, "openid", "email")
	code, verifier := h.codeFlow(h.browser(), cfg, "ui@example.com")
	tok, idt := confExchange(t, h, cfg, code, verifier)

	// GET with the header, through go-oidc's own userinfo call.
	info, err := confRP(t, h).UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo GET: %v", err)
	}
	if info.Subject != idt.Subject || info.Email != "ui@example.com" {
		t.Errorf("userinfo GET sub=%q email=%q, want sub %q", info.Subject, info.Email, idt.Subject)
	}

	call := func(method string, form url.Values, bearer bool) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, h.issuer+"/userinfo", strings.NewReader(form.Encode()))
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if bearer {
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp, m
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		resp, m := call(method, url.Values{}, true)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s with header: %d %q, want 200 JSON", method, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if m["sub"] != idt.Subject || m["nonce"] != nil {
			t.Errorf("%s with header: %v, want sub %q and no nonce", method, m, idt.Subject)
		}
	}

	resp, m := call(http.MethodPost, url.Values{"access_token": {tok.AccessToken}}, false)
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("POST with the token in the body: %d WWW-Authenticate %q, want 401 with a Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if m["sub"] != nil {
		t.Errorf("POST with the token in the body answered claims: %v", m)
	}
}

// TestCodeFlowWithoutNonce_CONF06
// (oidcc-ensure-request-without-nonce-succeeds-for-code-flow): the code flow needs no nonce; the
// ID token then carries none.
func TestCodeFlowWithoutNonce_CONF06(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential()
	u := h.user("nononce@example.com")
	cfg := h.oauthConfig(web, secret, "openid")
	verifier := oauth2.GenerateVerifier()
	loc, err := h.browser().authorize(cfg.AuthCodeURL("state-"+uuid.NewString(), oauth2.S256ChallengeOption(verifier)), "nononce@example.com", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code without nonce: %s", loc)
	}
	_, idt := confExchange(t, h, cfg, code, verifier)
	if idt.Subject != u.ID || idt.Nonce != "" {
		t.Errorf("ID token sub=%q nonce=%q, want sub %q and no nonce", idt.Subject, idt.Nonce, u.ID)
	}
	if _, ok := confClaims(t, idt)["nonce"]; ok {
		t.Error("ID token has a nonce claim though none was sent")
	}
}

// confScopeClaims are the claims Gatehouse holds for each standard scope (OIDC Core §5.4). It
// holds no address or phone number, so those scopes release nothing.
var confScopeClaims = map[string][]string{
	"openid":  {"sub"},
	"profile": {"name", "updated_at"},
	"email":   {"email", "email_verified"},
	"address": nil,
	"phone":   nil,
}

// confIDTokenClaims are the claims an ID token carries whatever the scopes (OIDC Core §2,
// §3.1.3.6).
var confIDTokenClaims = []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "at_hash", "azp", "acr", "rat", "jti"}

// TestScopeClaims_CONF07 (oidcc-scope-profile, -email, -address, -phone, -all and
// oidcc-claims-essential): userinfo returns exactly the claims of the requested scopes that
// Gatehouse holds, with their JSON types (email_verified a boolean, updated_at a number); a claim
// it does not hold is absent, never null or empty; and the ID token carries no claim of a scope
// that was not requested.
//
// Recorded choices: discovery lists neither address nor phone, so the suite skips those modules
// (a client registered for them gets nothing more than sub). The ID token also carries the
// granted scopes' claims (email, name), which the suite flags as a WARNING
// (EnsureIdTokenDoesNotContainEmailForScopeEmail). The claims parameter is not supported
// (claims_parameter_supported false): an essential name is released only when the profile scope
// was granted, since consent is given for scopes (a WARNING in oidcc-claims-essential otherwise).
func TestScopeClaims_CONF07(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential(firstParty, func(c *idp.Client) {
		c.Scopes = []string{"openid", "profile", "email", "address", "phone"}
	})
	u := h.user("scopes@example.com")

	disc := confDiscovery(t, h)
	supported, _ := disc["scopes_supported"].([]any)
	for _, s := range []string{"address", "phone"} {
		if slices.Contains(supported, any(s)) {
			t.Errorf("scopes_supported lists %s, but Gatehouse holds no such claim", s)
		}
	}
	if disc["claims_parameter_supported"] != false {
		t.Errorf("claims_parameter_supported = %v, want false", disc["claims_parameter_supported"])
	}

	flow := func(t *testing.T, scopes []string, extra ...oauth2.AuthCodeOption) (map[string]any, map[string]any) {
		t.Helper()
		cfg := h.oauthConfig(web, secret, scopes...)
		code, verifier := h.codeFlow(h.browser(), cfg, u.Email, extra...)
		tok, idt := confExchange(t, h, cfg, code, verifier)
		status, info := h.userinfo(tok.AccessToken)
		if status != http.StatusOK {
			t.Fatalf("userinfo: %d %v", status, info)
		}
		return info, confClaims(t, idt)
	}
	for _, tt := range []struct {
		name   string
		scopes []string
	}{
		{"profile", []string{"openid", "profile"}},
		{"email", []string{"openid", "email"}},
		{"address", []string{"openid", "address"}},
		{"phone", []string{"openid", "phone"}},
		{"all", []string{"openid", "profile", "email", "address", "phone"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			info, idClaims := flow(t, tt.scopes)
			var want []string
			for _, s := range tt.scopes {
				want = append(want, confScopeClaims[s]...)
			}
			slices.Sort(want)
			if got := slices.Sorted(maps.Keys(info)); !slices.Equal(got, want) {
				t.Errorf("userinfo claims = %v, want exactly %v", got, want)
			}
			for k, v := range info {
				if v == nil || v == "" {
					t.Errorf("userinfo %s = %#v: a claim not held must be absent", k, v)
				}
			}
			if v, ok := info["email_verified"]; ok {
				if _, isBool := v.(bool); !isBool {
					t.Errorf("email_verified = %#v, want a JSON boolean", v)
				}
			}
			if v, ok := info["updated_at"]; ok {
				if n, isNum := v.(float64); !isNum || n != float64(int64(n)) || n <= 0 {
					t.Errorf("updated_at = %#v, want a JSON number of seconds", v)
				}
			}
			if info["sub"] != u.ID || (info["name"] != nil && info["name"] != u.Name) || (info["email"] != nil && info["email"] != u.Email) {
				t.Errorf("userinfo = %v, want the user's own values", info)
			}
			allowed := slices.Clone(confIDTokenClaims)
			for _, s := range tt.scopes {
				allowed = append(allowed, confScopeClaims[s]...)
			}
			for k := range idClaims {
				if !slices.Contains(allowed, k) {
					t.Errorf("ID token carries %s, which scopes %v did not request", k, tt.scopes)
				}
			}
		})
	}

	t.Run("profile, no name held", func(t *testing.T) {
		nameless := h.user("nameless@example.com")
		if err := h.store.UpdateUser(t.Context(), nameless.ID, func(u *idp.User) error {
			u.Name = ""
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		cfg := h.oauthConfig(web, secret, "openid", "profile")
		code, verifier := h.codeFlow(h.browser(), cfg, nameless.Email)
		tok, idt := confExchange(t, h, cfg, code, verifier)
		_, info := h.userinfo(tok.AccessToken)
		if _, ok := info["name"]; ok {
			t.Errorf("userinfo name = %#v for a user without a name, want it absent", info["name"])
		}
		if _, ok := confClaims(t, idt)["name"]; ok {
			t.Error("ID token has a name for a user without one")
		}
		if _, ok := info["updated_at"].(float64); !ok {
			t.Errorf("userinfo updated_at = %#v, want a number", info["updated_at"])
		}
	})

	essentialName := oauth2.SetAuthURLParam("claims", `{"userinfo":{"name":{"essential":true}}}`)
	t.Run("claims essential name", func(t *testing.T) {
		info, idClaims := flow(t, []string{"openid"}, essentialName)
		if got := slices.Sorted(maps.Keys(info)); !slices.Equal(got, []string{"sub"}) {
			t.Errorf("userinfo claims = %v: nothing beyond the consented scopes, want [sub]", got)
		}
		if _, ok := idClaims["name"]; ok {
			t.Error("ID token carries name, requested for userinfo only")
		}
	})
	t.Run("claims essential name with profile", func(t *testing.T) {
		info, _ := flow(t, []string{"openid", "profile"}, essentialName)
		if info["name"] != u.Name {
			t.Errorf("userinfo name = %v, want %q", info["name"], u.Name)
		}
	})
}

// TestAlternateHappyFlow_CONF08 (oidcc-alternate-happy-flow): scopes and query parameters in
// another order than usual succeed as well.
func TestAlternateHappyFlow_CONF08(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential()
	u := h.user("alt@example.com")
	verifier := oauth2.GenerateVerifier()
	state, nonce := "state-"+uuid.NewString(), "nonce-"+uuid.NewString()
	// Built by hand: url.Values.Encode would sort the keys.
	raw := h.issuer + "/oauth2/authorize?state=" + state + "&scope=" + url.QueryEscape("email profile openid") +
		"&code_challenge_method=S256&nonce=" + nonce + "&redirect_uri=" + url.QueryEscape(callback) +
		"&code_challenge=" + oauth2.S256ChallengeFromVerifier(verifier) + "&client_id=" + web.ID + "&response_type=code"
	loc, err := h.browser().authorize(raw, u.Email, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if loc.Query().Get("code") == "" || loc.Query().Get("state") != state {
		t.Fatalf("redirect %s, want a code and the state", loc)
	}
	cfg := h.oauthConfig(web, secret, "email", "profile", "openid")
	tok, idt := confExchange(t, h, cfg, loc.Query().Get("code"), verifier)
	if idt.Nonce != nonce || idt.Subject != u.ID {
		t.Errorf("ID token nonce=%q sub=%q", idt.Nonce, idt.Subject)
	}
	if scope, _ := tok.Extra("scope").(string); !containsAllFields(scope, "openid", "profile", "email") {
		t.Errorf("granted scope = %q, want openid, profile and email", scope)
	}
	if status, info := h.userinfo(tok.AccessToken); status != http.StatusOK || info["email"] != u.Email || info["name"] != u.Name {
		t.Errorf("userinfo = %d %v", status, info)
	}
}

func containsAllFields(s string, want ...string) bool {
	f := strings.Fields(s)
	for _, w := range want {
		if !slices.Contains(f, w) {
			return false
		}
	}
	return true
}

// TestOptionalParameters_CONF09 (oidcc-display-page, -display-popup, oidcc-ui-locales,
// oidcc-claims-locales, oidcc-login-hint, oidcc-ensure-request-with-acr-values-succeeds), each in
// a fresh browser: none causes an error, the login page appears and the flow completes.
// login_hint pre-fills the email field, HTML-escaped. Recorded: acr_values is not honoured, so
// the ID token carries no acr (a WARNING in the suite).
func TestOptionalParameters_CONF09(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential()
	u := h.user("optional@example.com")
	cfg := h.oauthConfig(web, secret, "openid")
	for _, tt := range []struct {
		param, value string
		onPage       []string // HTML the login page must contain
		notOnPage    []string
	}{
		{"display", "page", nil, nil},
		{"display", "popup", nil, nil},
		{"ui_locales", "se en-US", nil, nil},
		{"claims_locales", "se en-US", nil, nil},
		{"login_hint", u.Email, []string{`value="` + u.Email + `"`}, nil},
		{"login_hint", `x"><script>alert(1)</script>@example.com`, []string{`&lt;script&gt;`}, []string{`<script>alert`, `"><`}},
		{"acr_values", "1 2", nil, nil},
	} {
		t.Run(tt.param+"="+tt.value, func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			authURL := cfg.AuthCodeURL("state-"+uuid.NewString(), oauth2.S256ChallengeOption(verifier),
				oauth2.SetAuthURLParam("nonce", "nonce-"+uuid.NewString()), oauth2.SetAuthURLParam(tt.param, tt.value))
			b := h.browser()
			resp, err := b.client.Get(authURL)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			page := string(body)
			if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/login" || !strings.Contains(page, `action="/login"`) {
				t.Fatalf("%s: %d at %s, want the login page: %s", tt.param, resp.StatusCode, resp.Request.URL.Path, trim(body))
			}
			for _, s := range tt.onPage {
				if !strings.Contains(page, s) {
					t.Errorf("login page lacks %s", s)
				}
			}
			for _, s := range tt.notOnPage {
				if strings.Contains(page, s) {
					t.Errorf("login page contains %s unescaped", s)
				}
			}
			loc, err := b.authorize(authURL, u.Email, testPassword)
			if err != nil {
				t.Fatal(err)
			}
			if loc.Query().Get("code") == "" {
				t.Fatalf("redirect %s, want a code", loc)
			}
			_, idt := confExchange(t, h, cfg, loc.Query().Get("code"), verifier)
			if idt.Subject != u.ID {
				t.Errorf("sub = %q", idt.Subject)
			}
		})
	}
}

// TestUnknownParameterAndPKCE_CONF13 (oidcc-ensure-request-with-unknown-parameter-succeeds,
// oidcc-ensure-request-with-valid-pkce-succeeds): an unknown parameter is ignored, and a valid
// S256 PKCE request from a confidential (third-party, consent-page) client succeeds.
func TestUnknownParameterAndPKCE_CONF13(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential()
	u := h.user("extra@example.com")
	cfg := h.oauthConfig(web, secret, "openid", "email")
	code, verifier := h.codeFlow(h.browser(), cfg, u.Email, oauth2.SetAuthURLParam("extra", "foobar"))
	tok, idt := confExchange(t, h, cfg, code, verifier)
	if idt.Subject != u.ID {
		t.Errorf("sub = %q, want %q", idt.Subject, u.ID)
	}
	if status, info := h.userinfo(tok.AccessToken); status != http.StatusOK || info["extra"] != nil {
		t.Errorf("userinfo = %d %v", status, info)
	}
}

// TestRedirectURIRequiredWithSeveral_CONF16 (oidcc-ensure-redirect-uri-in-authorization-request,
// by hand): a client with two redirect URIs that omits redirect_uri gets an error page, never a
// redirect to either.
func TestRedirectURIRequiredWithSeveral_CONF16(t *testing.T) {
	h := sqliteHarness(t)
	web, _ := h.confidential(func(c *idp.Client) { c.RedirectURIs = []string{callback, "https://app.example/cb2"} })
	q := confAuthzQuery(web, callback)
	q.Del("redirect_uri")
	resp, body := getNoFollow(t, h.issuer+"/oauth2/authorize?"+q.Encode())
	confErrorPage(t, resp, body)
}

// TestRedirectURIQuery_CONF17 (oidcc-redirect-uri-query-OK, -query-mismatch, -query-added, by
// hand): a redirect URI registered with a query matches only its exact string, and the code comes
// back with the registered query kept; another query value, or a query added to a URI registered
// without one, gets an error page and no redirect.
func TestRedirectURIQuery_CONF17(t *testing.T) {
	h := sqliteHarness(t)
	const withQuery = "https://rp.example/cb?foo=bar"
	rp, secret := h.confidential(firstParty, func(c *idp.Client) { c.RedirectURIs = []string{withQuery} })
	plain, _ := h.confidential(firstParty) // registered: callback, no query
	u := h.user("query@example.com")

	t.Run("query OK", func(t *testing.T) {
		cfg := h.oauthConfig(rp, secret, "openid")
		code, verifier := h.codeFlow(h.browser(), cfg, u.Email)
		_, idt := confExchange(t, h, cfg, code, verifier)
		if idt.Subject != u.ID {
			t.Errorf("sub = %q", idt.Subject)
		}
		loc, err := h.browser().authorize(cfg.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier)), u.Email, testPassword)
		if err != nil {
			t.Fatal(err)
		}
		if loc.Scheme+"://"+loc.Host+loc.Path != "https://rp.example/cb" || !slices.Equal(loc.Query()["foo"], []string{"bar"}) || loc.Query().Get("code") == "" {
			t.Errorf("redirect %s, want the registered URI with its query kept, and a code", loc)
		}
	})
	for _, tt := range []struct {
		name        string
		c           *idp.Client
		redirectURI string
	}{
		{"query mismatch", rp, "https://rp.example/cb?foo=baz"},
		{"query added", plain, callback + "?foo=bar"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := getNoFollow(t, h.issuer+"/oauth2/authorize?"+confAuthzQuery(tt.c, tt.redirectURI).Encode())
			confErrorPage(t, resp, body)
		})
	}
}

var confReturnTo = regexp.MustCompile(`name="return_to" value="([^"]*)"`)

// TestAuthorizePost_CONF18 (oidcc-ensure-post-request-succeeds): the authorization request sent
// as a form POST, cross-site from the client's page as a browser sends it, gives the same result
// as GET: the login page for a new browser, and after login the code, whose tokens verify.
func TestAuthorizePost_CONF18(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential(firstParty)
	u := h.user("post@example.com")
	cfg := h.oauthConfig(web, secret, "openid", "email")
	b := h.browser()

	verifier, nonce := oauth2.GenerateVerifier(), "nonce-"+uuid.NewString()
	form := confAuthzQuery(web, callback)
	form.Set("scope", "openid email")
	form.Set("nonce", nonce)
	form.Set("code_challenge", oauth2.S256ChallengeFromVerifier(verifier))
	req, _ := http.NewRequest(http.MethodPost, h.issuer+"/oauth2/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/login" || !strings.Contains(page, `action="/login"`) {
		t.Fatalf("POST authorize: %d at %s, want the login page as for GET: %s", resp.StatusCode, resp.Request.URL.Path, trim(body))
	}
	login := url.Values{"csrf_token": {submatch(csrfRe, page)}, "return_to": {submatch(confReturnTo, page)},
		"email": {u.Email}, "password": {testPassword}}
	resp, err = b.post("/login", login)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != form.Get("state") || !strings.HasPrefix(loc.String(), callback+"?") {
		t.Fatalf("after login: %d Location %q, want the code and state at the callback", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, idt := confExchange(t, h, cfg, loc.Query().Get("code"), verifier)
	if idt.Nonce != nonce || idt.Subject != u.ID {
		t.Errorf("ID token nonce=%q sub=%q", idt.Nonce, idt.Subject)
	}

	// Signed in now: POST and GET both answer with a code at once.
	form.Set("state", "state-"+uuid.NewString())
	req, _ = http.NewRequest(http.MethodPost, h.issuer+"/oauth2/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	postLoc, _ := url.Parse(resp.Header.Get("Location"))
	getLoc, err := b.authorize(h.issuer+"/oauth2/authorize?"+form.Encode(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]*url.URL{"POST": postLoc, "GET": getLoc} {
		if l == nil || l.Query().Get("code") == "" || l.Query().Get("state") != form.Get("state") || l.Query().Get("iss") != h.issuer {
			t.Errorf("%s when signed in: %v, want code, state and iss", name, l)
		}
	}
}

// confUnsignedRequestObject is an alg:none request object (OIDC Core §6.1) for client c whose
// redirect_uri is redirectURI.
func confUnsignedRequestObject(c *idp.Client, redirectURI string) string {
	claims, _ := json.Marshal(map[string]any{
		"iss": c.ID, "aud": "gatehouse", "client_id": c.ID, "response_type": "code", "scope": "openid",
		"redirect_uri": redirectURI, "state": "state-from-object", "nonce": "nonce-from-object",
	})
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc(claims) + "."
}

// TestRequestObjectsNotSupported_CONF19 (oidcc-unsigned-request-object-supported-correctly-or-
// rejected-as-unsupported, oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-
// unsupported, oidcc-ensure-request-object-with-redirect-uri): discovery says request and
// request_uri are not supported, and a request carrying either gets request_not_supported or
// request_uri_not_supported at the registered redirect URI, with the state: never silently
// ignored (no login page, no code), never sent to the object's redirect_uri.
func TestRequestObjectsNotSupported_CONF19(t *testing.T) {
	h := sqliteHarness(t)
	web, _ := h.confidential()
	disc := confDiscovery(t, h)
	for _, k := range []string{"request_parameter_supported", "request_uri_parameter_supported"} {
		if v, ok := disc[k]; ok && v != false {
			t.Errorf("discovery %s = %v, want false or absent", k, v)
		}
	}
	for _, tt := range []struct {
		name, param, value, want string
		scope                    string
	}{
		{"request", "request", confUnsignedRequestObject(web, callback), "request_not_supported", "openid"},
		{"request without openid", "request", confUnsignedRequestObject(web, callback), "request_not_supported", "email"},
		{"request with other redirect_uri", "request", confUnsignedRequestObject(web, "https://evil.example/cb"), "request_not_supported", "openid"},
		{"request_uri", "request_uri", "https://rp.example/request.jwt", "request_uri_not_supported", "openid"},
		{"request_uri without openid", "request_uri", "https://rp.example/request.jwt", "request_uri_not_supported", "email"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := confAuthzQuery(web, callback)
			q.Set("scope", tt.scope)
			q.Set(tt.param, tt.value)
			resp, body := getNoFollow(t, h.issuer+"/oauth2/authorize?"+q.Encode())
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if loc == nil || !strings.HasPrefix(loc.String(), callback+"?") {
				t.Fatalf("%d Location %q, want a redirect to the registered URI with %s: %s", resp.StatusCode, resp.Header.Get("Location"), tt.want, trim([]byte(body)))
			}
			if got := loc.Query(); got.Get("error") != tt.want || got.Get("state") != q.Get("state") || got.Has("code") {
				t.Errorf("redirect %s, want error=%s with the request's state and no code", loc, tt.want)
			}
		})
	}
}

// TestRefreshToken_CONF20 (oidcc-refresh-token): refreshing gives 200 JSON with no-store, a new
// access token and a new refresh token of RFC 6749 A.17 characters, and an ID token with the same
// iss, sub, aud and auth_time. Client B's refresh token presented by client A (authenticated)
// gets 400 invalid_grant.
func TestRefreshToken_CONF20(t *testing.T) {
	h := sqliteHarness(t)
	a, secretA := h.confidential()
	bc, secretB := h.confidential()
	h.user("refresh@example.com")
	cfgA := h.oauthConfig(a, secretA, "openid", "offline_access")
	// As the module does when discovery lists prompt=consent: ask for consent to offline_access.
	code, verifier := h.codeFlow(h.browser(), cfgA, "refresh@example.com", oauth2.SetAuthURLParam("prompt", "consent"))
	tok, idt := confExchange(t, h, cfgA, code, verifier)
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token with offline_access")
	}

	status, m, hdr := h.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, a.ID, secretA)
	if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || !strings.Contains(hdr.Get("Cache-Control"), "no-store") {
		t.Fatalf("refresh: %d %q Cache-Control %q %v", status, hdr.Get("Content-Type"), hdr.Get("Cache-Control"), m)
	}
	access, _ := m["access_token"].(string)
	refresh, _ := m["refresh_token"].(string)
	if access == "" || access == tok.AccessToken || refresh == "" || refresh == tok.RefreshToken {
		t.Errorf("refresh gave access %t (new %t), refresh %t (new %t), want both new", access != "", access != tok.AccessToken, refresh != "", refresh != tok.RefreshToken)
	}
	for _, r := range refresh { // RFC 6749 A.17: refresh-token = 1*VSCHAR
		if r < 0x20 || r > 0x7e {
			t.Errorf("refresh token has %q, outside VSCHAR", r)
			break
		}
	}
	raw, _ := m["id_token"].(string)
	idt2, err := confRP(t, h).Verifier(&oidc.Config{ClientID: a.ID}).Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("refreshed ID token: %v", err)
	}
	c1, c2 := confClaims(t, idt), confClaims(t, idt2)
	for _, k := range []string{"iss", "sub", "aud", "auth_time"} {
		if !jsonEqual(c1[k], c2[k]) {
			t.Errorf("refreshed ID token %s = %v, want %v", k, c2[k], c1[k])
		}
	}
	if s, info := h.userinfo(access); s != http.StatusOK || info["sub"] != idt.Subject {
		t.Errorf("userinfo with the refreshed access token = %d %v", s, info)
	}

	cfgB := h.oauthConfig(bc, secretB, "openid", "offline_access")
	codeB, verifierB := h.codeFlow(h.browser(), cfgB, "refresh@example.com")
	tokB, _ := confExchange(t, h, cfgB, codeB, verifierB)
	status, m, _ = h.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokB.RefreshToken}}, a.ID, secretA)
	if status != http.StatusBadRequest || m["error"] != "invalid_grant" || m["access_token"] != nil {
		t.Errorf("client B's refresh token used by A: %d %v, want 400 invalid_grant", status, m)
	}
	// B's own use still works: A's attempt neither spent nor revoked it.
	if _, err := cfgB.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tokB.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err != nil {
		t.Errorf("client B refreshing its own token after A's attempt: %v", err)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestFormPostNotOffered_CONF23 (the form_post plan applies only if form_post is offered): it is
// not advertised, and a request asking for it gets the error README documents, in the query (a
// plain redirect, no auto-submitting form) with iss and state, and no code.
func TestFormPostNotOffered_CONF23(t *testing.T) {
	h := sqliteHarness(t)
	web, _ := h.confidential()
	modes, _ := confDiscovery(t, h)["response_modes_supported"].([]any)
	if slices.Contains(modes, any("form_post")) || len(modes) != 1 || modes[0] != "query" {
		t.Errorf("response_modes_supported = %v, want [query]", modes)
	}
	q := confAuthzQuery(web, callback)
	q.Set("response_mode", "form_post")
	resp, body := getNoFollow(t, h.issuer+"/oauth2/authorize?"+q.Encode())
	if strings.Contains(body, "<form") {
		t.Errorf("answered with a form: %s", trim([]byte(body)))
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode/100 != 3 || loc == nil || !strings.HasPrefix(loc.String(), callback+"?") {
		t.Fatalf("%d Location %q, want a redirect to the registered URI", resp.StatusCode, resp.Header.Get("Location"))
	}
	got := loc.Query()
	if e := got.Get("error"); e != "invalid_request" && e != "unsupported_response_mode" {
		t.Errorf("error = %q, want invalid_request or unsupported_response_mode", e)
	}
	t.Logf("recorded: error=%s", got.Get("error"))
	if got.Get("iss") != h.issuer || got.Get("state") != q.Get("state") || got.Has("code") || loc.Fragment != "" {
		t.Errorf("redirect %s, want iss and state in the query and no code", loc)
	}
}

// TestDynamicRegistrationAndLogoutPlansAbsent_CONF27: the modules that do not apply stay
// inapplicable. Discovery advertises no registration_endpoint (no dynamic registration), no
// check_session_iframe (no session management), and no front- or back-channel logout.
func TestDynamicRegistrationAndLogoutPlansAbsent_CONF27(t *testing.T) {
	h := sqliteHarness(t)
	disc := confDiscovery(t, h)
	for _, k := range []string{"registration_endpoint", "check_session_iframe"} {
		if v, ok := disc[k]; ok {
			t.Errorf("discovery advertises %s = %v", k, v)
		}
	}
	for _, k := range []string{"frontchannel_logout_supported", "frontchannel_logout_session_supported", "backchannel_logout_supported", "backchannel_logout_session_supported"} {
		if v, ok := disc[k]; ok && v != false {
			t.Errorf("discovery advertises %s = %v", k, v)
		}
	}
}
