package idp_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/idp"
)

// azQuery is a valid authorization request of c (code, S256 PKCE, an 8+ character state) with
// extra set over it; an empty value in extra removes that parameter.
func azQuery(c *idp.Client, extra url.Values) url.Values {
	q := url.Values{
		"client_id": {c.ID}, "response_type": {"code"}, "redirect_uri": {c.RedirectURIs[0]}, "scope": {"openid"},
		"state": {"state-" + uuid.NewString()}, "code_challenge": {s256("verifier-" + c.ID)}, "code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		if len(v) == 1 && v[0] == "" {
			q.Del(k)
			continue
		}
		q[k] = v
	}
	return q
}

// azGet sends a GET through the browser b (its cookies, following redirects within the
// provider only) and returns the final response with its body read.
func azGet(t *testing.T, b *browser, raw string) (*http.Response, string) {
	t.Helper()
	resp, err := b.client.Get(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// azSignedIn returns a browser with a login session of email (created by one authorization of
// c, which must be first-party or already consented).
func azSignedIn(t *testing.T, h *harness, c *idp.Client, email string) *browser {
	t.Helper()
	b := h.browser()
	loc, err := b.authorize(h.issuer+"/oauth2/authorize?"+azQuery(c, nil).Encode(), email, testPassword)
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("sign in: %v %v", loc, err)
	}
	return b
}

// azRedirect is the redirect a response sends to the client, or nil when it sends none.
func azRedirect(t *testing.T, resp *http.Response) *url.URL {
	t.Helper()
	raw := resp.Header.Get("Location")
	if raw == "" || resp.StatusCode/100 != 3 {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("Location %q: %v", raw, err)
	}
	return u
}

// TestLoopbackRedirect_AUTHZ02: web clients get no loopback redirect they did not register, and a
// native client registered on a loopback IP literal may vary the port only; host, path, query,
// scheme and user info must match exactly (RFC 8252 §7.3; fosite's GHSA-rfq3-w54c-f9q5 allowed
// host and query override).
func TestLoopbackRedirect_AUTHZ02(t *testing.T) {
	h := sqliteHarness(t)
	web, _ := h.confidential()
	spa := h.public(func(c *idp.Client) { c.RedirectURIs = []string{"https://spa.example/cb"} })
	devSPA := h.public() // registered on http://127.0.0.1:5173/callback
	native := h.public(func(c *idp.Client) { c.RedirectURIs = []string{"http://127.0.0.1/cb"} })
	nativeQuery := h.public(func(c *idp.Client) { c.RedirectURIs = []string{"http://127.0.0.1/cb?app=1"} })
	native6 := h.public(func(c *idp.Client) { c.RedirectURIs = []string{"http://[::1]/cb"} })
	nativeName := h.public(func(c *idp.Client) { c.RedirectURIs = []string{"http://localhost/cb"} })
	h.user("loop@example.com")

	refused := map[*idp.Client][]string{
		web:    {"http://127.0.0.1:4000/cb", "http://[::1]/cb", "http://localhost/cb"},
		spa:    {"http://127.0.0.1:4000/cb", "http://[::1]/cb", "http://localhost/cb"},
		devSPA: {"http://127.0.0.1:4000/cb", "http://[::1]/cb", "http://localhost/cb"},
		native: {
			"http://127.0.0.1:4000/cb/", "http://127.0.0.1:4000/cb/x", "http://127.0.0.1:4000/CB", "http://127.0.0.1:4000/",
			"http://127.0.0.1:4000/cb?x=1", "http://127.0.0.1/cb?", "http://127.0.0.1:4000/cb#x",
			"http://localhost/cb", "http://localhost:4000/cb", "http://127.0.0.2/cb", "http://127.0.0.2:4000/cb",
			"http://[::1]/cb", "http://[::1]:4000/cb", "http://[::ffff:127.0.0.1]:4000/cb", "http://2130706433/cb", "http://0x7f.1/cb",
			"https://127.0.0.1/cb", "https://127.0.0.1:4000/cb", "http://evil.example@127.0.0.1:4000/cb",
			"http://127.0.0.1:4000@evil.example/cb", "http://127.0.0.1.evil.example/cb", "http://127.0.0.1:4000%2F@evil.example/cb",
			"http://evil.example/cb", "http://127.0.0.1:4000/cb/../cb", "http://127.0.0.1:4000/%63b",
		},
		nativeQuery: {
			"http://127.0.0.1:4000/cb", "http://127.0.0.1:4000/cb?app=2", "http://127.0.0.1:4000/cb?app=1&x=y",
			"http://127.0.0.1:4000/cb?x=y&app=1", "http://127.0.0.1:4000/cb?APP=1", "http://127.0.0.1:4000/cb?app=1&app=2",
		},
		native6:    {"http://127.0.0.1:4000/cb", "http://localhost:4000/cb", "http://[::1]:4000/cb/x", "http://[::1]:4000/cb?x=1"},
		nativeName: {"http://localhost:4000/cb", "http://127.0.0.1/cb", "http://localhost/cb?x=1"},
	}
	for c, uris := range refused {
		for _, ru := range uris {
			t.Run(c.ID+" "+ru, func(t *testing.T) {
				q := azQuery(c, url.Values{"redirect_uri": {ru}})
				resp, _ := getNoFollow(t, h.issuer+"/oauth2/authorize?"+q.Encode())
				if loc := resp.Header.Get("Location"); loc != "" || resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("status %d Location %q, want a 400 error page and no redirect", resp.StatusCode, loc)
				}
			})
		}
	}

	// Pushed requests are held to the same rule.
	conf, confSecret := h.confidential(func(c *idp.Client) { c.RedirectURIs = []string{"http://127.0.0.1/cb"} })
	for ru, want := range map[string]int{
		"http://127.0.0.1:4000/cb": http.StatusCreated, "http://evil.example@127.0.0.1:4000/cb": http.StatusBadRequest,
		"http://127.0.0.1:4000/%63b": http.StatusBadRequest, "http://localhost:4000/cb": http.StatusBadRequest,
	} {
		s, m, _ := h.postForm("/oauth2/par", url.Values{"response_type": {"code"}, "redirect_uri": {ru}, "scope": {"openid"},
			"state": {"state-par-12345"}, "code_challenge": {s256("v")}, "code_challenge_method": {"S256"}}, conf.ID, confSecret)
		if s != want {
			t.Errorf("PAR with redirect_uri %s: %d %v, want %d", ru, s, m, want)
		}
	}

	// Only the port may vary; the code comes back to the port asked for, and the token endpoint
	// wants that exact redirect_uri.
	b := h.browser()
	for c, ru := range map[*idp.Client]string{
		native: "http://127.0.0.1:4000/cb", nativeQuery: "http://127.0.0.1:4001/cb?app=1", native6: "http://[::1]:4002/cb",
		nativeName: "http://localhost/cb",
	} {
		t.Run("accepted "+ru, func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			q := azQuery(c, url.Values{"redirect_uri": {ru}, "code_challenge": {s256(verifier)}})
			loc, err := b.authorize(h.issuer+"/oauth2/authorize?"+q.Encode(), "loop@example.com", testPassword)
			if err != nil {
				t.Fatal(err)
			}
			code := loc.Query().Get("code")
			if code == "" || loc.Scheme+"://"+loc.Host+loc.Path != strings.Split(ru, "?")[0] {
				t.Fatalf("redirect %s, want a code at %s", loc, ru)
			}
			if want, _ := url.Parse(ru); want.Query().Get("app") != loc.Query().Get("app") {
				t.Errorf("redirect %s lost the registered query of %s", loc, ru)
			}
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {c.ID}, "code_verifier": {verifier}, "redirect_uri": {ru}}
			if s, m, _ := h.postForm("/oauth2/token", form, "", ""); s != http.StatusOK {
				t.Errorf("exchange with %s: %d %v", ru, s, m)
			}
		})
	}
}

// TestScopeOutsideAllowlist_AUTHZ07: a scope the client is not registered for is refused with
// invalid_scope (our choice of the two the row allows), before any login or consent screen, and
// at the token endpoint too; so it can reach no consent page, token or introspection answer.
func TestScopeOutsideAllowlist_AUTHZ07(t *testing.T) {
	h := sqliteHarness(t)
	spa := h.public()
	spaNoOffline := h.public(func(c *idp.Client) { c.Scopes = []string{"openid", "profile", "email"} })
	web, secret := h.confidential() // third party: consent; audience https://api.example
	rs, rsSecret := h.confidential()
	h.user("scope@example.com")

	// Before login: an error redirect, no login page.
	for _, tc := range []struct {
		c     *idp.Client
		scope string
		want  string
	}{
		{spa, "openid admin", "invalid_scope"},
		{spa, "admin", "invalid_scope"},
		{spa, "openid profile:admin", "invalid_scope"},
		{spa, "openid OPENID", "invalid_scope"},
		{spaNoOffline, "openid offline_access", "invalid_scope"},
		{web, "openid billing:read", "invalid_scope"}, // a scope of another resource server ($RSB)
		{web, "openid todos", "invalid_scope"},        // no prefix matching (todos:read is registered)
		{web, "openid todos:read:all", "invalid_scope"},
	} {
		t.Run(tc.c.ID+" "+tc.scope, func(t *testing.T) {
			resp, body := getNoFollow(t, h.issuer+"/oauth2/authorize?"+azQuery(tc.c, url.Values{"scope": {tc.scope}}).Encode())
			loc := azRedirect(t, resp)
			if loc == nil || loc.Query().Get("error") != tc.want || loc.Query().Has("code") {
				t.Fatalf("status %d Location %v, want an %s redirect (%s)", resp.StatusCode, loc, tc.want, trim([]byte(body)))
			}
		})
	}
	// $RSB's audience is refused the same way.
	resp, _ := getNoFollow(t, h.issuer+"/oauth2/authorize?"+azQuery(web, url.Values{"scope": {"openid todos:read"}, "audience": {"https://rsb.example"}}).Encode())
	if loc := azRedirect(t, resp); loc == nil || loc.Query().Get("error") == "" || loc.Query().Has("code") {
		t.Errorf("audience of another resource server: %d %v, want an error redirect", resp.StatusCode, loc)
	}

	// Signed in, with consent given to the registered scopes: still refused, and no consent page.
	b := h.browser()
	cfg := h.oauthConfig(web, secret, "openid", "todos:read", "offline_access")
	code, verifier := h.codeFlow(b, cfg, "scope@example.com")
	for _, scope := range []string{"openid admin", "openid todos:read billing:read"} {
		resp, body := azGet(t, b, h.issuer+"/oauth2/authorize?"+azQuery(web, url.Values{"scope": {scope}}).Encode())
		if loc := azRedirect(t, resp); loc == nil || loc.Query().Get("error") != "invalid_scope" || strings.Contains(body, `action="/consent"`) {
			t.Errorf("signed in, scope %q: %d %v, want invalid_scope and no consent page", scope, resp.StatusCode, loc)
		}
	}

	// The token endpoint refuses it at refresh and client credentials; tokens carry only the
	// registered scopes, and introspection says so.
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	// fosite ignores scope at refresh (the grant's scopes come back): admin is dropped.
	s, m, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "scope": {"openid admin"}}, web.ID, secret)
	at, _ := m["access_token"].(string)
	if s != http.StatusOK || strings.Contains(fmt.Sprint(m["scope"]), "admin") || at == "" {
		t.Fatalf("refresh asking for admin: %d %v, want the grant's scopes without admin", s, m)
	}
	s, m, _ = h.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read admin"}}, web.ID, secret)
	if s != http.StatusBadRequest || m["error"] != "invalid_scope" || m["access_token"] != nil {
		t.Errorf("client credentials with admin: %d %v, want 400 invalid_scope", s, m)
	}
	for _, token := range []string{tok.AccessToken, at} {
		if _, claims := decodeJWT(t, token); claims["scope"] != "openid todos:read offline_access" {
			t.Errorf("access token scope = %v", claims["scope"])
		}
	}
	_, m, _ = h.postForm("/oauth2/introspect", url.Values{"token": {at}}, rs.ID, rsSecret)
	if m["active"] != true || m["scope"] != "openid todos:read offline_access" {
		t.Errorf("introspection = %v", m)
	}
}

// TestStateEcho_AUTHZ08: state comes back byte for byte, 1,000 characters and reserved or
// non-ASCII ones included, on success and on error. A missing or 7-character state is refused with
// invalid_state (fosite's MinParameterEntropy, stricter than RFC 6749; recorded, and README says
// so). A 7-character nonce with openid is refused with invalid_request: fosite would take it here
// and fail the token request after spending the code. An 8-character one comes back in the ID token.
func TestStateEcho_AUTHZ08(t *testing.T) {
	h := sqliteHarness(t)
	spa := h.public()
	h.user("state@example.com")
	long := strings.Repeat("aZ0-._~&=#%+ é", 72)[:1000]
	states := map[string]string{
		"1000 characters": long,
		"reserved":        "a&b=c#d%e+f?g/h;i,j",
		"spaces":          "  state with spaces  ",
		"unicode":         "état-🔐-中文-ß-\u202e",
		"percent escapes": "%41%2B%26%%zz",
		"iss injection":   "12345678&iss=https://evil.example&code=x",
	}
	b := h.browser()
	for name, state := range states {
		t.Run(name, func(t *testing.T) {
			q := azQuery(spa, url.Values{"state": {state}})
			loc, err := b.authorize(h.issuer+"/oauth2/authorize?"+q.Encode(), "state@example.com", testPassword)
			if err != nil {
				t.Fatal(err)
			}
			got, perr := url.ParseQuery(loc.RawQuery)
			if perr != nil || len(got["state"]) != 1 || got.Get("state") != state || got.Get("code") == "" {
				t.Fatalf("redirect %s: state %q (%v), want %q and a code", loc, got["state"], perr, state)
			}
			if len(got["code"]) != 1 || len(got["iss"]) != 1 || got.Get("iss") != h.issuer {
				t.Errorf("redirect %s: code %q iss %q", loc, got["code"], got["iss"])
			}
			// On error too.
			resp, _ := azGet(t, b, h.issuer+"/oauth2/authorize?"+azQuery(spa, url.Values{"state": {state}, "scope": {"openid admin"}}).Encode())
			errLoc := azRedirect(t, resp)
			if errLoc == nil || errLoc.Query().Get("state") != state || errLoc.Query().Get("error") != "invalid_scope" {
				t.Errorf("error redirect %v, want state %q echoed", errLoc, state)
			}
		})
	}
	// A fresh browser carries the long state through the login page.
	loc, err := h.browser().authorize(h.issuer+"/oauth2/authorize?"+azQuery(spa, url.Values{"state": {long}}).Encode(), "state@example.com", testPassword)
	if err != nil || loc.Query().Get("state") != long {
		t.Errorf("1,000-character state through login: %v %v", loc, err)
	}

	for name, state := range map[string][]string{"7 characters": {"1234567"}, "missing": {""}} {
		t.Run(name, func(t *testing.T) {
			resp, _ := azGet(t, b, h.issuer+"/oauth2/authorize?"+azQuery(spa, url.Values{"state": state}).Encode())
			loc := azRedirect(t, resp)
			if loc == nil || loc.Query().Get("error") != "invalid_state" || loc.Query().Has("code") || loc.Query().Get("iss") != h.issuer {
				t.Fatalf("%d %v, want an invalid_state redirect with iss and no code", resp.StatusCode, loc)
			}
		})
	}

	// fosite would accept the short nonce here and refuse it at the token endpoint, once the code
	// is spent (openid.DefaultStrategy.GenerateIDToken): the provider refuses it here instead.
	resp, _ := azGet(t, b, h.issuer+"/oauth2/authorize?"+azQuery(spa, url.Values{"nonce": {"abcdefg"}}).Encode())
	if loc := azRedirect(t, resp); loc == nil || loc.Query().Get("error") != "invalid_request" || loc.Query().Has("code") {
		t.Errorf("7-character nonce: %d %v, want an invalid_request redirect", resp.StatusCode, loc)
	}
	// Without openid there is no ID token, and the nonce means nothing.
	resp, _ = azGet(t, b, h.issuer+"/oauth2/authorize?"+azQuery(spa, url.Values{"nonce": {"abcdefg"}, "scope": {"profile"}}).Encode())
	if loc := azRedirect(t, resp); loc == nil || loc.Query().Get("code") == "" {
		t.Errorf("7-character nonce without openid: %d %v, want a code", resp.StatusCode, loc)
	}
	cfg := h.oauthConfig(spa, "", "openid")
	verifier := oauth2.GenerateVerifier()
	loc, err = b.authorize(cfg.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "abcdefgh")), "", "")
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("8-character nonce: %v %v, want a code", loc, err)
	}
	tok, err := cfg.Exchange(t.Context(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idt, _ := tok.Extra("id_token").(string)
	if _, claims := decodeJWT(t, idt); claims["nonce"] != "abcdefgh" {
		t.Errorf("ID token nonce = %v, want abcdefgh", claims["nonce"])
	}
}

// azErrorRedirects provokes authorization errors on valid clients and returns each error
// redirect by the case's name: bad scopes (some with control characters, quotes and non-ASCII
// the hint would repeat), prompt, max_age, response type and mode, request objects, no session
// for prompt=none, no consent for prompt=none, and the user's denial.
func azErrorRedirects(t *testing.T, h *harness) map[string]*url.URL {
	t.Helper()
	spa := h.public()
	web, _ := h.confidential()
	h.user("errors@example.com")
	b := azSignedIn(t, h, spa, "errors@example.com")
	get := func(b *browser, c *idp.Client, extra url.Values) *url.URL {
		resp, body := azGet(t, b, h.issuer+"/oauth2/authorize?"+azQuery(c, extra).Encode())
		loc := azRedirect(t, resp)
		if loc == nil {
			t.Fatalf("%v: %d %s, want an error redirect", extra, resp.StatusCode, trim([]byte(body)))
		}
		return loc
	}
	out := map[string]*url.URL{}
	anon := h.browser()
	for name, extra := range map[string]url.Values{
		"bad scope":               {"scope": {"openid admin"}},
		"scope with CR LF TAB":    {"scope": {"openid ad\r\nmin\tx"}},
		"scope with quote":        {"scope": {`openid "admin"\x`}},
		"scope with non-ASCII":    {"scope": {"openid ädmin\u2028\x00"}},
		"scope with HTML":         {"scope": {"openid <script>alert(1)</script>"}},
		"bad prompt":              {"prompt": {"bogus"}},
		"prompt none with login":  {"prompt": {"none login"}},
		"negative max_age":        {"max_age": {"-1"}},
		"non-numeric max_age":     {"max_age": {"abc\r\n"}},
		"response_type token":     {"response_type": {"token"}},
		"response_type bogus":     {"response_type": {"bogus\r\n"}},
		"response_mode form_post": {"response_mode": {"form_post"}},
		"response_mode fragment":  {"response_mode": {"fragment"}},
		"plain PKCE":              {"code_challenge_method": {"plain"}},
		"no PKCE":                 {"code_challenge": {""}, "code_challenge_method": {""}},
		"request object":          {"request": {azNoneJWT(map[string]any{"client_id": spa.ID})}},
		"request_uri":             {"request_uri": {"https://canary.evil.example/x"}},
		"registration":            {"registration": {"{}"}},
		"7-character state":       {"state": {"1234567"}},
		"unknown audience":        {"audience": {"https://evil.example\r\n"}},
	} {
		out[name] = get(b, spa, extra)
	}
	out["prompt none without session"] = get(anon, spa, url.Values{"prompt": {"none"}})
	// A third-party client: no consent yet, then the user denies.
	wb := azSignedIn(t, h, spa, "errors@example.com")
	out["prompt none without consent"] = get(wb, web, url.Values{"prompt": {"none"}, "scope": {"openid profile"}})
	resp, body := azGet(t, wb, h.issuer+"/oauth2/authorize?"+azQuery(web, url.Values{"scope": {"openid profile"}}).Encode())
	form := url.Values{"decision": {"deny"}, "csrf_token": {submatch(csrfRe, body)}}
	for _, m := range hiddenRe.FindAllStringSubmatch(body, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	if resp.StatusCode != http.StatusOK || form.Get("challenge") == "" {
		t.Fatalf("consent page: %d %s", resp.StatusCode, trim([]byte(body)))
	}
	resp, err := wb.post("/consent", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if out["consent denied"] = azRedirect(t, resp); out["consent denied"] == nil {
		t.Fatalf("deny: %d, want an error redirect", resp.StatusCode)
	}
	return out
}

var hiddenRe = regexp.MustCompile(`name="(return_to|challenge)" value="([^"]*)"`)

// azNoneJWT is an unsigned (alg none) JWT with these claims.
func azNoneJWT(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]any{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + "."
}

// TestErrorRedirectHygiene_AUTHZ09: every error redirect carries only error, error_description,
// state and iss; error_description is printable ASCII without quote or backslash, even when the
// request put control characters, quotes, HTML or non-ASCII in a value the hint repeats; no
// error_debug or error_hint, no stack or SQL.
func TestErrorRedirectHygiene_AUTHZ09(t *testing.T) {
	h := sqliteHarness(t)
	for name, loc := range azErrorRedirects(t, h) {
		t.Run(name, func(t *testing.T) {
			q, err := url.ParseQuery(loc.RawQuery)
			if err != nil || loc.Fragment != "" {
				t.Fatalf("redirect %s: query %v, fragment %q", loc, err, loc.Fragment)
			}
			for k, v := range q {
				switch k {
				case "error", "error_description", "state", "iss":
					if len(v) != 1 {
						t.Errorf("%s appears %d times", k, len(v))
					}
				default:
					t.Errorf("unexpected parameter %s=%q in %s", k, v, loc)
				}
			}
			if q.Get("error") == "" {
				t.Fatalf("no error in %s", loc)
			}
			for _, c := range q.Get("error") {
				if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
					t.Errorf("error %q has character %q", q.Get("error"), c)
				}
			}
			d := q.Get("error_description")
			for i := 0; i < len(d); i++ {
				if c := d[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
					t.Errorf("error_description has byte %#x at %d: %q", c, i, d)
					break
				}
			}
			for _, leak := range []string{"goroutine", ".go:", "sql", "SQLSTATE"} {
				if strings.Contains(d, leak) {
					t.Errorf("error_description leaks %q: %q", leak, d)
				}
			}
		})
	}
}

// TestIssuerInResponses_AUTHZ10: metadata advertises RFC 9207, and every redirect to a client,
// success or error, carries iss equal to the issuer exactly once, whatever the state holds.
func TestIssuerInResponses_AUTHZ10(t *testing.T) {
	h := sqliteHarness(t)
	_, body := getNoFollow(t, h.issuer+"/.well-known/openid-configuration")
	if !strings.Contains(body, `"authorization_response_iss_parameter_supported":true`) {
		t.Fatalf("metadata lacks authorization_response_iss_parameter_supported=true: %s", body)
	}
	_, body = getNoFollow(t, h.issuer+"/.well-known/oauth-authorization-server")
	if !strings.Contains(body, `"authorization_response_iss_parameter_supported":true`) {
		t.Errorf("RFC 8414 metadata lacks the flag")
	}
	redirects := azErrorRedirects(t, h)

	// Success: plain, PAR, a registered URI with a query, and a state that smuggles iss.
	spa := h.public()
	withQuery := h.public(firstParty, func(c *idp.Client) { c.RedirectURIs = []string{"https://app.example/cb?tenant=7"} })
	web, secret := h.confidential(firstParty)
	h.user("iss@example.com")
	b := azSignedIn(t, h, spa, "iss@example.com")
	for name, q := range map[string]url.Values{
		"success":             azQuery(spa, nil),
		"success, iss state":  azQuery(spa, url.Values{"state": {"12345678&iss=https://evil.example"}}),
		"success, query URI":  azQuery(withQuery, nil),
		"error, query URI":    azQuery(withQuery, url.Values{"scope": {"admin"}}),
		"error, iss in state": azQuery(spa, url.Values{"scope": {"admin"}, "state": {"12345678&iss=https://evil.example"}}),
	} {
		resp, body := azGet(t, b, h.issuer+"/oauth2/authorize?"+q.Encode())
		if redirects[name] = azRedirect(t, resp); redirects[name] == nil {
			t.Fatalf("%s: %d %s", name, resp.StatusCode, trim([]byte(body)))
		}
	}
	s, m, _ := h.postForm("/oauth2/par", url.Values{"response_type": {"code"}, "redirect_uri": {callback}, "scope": {"openid"},
		"state": {"state-par-12345"}, "code_challenge": {s256("v")}, "code_challenge_method": {"S256"}}, web.ID, secret)
	if s != http.StatusCreated {
		t.Fatalf("PAR: %d %v", s, m)
	}
	resp, _ := azGet(t, b, h.issuer+"/oauth2/authorize?"+url.Values{"client_id": {web.ID}, "request_uri": {m["request_uri"].(string)}}.Encode())
	redirects["success, PAR"] = azRedirect(t, resp)

	// A redirect URI that carries iss (or another response parameter) itself cannot be
	// registered: it would hide or double ours.
	for _, ru := range []string{"https://app.example/cb?iss=x", "https://app.example/cb?a=1&state=x", "https://app.example/cb?code=x"} {
		c := idp.Client{Name: "x", Public: true, TokenEndpointAuthMethod: idp.AuthMethodNone, GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{ru}}
		if err := c.Validate(); err == nil {
			t.Errorf("redirect URI %s was accepted", ru)
		}
	}

	for name, loc := range redirects {
		t.Run(name, func(t *testing.T) {
			if loc == nil {
				t.Fatal("no redirect")
			}
			q, err := url.ParseQuery(loc.RawQuery)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(name, "query URI") && q.Get("tenant") != "7" {
				t.Errorf("redirect %s lost the registered tenant=7", loc)
			}
			if len(q["iss"]) != 1 || q.Get("iss") != h.issuer {
				t.Errorf("redirect %s: iss %q, want exactly [%s]", loc, q["iss"], h.issuer)
			}
			if strings.HasPrefix(name, "success") && q.Get("code") == "" {
				t.Errorf("redirect %s has no code", loc)
			}
		})
	}
}

// azCanary counts the requests it receives: a provider that fetches a request_uri would hit it.
func azCanary(t *testing.T, tlsServer bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	hf := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/oauth-authz-req+jwt")
		_, _ = io.WriteString(w, azNoneJWT(map[string]any{"scope": "openid"}))
	})
	var srv *httptest.Server
	if tlsServer {
		srv = httptest.NewTLSServer(hf)
	} else {
		srv = httptest.NewServer(hf)
	}
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestRequestObjectsRefused_AUTHZ12: request objects are not supported (the metadata says so),
// so a request_uri that did not come from PAR is refused with request_uri_not_supported and never
// fetched (the canaries see no request), a forged PAR request_uri gets an error page, and a request parameter (alg none, or a client_id other
// than the query's) is refused with request_not_supported, with or without the openid scope and
// for clients with registered keys too. PAR refuses a request_uri (RFC 9126 §2.1) without fetching
// it, and a request object with request_not_supported.
func TestRequestObjectsRefused_AUTHZ12(t *testing.T) {
	h := sqliteHarness(t)
	plain, plainSecret := h.confidential(firstParty)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyed := &idp.Client{
		ID: "keyed-" + uuid.NewString()[:8], Name: "Keyed", TokenEndpointAuthMethod: idp.AuthMethodPrivateKeyJWT, FirstParty: true,
		JWKS:       &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}},
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, RedirectURIs: []string{callback},
		Scopes: []string{"openid", "profile"}, CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}
	h.register(keyed)
	h.user("ssrf@example.com")
	b := azSignedIn(t, h, plain, "ssrf@example.com")
	canary, hits := azCanary(t, false)
	tlsCanary, tlsHits := azCanary(t, true)

	check := func(t *testing.T, c *idp.Client, extra url.Values, want string) {
		t.Helper()
		resp, body := azGet(t, b, h.issuer+"/oauth2/authorize?"+azQuery(c, extra).Encode())
		loc := azRedirect(t, resp)
		if want == "page" {
			if loc != nil || resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%d %v, want a 400 error page and no redirect", resp.StatusCode, loc)
			}
			return
		}
		if loc == nil || loc.Query().Get("error") != want || loc.Query().Has("code") || loc.Query().Get("iss") != h.issuer {
			t.Errorf("%d %v, want a %s redirect (%s)", resp.StatusCode, loc, want, trim([]byte(body)))
		}
	}
	for _, c := range []*idp.Client{plain, keyed} {
		for _, scope := range []string{"openid", "profile"} {
			for _, ru := range []string{canary.URL + "/x", tlsCanary.URL + "/x", "https://canary.evil.example/x", "http://169.254.169.254/", "urn:ietf:params:oauth:request_uri:forged"} {
				t.Run(c.ID+" "+scope+" request_uri="+ru, func(t *testing.T) {
					want := "request_uri_not_supported"
					if strings.HasPrefix(ru, "urn:") {
						// Looks pushed, but was not: fosite refuses it (invalid_request_uri) before
						// it knows the client, so on a page.
						want = "page"
					}
					check(t, c, url.Values{"scope": {scope}, "request_uri": {ru}}, want)
				})
			}
			for name, claims := range map[string]map[string]any{
				"alg none": {"client_id": c.ID, "response_type": "code", "redirect_uri": callback, "scope": scope, "state": "state-12345678"},
				"other client_id": {"client_id": "someone-else", "iss": "someone-else", "response_type": "code", "redirect_uri": "https://evil.example/cb",
					"scope": "openid profile", "state": "state-12345678"},
			} {
				t.Run(c.ID+" "+scope+" request "+name, func(t *testing.T) {
					check(t, c, url.Values{"scope": {scope}, "request": {azNoneJWT(claims)}}, "request_not_supported")
				})
			}
		}
	}
	// Both at once, and a request_uri in a pushed request.
	t.Run("request and request_uri", func(t *testing.T) {
		check(t, plain, url.Values{"request": {azNoneJWT(map[string]any{})}, "request_uri": {canary.URL}}, "request_not_supported")
	})
	for _, scope := range []string{"openid", "profile"} {
		s, m, _ := h.postForm("/oauth2/par", url.Values{"response_type": {"code"}, "redirect_uri": {callback}, "scope": {scope},
			"state": {"state-par-12345"}, "code_challenge": {s256("v")}, "code_challenge_method": {"S256"}, "request_uri": {canary.URL + "/par"}}, plain.ID, plainSecret)
		if s != http.StatusBadRequest || m["request_uri"] != nil {
			t.Errorf("PAR with a request_uri (scope %s): %d %v, want 400", scope, s, m)
		}
	}
	for _, scope := range []string{"openid", "profile"} {
		s, m, _ := h.postForm("/oauth2/par", url.Values{"response_type": {"code"}, "redirect_uri": {callback}, "scope": {scope},
			"state": {"state-par-12345"}, "code_challenge": {s256("v")}, "code_challenge_method": {"S256"},
			"request": {azNoneJWT(map[string]any{"client_id": plain.ID, "scope": scope})}}, plain.ID, plainSecret)
		if s != http.StatusBadRequest || m["error"] != "request_not_supported" {
			t.Errorf("PAR with a request object (scope %s): %d %v, want 400 request_not_supported", scope, s, m)
		}
	}
	if n, m := hits.Load(), tlsHits.Load(); n != 0 || m != 0 {
		t.Errorf("the provider fetched request_uri: %d plain and %d TLS canary hits, want none", n, m)
	}
}

// TestMultipartAuthorize_AUTHZ12: an authorization request POSTed as multipart/form-data (which
// the form parser would not read, and so neither the duplicate-parameter nor the request-object
// checks) is refused with 415 and a page, never processed.
func TestMultipartAuthorize_AUTHZ12(t *testing.T) {
	h := sqliteHarness(t)
	c, _ := h.confidential()
	body := "--b\r\nContent-Disposition: form-data; name=\"request_uri\"\r\n\r\nhttps://canary.evil.example/x\r\n--b--\r\n"
	req, _ := http.NewRequest(http.MethodPost, h.issuer+"/oauth2/authorize?response_type=code&state=state-multipart&client_id="+c.ID, strings.NewReader(body))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType || resp.Header.Get("Location") != "" {
		t.Fatalf("multipart authorization request: %d %q, want 415 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
	}
}
