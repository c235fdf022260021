package idp_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/idp"
)

// getNoFollow fetches a URL without following redirects.
func getNoFollow(t *testing.T, raw string) (*http.Response, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestRedirectURIExactMatch_AUTHZ01_CONF15 sends every variant of a registered redirect URI:
// each gets an error page and no redirect anywhere.
func TestRedirectURIExactMatch_AUTHZ01_CONF15(t *testing.T) {
	h := sqliteHarness(t)
	web, _ := h.confidential()
	for _, ru := range []string{
		"https://app.example/CB", "https://APP.example/cb", "https://app.example/cb/", "https://app.example/cb/x",
		"https://app.example/cb/../cb", "https://app.example/cb%2F..%2Fx", "https://app.example/cb?x=1",
		"https://app.example/cb#x", "https://app.example:443/cb", "https://app.example:8443/cb",
		"http://app.example/cb", "https://app.example.evil.example/cb", "https://evil.example@app.example/cb",
		"https://app.example@evil.example/cb", "https://sub.app.example/cb", "https://evil.example/cb",
		"javascript:alert(1)", "http://127.0.0.1:4000/cb",
	} {
		t.Run(ru, func(t *testing.T) {
			q := url.Values{"client_id": {web.ID}, "response_type": {"code"}, "redirect_uri": {ru}, "scope": {"openid"},
				"state": {"state-12345678"}, "code_challenge": {s256("v")}, "code_challenge_method": {"S256"}}
			resp, body := getNoFollow(t, h.issuer+"/oauth2/authorize?"+q.Encode())
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Fatalf("redirected to %q, want an error page", loc)
			}
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
				t.Errorf("status %d %q, want a 400 HTML page", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if strings.Contains(body, "evil.example") && !strings.Contains(body, "&") {
				t.Errorf("error page reflects the URI unescaped")
			}
		})
	}
	// Unknown client: error page, never a redirect (AUTHZ-03).
	q := url.Values{"client_id": {"nope"}, "response_type": {"code"}, "redirect_uri": {"https://evil.example/cb"}, "state": {"state-12345678"}}
	if resp, _ := getNoFollow(t, h.issuer+"/oauth2/authorize?"+q.Encode()); resp.Header.Get("Location") != "" {
		t.Errorf("unknown client redirected to %q", resp.Header.Get("Location"))
	}
}

// TestDuplicateParameters_AUTHZ06 refuses a parameter sent twice.
func TestDuplicateParameters_AUTHZ06(t *testing.T) {
	h := sqliteHarness(t)
	web, _ := h.confidential()
	q := url.Values{"client_id": {web.ID}, "response_type": {"code"}, "redirect_uri": {callback, "https://evil.example/cb"}, "state": {"state-12345678"}}
	resp, _ := getNoFollow(t, h.issuer+"/oauth2/authorize?"+q.Encode())
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("duplicate redirect_uri = %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestResponseTypesOff_AUTHZ04 refuses implicit and hybrid response types for every client.
func TestResponseTypesOff_AUTHZ04(t *testing.T) {
	h := sqliteHarness(t)
	web, _ := h.confidential()
	for _, rt := range []string{"token", "id_token", "id_token token", "code id_token", "code token", "code id_token token"} {
		t.Run(rt, func(t *testing.T) {
			q := url.Values{"client_id": {web.ID}, "response_type": {rt}, "redirect_uri": {callback}, "scope": {"openid"},
				"state": {"state-12345678"}, "nonce": {"nonce-12345678"}, "code_challenge": {s256("v")}, "code_challenge_method": {"S256"}}
			resp, _ := getNoFollow(t, h.issuer+"/oauth2/authorize?"+q.Encode())
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if loc == nil || loc.String() == "" {
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("status %d, want an error", resp.StatusCode)
				}
				return
			}
			if loc.Fragment != "" && strings.Contains(loc.Fragment, "token") {
				t.Fatalf("token in fragment: %s", loc)
			}
			if e := loc.Query().Get("error"); e != "unsupported_response_type" && e != "invalid_request" {
				t.Errorf("redirect %s, want unsupported_response_type", loc)
			}
		})
	}
}

// TestGrantTypesOff_TOKEN07 refuses the password, jwt-bearer and implicit grants.
func TestGrantTypesOff_TOKEN07(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential()
	h.user("alice@example.com")
	for _, gt := range []string{"password", "urn:ietf:params:oauth:grant-type:jwt-bearer", "implicit", "bogus"} {
		status, m, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {gt}, "username": {"alice@example.com"}, "password": {testPassword}}, web.ID, secret)
		if status != http.StatusBadRequest || (m["error"] != "unsupported_grant_type" && m["error"] != "unauthorized_client" && m["error"] != "invalid_request") {
			t.Errorf("grant_type=%s: %d %v, want unsupported_grant_type", gt, status, m)
		}
		if m["access_token"] != nil {
			t.Errorf("grant_type=%s issued a token", gt)
		}
	}
}

// TestPKCE_PKCE01_PKCE02_PKCE03_PKCE04 checks that PKCE is required, S256 only, and that a wrong
// verifier spends the code so a retry without verifier fails too.
func TestPKCE_PKCE01_PKCE02_PKCE03_PKCE04(t *testing.T) {
	h := sqliteHarness(t)
	spa := h.public()
	web, secret := h.confidential(firstParty)
	h.user("pkce@example.com")
	b := h.browser()
	authorize := func(cfg *oauth2.Config, opts ...oauth2.AuthCodeOption) *url.URL {
		loc, err := b.authorize(cfg.AuthCodeURL("state-12345678", opts...), "pkce@example.com", testPassword)
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	spaCfg := h.oauthConfig(spa, "", "openid")
	webCfg := h.oauthConfig(web, secret, "openid")

	// PKCE-01: no challenge, public and confidential.
	for _, cfg := range []*oauth2.Config{spaCfg, webCfg} {
		if loc := authorize(cfg); loc.Query().Get("error") != "invalid_request" || loc.Query().Get("code") != "" {
			t.Errorf("%s without code_challenge: %s, want invalid_request", cfg.ClientID, loc)
		}
	}
	// PKCE-02: plain, missing method, unknown method.
	for _, m := range []string{"plain", "", "S512", "s256"} {
		opts := []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", s256("verifier-verifier-verifier-verifier-verifier"))}
		if m != "" {
			opts = append(opts, oauth2.SetAuthURLParam("code_challenge_method", m))
		}
		if loc := authorize(spaCfg, opts...); loc.Query().Get("error") != "invalid_request" {
			t.Errorf("code_challenge_method=%q: %s, want invalid_request", m, loc)
		}
	}
	redeem := func(code string, extra url.Values) (int, map[string]any) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {spaCallback}, "client_id": {spa.ID}}
		for k, v := range extra {
			form[k] = v
		}
		s, m, _ := h.postForm("/oauth2/token", form, "", "")
		return s, m
	}
	// PKCE-03 (a) no verifier, (b) wrong verifier, then (d) no verifier again, (e) the right one.
	verifier := oauth2.GenerateVerifier()
	code := authorize(spaCfg, oauth2.S256ChallengeOption(verifier)).Query().Get("code")
	if s, m := redeem(code, nil); s != http.StatusBadRequest || m["error"] != "invalid_grant" && m["error"] != "invalid_request" {
		t.Errorf("(a) no verifier: %d %v", s, m)
	}
	code = authorize(spaCfg, oauth2.S256ChallengeOption(verifier)).Query().Get("code")
	if s, m := redeem(code, url.Values{"code_verifier": {oauth2.GenerateVerifier()}}); s != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("(b) wrong verifier: %d %v", s, m)
	}
	if s, m := redeem(code, nil); s != http.StatusBadRequest || m["access_token"] != nil {
		t.Errorf("(d) retry without verifier after a wrong one: %d %v", s, m)
	}
	if s, m := redeem(code, url.Values{"code_verifier": {verifier}}); m["access_token"] != nil {
		t.Logf("(e) the right verifier after a wrong one: %d (recorded: the code stays usable)", s)
	}
	// PKCE-04: no challenge at authorize, a verifier at the token endpoint (downgrade). The
	// authorization is refused already, so no code exists to downgrade.
	if loc := authorize(webCfg); loc.Query().Get("code") != "" {
		t.Error("code issued without a challenge")
	}
	// PKCE-05: a 42-character verifier whose challenge matches.
	short := strings.Repeat("a", 42)
	code = authorize(spaCfg, oauth2.SetAuthURLParam("code_challenge", s256(short)), oauth2.SetAuthURLParam("code_challenge_method", "S256")).Query().Get("code")
	if code != "" {
		if s, m := redeem(code, url.Values{"code_verifier": {short}}); m["access_token"] != nil {
			t.Errorf("42-character verifier accepted: %d", s)
		}
	}
}

// TestClientAuthentication_TOKEN01_TOKEN05 checks code binding to the client and that
// confidential clients must authenticate.
func TestClientAuthentication_TOKEN01_TOKEN05(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential(firstParty)
	web2, secret2 := h.confidential(firstParty)
	h.user("auth@example.com")
	cfg := h.oauthConfig(web, secret, "openid")
	code, verifier := h.codeFlow(h.browser(), cfg, "auth@example.com")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {callback}}

	for _, tc := range []struct {
		name       string
		user, pass string
		extra      url.Values
		wantStatus int
		wantErr    string
	}{
		{"client_id only", "", "", url.Values{"client_id": {web.ID}}, http.StatusUnauthorized, "invalid_client"},
		{"wrong secret", web.ID, "wrong", nil, http.StatusUnauthorized, "invalid_client"},
		{"another client's secret", web.ID, secret2, nil, http.StatusUnauthorized, "invalid_client"},
		{"empty secret", web.ID, "", nil, http.StatusUnauthorized, "invalid_client"},
		{"secret in the body while registered for basic", "", "", url.Values{"client_id": {web.ID}, "client_secret": {secret}}, http.StatusUnauthorized, "invalid_client"},
		{"another client's code (TOKEN-01)", web2.ID, secret2, nil, http.StatusBadRequest, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			for k, v := range tc.extra {
				f[k] = v
			}
			var status int
			var m map[string]any
			var hdr http.Header
			if tc.name == "empty secret" {
				req, _ := http.NewRequest(http.MethodPost, h.issuer+"/oauth2/token", strings.NewReader(f.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(web.ID, "")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				status, hdr = resp.StatusCode, resp.Header
				m = map[string]any{"error": "invalid_client"}
			} else {
				status, m, hdr = h.postForm("/oauth2/token", f, tc.user, tc.pass)
			}
			if status != tc.wantStatus || m["error"] != tc.wantErr {
				t.Errorf("got %d %v, want %d %s", status, m, tc.wantStatus, tc.wantErr)
			}
			if m["access_token"] != nil {
				t.Error("tokens issued")
			}
			if tc.user != "" && status == http.StatusUnauthorized && hdr.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate after failed Basic authentication")
			}
		})
	}
	// Query-string parameters are refused at the token endpoint (TOKEN-06, TOKEN-09).
	req, _ := http.NewRequest(http.MethodPost, h.issuer+"/oauth2/token?client_secret="+secret, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(web.ID, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("secret in the query = %d, want 400", resp.StatusCode)
	}
}

// TestIntrospectionCallers_IR01 lets only authenticated confidential clients introspect.
func TestIntrospectionCallers_IR01(t *testing.T) {
	h := sqliteHarness(t)
	rs, rsSecret := h.confidential()
	spa := h.public()
	_, m, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, rs.ID, rsSecret)
	token, _ := m["access_token"].(string)
	if token == "" {
		t.Fatalf("no token: %v", m)
	}
	if !h.introspect(token, rs, rsSecret) {
		t.Error("confidential client: token inactive")
	}
	for _, tc := range []struct {
		name string
		auth func(*http.Request)
	}{
		{"no credentials", func(*http.Request) {}},
		{"public client id only", func(r *http.Request) { r.SetBasicAuth(spa.ID, "") }},
		{"access token as bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }},
		{"wrong secret", func(r *http.Request) { r.SetBasicAuth(rs.ID, "nope") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, h.issuer+"/oauth2/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			tc.auth(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(body), `"active":true`) {
				t.Errorf("got %d %s, want 401", resp.StatusCode, body)
			}
		})
	}
	// IR-02: garbage is simply inactive.
	if h.introspect("garbage", rs, rsSecret) {
		t.Error("garbage token active")
	}
}

// TestIntrospectionAudience_IR03: a resource server learns about a token only when the token is
// meant for it. $RSA (registered for API A) sees a user's token for A and a machine's token for
// A; $RSB (API B) gets {"active":false} and nothing else for both, as does a client registered
// for no API; the client a token was issued to always sees its own tokens, refresh tokens
// included; a token for A and B is visible to both.
func TestIntrospectionAudience_IR03(t *testing.T) {
	const apiA, apiB = "https://a.api.example", "https://b.api.example"
	h := sqliteHarness(t)
	rsA, rsASecret := h.confidential(withAudiences(apiA))
	rsB, rsBSecret := h.confidential(withAudiences(apiB))
	none, noneSecret := h.confidential(withAudiences())
	web, webSecret := h.confidential(withAudiences(apiA, apiB))
	h.user("alice@example.com")
	cfg := h.oauthConfig(web, webSecret, "openid", "offline_access")
	code, verifier := h.codeFlow(h.browser(), cfg, "alice@example.com", oauth2.SetAuthURLParam("audience", apiA))
	user, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	machine := func(aud ...string) string {
		t.Helper()
		_, m, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "audience": {strings.Join(aud, " ")}}, web.ID, webSecret)
		tok, _ := m["access_token"].(string)
		if tok == "" {
			t.Fatalf("client credentials for %v: %v", aud, m)
		}
		return tok
	}
	forA, forBoth := machine(apiA), machine(apiA, apiB)
	type caller struct {
		c      *idp.Client
		secret string
	}
	for _, tc := range []struct {
		name, token string
		see, blind  []caller
	}{
		{"a user's token for A", user.AccessToken, []caller{{rsA, rsASecret}, {web, webSecret}}, []caller{{rsB, rsBSecret}, {none, noneSecret}}},
		{"its refresh token", user.RefreshToken, []caller{{rsA, rsASecret}, {web, webSecret}}, []caller{{rsB, rsBSecret}, {none, noneSecret}}},
		{"a machine token for A", forA, []caller{{rsA, rsASecret}, {web, webSecret}}, []caller{{rsB, rsBSecret}, {none, noneSecret}}},
		{"a machine token for A and B", forBoth, []caller{{rsA, rsASecret}, {rsB, rsBSecret}, {web, webSecret}}, []caller{{none, noneSecret}}},
	} {
		for _, c := range tc.see {
			if !h.introspect(tc.token, c.c, c.secret) {
				t.Errorf("%s: %s sees it inactive", tc.name, c.c.ID)
			}
		}
		for _, c := range tc.blind {
			code, m, _ := h.postForm("/oauth2/introspect", url.Values{"token": {tc.token}}, c.c.ID, c.secret)
			if code != http.StatusOK || len(m) != 1 || m["active"] != false {
				t.Errorf("%s: %s got %d %v, want 200 with only active:false", tc.name, c.c.ID, code, m)
			}
		}
	}
}

// TestRevocation_IR04_IR05 revokes a refresh token (the grant's access tokens go too) and
// checks that another client cannot revoke it.
func TestRevocation_IR04_IR05(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential(firstParty)
	web2, secret2 := h.confidential()
	rs, rsSecret := h.confidential()
	h.user("rev@example.com")
	cfg := h.oauthConfig(web, secret, "openid", "offline_access")
	code, verifier := h.codeFlow(h.browser(), cfg, "rev@example.com")
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if s, _, _ := h.postForm("/oauth2/revoke", url.Values{"token": {tok.RefreshToken}}, web2.ID, secret2); s != http.StatusOK {
		t.Errorf("revocation by another client = %d, want 200", s)
	}
	if !h.introspect(tok.AccessToken, rs, rsSecret) {
		t.Fatal("another client revoked the token (IR-05)")
	}
	if s, m, hdr := h.postForm("/oauth2/revoke", url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"bogus"}}, web.ID, secret); s != http.StatusOK || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("revoke = %d %v", s, m)
	}
	if h.introspect(tok.AccessToken, rs, rsSecret) {
		t.Error("access token active after its refresh token was revoked (IR-04)")
	}
	if s, _, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, web.ID, secret); s != http.StatusBadRequest {
		t.Errorf("revoked refresh token = %d", s)
	}
	// IR-06: missing token, unauthenticated confidential client.
	if s, m, _ := h.postForm("/oauth2/revoke", url.Values{}, web.ID, secret); s != http.StatusBadRequest {
		t.Errorf("missing token = %d %v", s, m)
	}
	if s, m, _ := h.postForm("/oauth2/revoke", url.Values{"token": {"x"}, "client_id": {web.ID}}, "", ""); s != http.StatusUnauthorized {
		t.Errorf("unauthenticated confidential client = %d %v", s, m)
	}
}

// TestDiscovery_CONF21_OIDC06_OIDC07 checks the metadata advertises only what works and JWKS
// holds public keys only.
func TestDiscovery_CONF21_OIDC06_OIDC07(t *testing.T) {
	h := sqliteHarness(t)
	resp, body := getNoFollow(t, h.issuer+"/.well-known/openid-configuration")
	if resp.StatusCode != 200 {
		t.Fatalf("discovery %d", resp.StatusCode)
	}
	for _, want := range []string{`"response_types_supported":["code"]`, `"code_challenge_methods_supported":["S256"]`, `"authorization_response_iss_parameter_supported":true`, `"issuer":"` + h.issuer + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("discovery lacks %s", want)
		}
	}
	for _, bad := range []string{`"password"`, `"implicit"`, `"token"`, `registration_endpoint`, `HS256`, `check_session_iframe`, `form_post`} {
		if strings.Contains(body, bad) {
			t.Errorf("discovery advertises %s", bad)
		}
	}
	var meta struct {
		IDTokenAlgs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := json.Unmarshal([]byte(body), &meta); err != nil || len(meta.IDTokenAlgs) != 1 || meta.IDTokenAlgs[0] != "RS256" {
		t.Errorf("id_token_signing_alg_values_supported = %v (%v), want [RS256] (CONF-04)", meta.IDTokenAlgs, err)
	}
	resp, body = getNoFollow(t, h.issuer+"/.well-known/jwks.json")
	if resp.StatusCode != 200 || !strings.Contains(body, `"kid"`) {
		t.Fatalf("jwks %d %s", resp.StatusCode, body)
	}
	for _, private := range []string{`"d":`, `"p":`, `"q":`, `"dp":`, `"dq":`, `"qi":`, `"k":`} {
		if strings.Contains(body, private) {
			t.Errorf("JWKS leaks private member %s", private)
		}
	}
}

// TestHeaders_HD02_HD04_HD05_HD06 checks baseline headers, caching of sensitive responses and
// CORS: token endpoint only for a registered origin, never on authorize or login.
func TestHeaders_HD02_HD04_HD05_HD06(t *testing.T) {
	h := sqliteHarness(t)
	h.public() // registers http://127.0.0.1:5173 as a CORS origin
	cc, secret := h.confidential()
	do := func(method, path, origin string, form url.Values) *http.Response {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, h.issuer+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(cc.ID, secret)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, p := range []string{"/login", "/logout", "/.well-known/jwks.json", "/healthz", "/nope"} {
		resp := do("GET", p, "", nil)
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", p, resp.Header)
		}
	}
	login := do("GET", "/login", "", nil)
	if csp := login.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "object-src 'none'") || !strings.Contains(csp, "base-uri 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("login CSP = %q", csp)
	}
	if login.Header.Get("Cache-Control") != "no-store" || login.Header.Get("Cross-Origin-Opener-Policy") == "" {
		t.Errorf("login page caching/COOP headers: %v", login.Header)
	}
	tok := do("POST", "/oauth2/token", "http://127.0.0.1:5173", url.Values{"grant_type": {"client_credentials"}})
	if tok.Header.Get("Cache-Control") != "no-store" || tok.Header.Get("Pragma") != "no-cache" {
		t.Errorf("token response caching headers: %v", tok.Header)
	}
	if tok.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:5173" || tok.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("token CORS for the SPA origin: %v", tok.Header)
	}
	for _, origin := range []string{"https://evil.example", "null"} {
		if got := do("POST", "/oauth2/token", origin, url.Values{"grant_type": {"client_credentials"}}).Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("token CORS for %s: ACAO %q", origin, got)
		}
	}
	for _, p := range []string{"/oauth2/authorize?client_id=x", "/login"} {
		if got := do("GET", p, "http://127.0.0.1:5173", nil).Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("%s answers CORS (ACAO %q), want none (HD-06)", p, got)
		}
	}
	if got := do("GET", "/.well-known/openid-configuration", "https://evil.example", nil).Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("discovery ACAO = %q, want *", got)
	}
	if resp := do("GET", "/readyz", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz = %d", resp.StatusCode)
	}
	if resp := do("GET", "/metrics", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the public listener = %d, want 404", resp.StatusCode)
	}
	rec := httptest.NewRecorder()
	h.idp.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	metrics := rec.Body.String()
	if !strings.Contains(metrics, `gatehouse_http_requests_total{code="200",route="/oauth2/token",server="idp"}`) || !strings.Contains(metrics, "go_goroutines") {
		t.Errorf("metrics lack request counters or runtime metrics")
	}
}

// TestTamperedAccessToken_RS08_OIDC04 changes an access token's payload or header while keeping
// its signature: introspection says inactive and userinfo refuses it, because storage is keyed by
// the whole token. An ID token presented as an access token is refused too.
func TestTamperedAccessToken_RS08_OIDC04(t *testing.T) {
	h := sqliteHarness(t)
	spa := h.public(withAudiences("https://api.example"))
	rs, rsSecret := h.confidential() // its audience is the API's, so it may introspect (IR-03)
	h.user("tamper@example.com")
	cfg := h.oauthConfig(spa, "", "openid", "email")
	code, verifier := h.codeFlow(h.browser(), cfg, "tamper@example.com")
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok.AccessToken, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	evil := strings.Replace(string(payload), `"scope":"openid email"`, `"scope":"openid email admin"`, 1)
	if evil == string(payload) {
		t.Fatalf("payload has no scope to change: %s", payload)
	}
	idToken, _ := tok.Extra("id_token").(string)
	for name, bad := range map[string]string{
		"payload changed":   parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(evil)) + "." + parts[2],
		"alg none":          base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + ".",
		"signature cut":     parts[0] + "." + parts[1] + ".",
		"truncated":         tok.AccessToken[:len(tok.AccessToken)-4],
		"ID token as token": idToken,
	} {
		if h.introspect(bad, rs, rsSecret) {
			t.Errorf("%s: introspection says active", name)
		}
		if status, _ := h.userinfo(bad); status != http.StatusUnauthorized {
			t.Errorf("%s: userinfo = %d, want 401", name, status)
		}
	}
	if !h.introspect(tok.AccessToken, rs, rsSecret) {
		t.Error("the untouched token is inactive")
	}
	req, _ := http.NewRequest(http.MethodGet, h.issuer+"/userinfo?access_token="+tok.AccessToken, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("token in the query = %d %q, want 401 with a Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// TestReviewRegressions covers findings of the first security review: the access_token
// parameter cannot stand in for client credentials at introspection (IR-01), userinfo refuses
// refresh tokens (OIDC-04), form_post is refused (AUTHZ-05), and max_age=0 or
// prompt=select_account do not send the user back to login forever (CONF-10).
func TestReviewRegressions_IR01_OIDC04_AUTHZ05_CONF10(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential(firstParty)
	h.user("rev2@example.com")
	cfg := h.oauthConfig(web, secret, "openid", "offline_access")
	b := h.browser()
	code, verifier := h.codeFlow(b, cfg, "rev2@example.com")
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, h.issuer+"/oauth2/introspect", strings.NewReader(url.Values{"token": {tok.AccessToken}, "access_token": {tok.AccessToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("nobody", "nothing")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(body), `"active":true`) {
		t.Errorf("introspection with access_token instead of credentials = %d %s", resp.StatusCode, body)
	}
	if status, _ := h.userinfo(tok.RefreshToken); status != http.StatusUnauthorized {
		t.Errorf("userinfo with a refresh token = %d, want 401", status)
	}
	loc, err := b.authorize(cfg.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("response_mode", "form_post")), "", "")
	if e := loc.Query().Get("error"); err != nil || (e != "invalid_request" && e != "unsupported_response_mode") || loc.Query().Get("iss") != h.issuer {
		t.Errorf("response_mode=form_post = %v %v, want an error in the query with iss", loc, err)
	}
	for _, p := range []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("max_age", "0"), oauth2.SetAuthURLParam("prompt", "select_account")} {
		loc, err := b.authorize(cfg.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), p), "rev2@example.com", testPassword)
		if err != nil || loc.Query().Get("code") == "" {
			t.Errorf("re-login: %v %v, want a code after one login", loc, err)
		}
	}
}
