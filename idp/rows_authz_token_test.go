package idp_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
)

// azCodeLifespan sets the authorization code's lifetime.
func azCodeLifespan(d time.Duration) harnessOpt {
	return func(s *harnessSetup) { s.cfg.AuthorizeCodeLifespan = d }
}

// azRedeem posts an authorization_code grant for a confidential client; an empty redirectURI
// leaves the parameter out.
func azRedeem(h *harness, c *idp.Client, secret, code, verifier, redirectURI string) (int, map[string]any) {
	h.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}}
	if redirectURI != "" {
		form.Set("redirect_uri", redirectURI)
	}
	s, m, _ := h.postForm("/oauth2/token", form, c.ID, secret)
	return s, m
}

// TestTokenRedirectURIMismatch_TOKEN02: a code issued for one redirect_uri is redeemed with
// another (registered or not, or the same loopback URI on another port) or with none: 400
// invalid_grant. The right one still works afterwards.
func TestTokenRedirectURIMismatch_TOKEN02(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential(firstParty, func(c *idp.Client) {
		c.RedirectURIs = []string{callback, "https://app.example/other", "http://127.0.0.1/native"}
	})
	h.user("redir@example.com")
	b := h.browser()
	for _, tc := range []struct{ authorized, redeemed string }{
		{callback, "https://app.example/other"},
		{callback, callback + "/"},
		{callback, "https://APP.example/cb"},
		{callback, "https://evil.example/cb"},
		{callback, ""},
		{"http://127.0.0.1:4000/native", "http://127.0.0.1:4001/native"},
		{"http://127.0.0.1:4000/native", "http://127.0.0.1/native"},
		{"http://127.0.0.1:4000/native", ""},
	} {
		t.Run(tc.authorized+" → "+tc.redeemed, func(t *testing.T) {
			cfg := h.oauthConfig(web, secret, "openid")
			cfg.RedirectURL = tc.authorized
			code, verifier := h.codeFlow(b, cfg, "redir@example.com")
			s, m := azRedeem(h, web, secret, code, verifier, tc.redeemed)
			if s != http.StatusBadRequest || m["error"] != "invalid_grant" || m["access_token"] != nil {
				t.Fatalf("redeemed with %q: %d %v, want 400 invalid_grant", tc.redeemed, s, m)
			}
			if s, m := azRedeem(h, web, secret, code, verifier, tc.authorized); s != http.StatusOK {
				t.Errorf("redeemed then with %q: %d %v, want 200", tc.authorized, s, m)
			}
		})
	}
}

// TestExpiredCode_TOKEN03: a code redeemed just after its configured lifetime gets 400
// invalid_grant, one redeemed within it a token; the lifetime defaults to at most 10 minutes and
// cannot be configured longer (ASVS 5.0 10.4.3).
func TestExpiredCode_TOKEN03(t *testing.T) {
	if d := (idp.Config{}).WithDefaults().AuthorizeCodeLifespan; d <= 0 || d > 10*time.Minute {
		t.Errorf("default code lifetime %s, want at most 10m", d)
	}
	for _, d := range []time.Duration{10*time.Minute + time.Second, time.Hour} {
		cfg := idp.Config{Issuer: "https://id.example", Secrets: [][]byte{[]byte(strings.Repeat("s", 40))}, AuthorizeCodeLifespan: d}.WithDefaults()
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "authorize-code-lifespan") {
			t.Errorf("code lifetime %s: Validate = %v, want an error", d, err)
		}
	}

	const lifespan = 3 * time.Second
	h := sqliteHarness(t, azCodeLifespan(lifespan))
	web, secret := h.confidential(firstParty)
	h.user("late@example.com")
	b := h.browser()
	cfg := h.oauthConfig(web, secret, "openid")
	code, verifier := h.codeFlow(b, cfg, "late@example.com")
	if s, m := azRedeem(h, web, secret, code, verifier, callback); s != http.StatusOK {
		t.Fatalf("redeemed at once: %d %v", s, m)
	}
	code, verifier = h.codeFlow(b, cfg, "late@example.com")
	time.Sleep(lifespan + time.Second)
	if s, m := azRedeem(h, web, secret, code, verifier, callback); s != http.StatusBadRequest || m["error"] != "invalid_grant" || m["access_token"] != nil {
		t.Errorf("redeemed after %s: %d %v, want 400 invalid_grant", lifespan, s, m)
	}
}

// azBitBalance fails t when some bit position of the first n bytes of samples is set in too many
// or too few of them: random bits are set in half the samples (within 6 sigma), while a counter,
// a timestamp or a constant prefix leaves its high bits nearly fixed.
func azBitBalance(t *testing.T, what string, samples [][]byte, n int) {
	t.Helper()
	total := float64(len(samples))
	slack := 6 * 0.5 * math.Sqrt(total)
	for bit := 0; bit < n*8; bit++ {
		ones := 0
		for _, s := range samples {
			if s[bit/8]&(0x80>>(bit%8)) != 0 {
				ones++
			}
		}
		if d := float64(ones) - total/2; d > slack || d < -slack {
			t.Errorf("%s: bit %d is set in %d of %d, not random", what, bit, ones, len(samples))
			return
		}
	}
}

// azRandomPart decodes the random part of a token: base64url without padding, at least 128
// bits (22 characters or more).
func azRandomPart(t *testing.T, what, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 16 {
		t.Fatalf("%s %q: %d bytes (%v), want base64url of at least 128 bits", what, s, len(b), err)
	}
	return b
}

// rfc6749VSChars is the refresh-token syntax of RFC 6749 A.17: 1*VSCHAR (%x20-7E).
var rfc6749VSChars = regexp.MustCompile(`^[\x20-\x7e]+$`)

// fositeToken is an HMAC code or refresh token: a prefix, a 256-bit random key and its HMAC.
var fositeToken = regexp.MustCompile(`^ory_(ac|rt)_([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43})$`)

// TestTokenEntropy_TOKEN10 collects 1,000 codes and the access and refresh tokens they buy: all
// distinct, each with a random part of at least 128 bits whose bits are balanced across the
// samples (no counter or timestamp), refresh tokens in the RFC 6749 A.17 character set, access
// tokens with a 128-bit random jti.
func TestTokenEntropy_TOKEN10(t *testing.T) {
	const n = 1000
	h := sqliteHarness(t)
	spa := h.public()
	h.user("entropy@example.com")
	b := azSignedIn(t, h, spa, "entropy@example.com")
	verifier := oauth2.GenerateVerifier()
	seen := map[string]string{}
	unique := func(kind, v string) {
		if prev, dup := seen[v]; dup {
			t.Fatalf("%s %q was issued before as %s", kind, v, prev)
		}
		seen[v] = kind
	}
	var codes, refresh, jtis [][]byte
	for range n {
		q := azQuery(spa, url.Values{"scope": {"offline_access"}, "code_challenge": {s256(verifier)}})
		resp, body := azGet(t, b, h.issuer+"/oauth2/authorize?"+q.Encode())
		loc := azRedirect(t, resp)
		if loc == nil || loc.Query().Get("code") == "" {
			t.Fatalf("authorize: %d %v %s", resp.StatusCode, loc, trim([]byte(body)))
		}
		code := loc.Query().Get("code")
		unique("code", code)
		m := fositeToken.FindStringSubmatch(code)
		if m == nil || m[1] != "ac" {
			t.Fatalf("code %q is not prefix.key.hmac", code)
		}
		codes = append(codes, azRandomPart(t, "code", m[2]))

		s, tok, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {spa.ID},
			"code_verifier": {verifier}, "redirect_uri": {spa.RedirectURIs[0]}}, "", "")
		at, _ := tok["access_token"].(string)
		rt, _ := tok["refresh_token"].(string)
		if s != http.StatusOK || at == "" || rt == "" {
			t.Fatalf("exchange: %d %v", s, tok)
		}
		unique("access token", at)
		unique("refresh token", rt)
		if !rfc6749VSChars.MatchString(rt) {
			t.Fatalf("refresh token %q has characters outside RFC 6749 A.17", rt)
		}
		if m = fositeToken.FindStringSubmatch(rt); m == nil || m[1] != "rt" {
			t.Fatalf("refresh token %q is not prefix.key.hmac", rt)
		}
		refresh = append(refresh, azRandomPart(t, "refresh token", m[2]))
		_, claims := decodeJWT(t, at)
		jti, _ := claims["jti"].(string)
		unique("jti", jti)
		jtis = append(jtis, azRandomPart(t, "jti", jti))
	}
	azBitBalance(t, "code", codes, 16)
	azBitBalance(t, "refresh token", refresh, 16)
	azBitBalance(t, "jti", jtis, 16)
}

// TestConstantChallengeAndNonce_PKCE06 records the behaviour RFC 9700 §2.1.1 leaves optional:
// 20 requests with one code_challenge and one nonce are all accepted, each gets its own code,
// each code still needs the verifier, and each ID token carries the nonce. No detection.
func TestConstantChallengeAndNonce_PKCE06(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential(firstParty)
	h.user("constant@example.com")
	b := azSignedIn(t, h, web, "constant@example.com")
	verifier := oauth2.GenerateVerifier()
	const nonce = "constant-nonce-1234"
	codes := map[string]bool{}
	for i := range 20 {
		q := azQuery(web, url.Values{"code_challenge": {s256(verifier)}, "nonce": {nonce}})
		resp, _ := azGet(t, b, h.issuer+"/oauth2/authorize?"+q.Encode())
		loc := azRedirect(t, resp)
		if loc == nil || loc.Query().Get("code") == "" || codes[loc.Query().Get("code")] {
			t.Fatalf("request %d: %d %v, want a new code", i+1, resp.StatusCode, loc)
		}
		codes[loc.Query().Get("code")] = true
	}
	first := true
	for code := range codes {
		if first {
			first = false
			if s, m := azRedeem(h, web, secret, code, "", callback); s != http.StatusBadRequest {
				t.Errorf("without verifier: %d %v, want 400", s, m)
			}
			continue // spent by the attempt (PKCE-03)
		}
		s, m := azRedeem(h, web, secret, code, verifier, callback)
		idt, _ := m["id_token"].(string)
		if s != http.StatusOK || idt == "" {
			t.Fatalf("redeem: %d %v", s, m)
		}
		if _, claims := decodeJWT(t, idt); claims["nonce"] != nonce {
			t.Errorf("ID token nonce %v, want %s", claims["nonce"], nonce)
		}
	}
}

// azFailingStore is the real store whose token lookups and revocations fail while down is set:
// a database that went read-only (revocations) or away (lookups too).
type azFailingStore struct {
	idp.Store
	readOnly, down atomic.Bool
}

var errAZStorage = errors.New("database is unavailable")

func (s *azFailingStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	if s.readOnly.Load() || s.down.Load() {
		return errAZStorage
	}
	return s.Store.RevokeRefreshToken(ctx, requestID)
}

func (s *azFailingStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	if s.readOnly.Load() || s.down.Load() {
		return errAZStorage
	}
	return s.Store.RevokeAccessToken(ctx, requestID)
}

func (s *azFailingStore) GetRefreshTokenSession(ctx context.Context, signature string, sess fosite.Session) (fosite.Requester, error) {
	if s.down.Load() {
		return nil, errAZStorage
	}
	return s.Store.GetRefreshTokenSession(ctx, signature, sess)
}

func (s *azFailingStore) GetAccessTokenSession(ctx context.Context, signature string, sess fosite.Session) (fosite.Requester, error) {
	if s.down.Load() {
		return nil, errAZStorage
	}
	return s.Store.GetAccessTokenSession(ctx, signature, sess)
}

// azServeWith rebuilds h's provider on st, on the same address, keys and configuration.
func azServeWith(t *testing.T, h *harness, st idp.Store) {
	t.Helper()
	s, err := idp.NewServer(idp.Config{Issuer: h.issuer, Secrets: [][]byte{[]byte(strings.Repeat("s", 40))}},
		idp.Deps{Store: st, Keys: h.keys, Hasher: h.hasher, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Limits: generousLimits})
	if err != nil {
		t.Fatal(err)
	}
	h.srv.Config.Handler = s
}

// TestRevocationStorageFailure_VU02: while storage cannot revoke (read-only) or cannot be
// reached, revocation answers 503 temporarily_unavailable, never 200; the tokens stay active,
// and once storage is back the client's retry revokes them.
func TestRevocationStorageFailure_VU02(t *testing.T) {
	h := sqliteHarness(t)
	st := &azFailingStore{Store: h.store}
	azServeWith(t, h, st)
	web, secret := h.confidential(firstParty)
	rs, rsSecret := h.confidential()
	h.user("vu02@example.com")
	b := h.browser()
	cfg := h.oauthConfig(web, secret, "openid", "offline_access")
	for _, mode := range []struct {
		name string
		flag *atomic.Bool
	}{{"read-only", &st.readOnly}, {"unreachable", &st.down}} {
		for _, hint := range []string{"refresh_token", "access_token", ""} {
			t.Run(mode.name+" "+hint, func(t *testing.T) {
				code, verifier := h.codeFlow(b, cfg, "vu02@example.com")
				tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
				if err != nil {
					t.Fatal(err)
				}
				token := tok.RefreshToken
				if hint == "access_token" {
					token = tok.AccessToken
				}
				form := url.Values{"token": {token}}
				if hint != "" {
					form.Set("token_type_hint", hint)
				}
				mode.flag.Store(true)
				s, m, _ := h.postForm("/oauth2/revoke", form, web.ID, secret)
				mode.flag.Store(false)
				if s < 500 || m["error"] != "temporarily_unavailable" {
					t.Errorf("revocation while storage fails: %d %v, want 503 temporarily_unavailable", s, m)
				}
				if !h.introspect(tok.RefreshToken, rs, rsSecret) || !h.introspect(tok.AccessToken, rs, rsSecret) {
					t.Fatalf("a failed revocation deactivated a token")
				}
				if s, m, _ := h.postForm("/oauth2/revoke", form, web.ID, secret); s != http.StatusOK {
					t.Fatalf("retry after recovery: %d %v", s, m)
				}
				if h.introspect(tok.RefreshToken, rs, rsSecret) || h.introspect(tok.AccessToken, rs, rsSecret) {
					t.Errorf("the retry left a token active")
				}
			})
		}
	}
}

// azRaw sends a raw HTTP/1.1 request to the provider and returns the response and its body.
func azRaw(t *testing.T, h *harness, request string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", h.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestHostHeaderPoisoning_OIDC05: discovery and JWKS fetched with a hostile Host, X-Forwarded-Host,
// X-Forwarded-Proto, Forwarded or an absolute-URI request line name the configured issuer and
// endpoints, byte for byte the same document; nothing attacker-chosen is remembered for the next
// ordinary request. Redirects and tokens do not take the Host either.
func TestHostHeaderPoisoning_OIDC05(t *testing.T) {
	h := sqliteHarness(t)
	_, wantDiscovery := getNoFollow(t, h.issuer+"/.well-known/openid-configuration")
	_, wantJWKS := getNoFollow(t, h.issuer+"/.well-known/jwks.json")
	if !strings.Contains(wantDiscovery, `"issuer":"`+h.issuer+`"`) {
		t.Fatalf("discovery: %s", wantDiscovery)
	}
	hostile := map[string]string{
		"Host":              "Host: evil.example\r\n",
		"Host with port":    "Host: evil.example:443\r\n",
		"X-Forwarded-Host":  "Host: " + h.srv.Listener.Addr().String() + "\r\nX-Forwarded-Host: evil.example\r\n",
		"X-Forwarded-Proto": "Host: " + h.srv.Listener.Addr().String() + "\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 8443\r\n",
		"Forwarded":         "Host: " + h.srv.Listener.Addr().String() + "\r\nForwarded: host=evil.example;proto=https\r\n",
		"all":               "Host: evil.example\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: http\r\nForwarded: for=1.2.3.4;host=evil.example;proto=http\r\nX-Original-URL: /evil\r\nX-Rewrite-URL: /evil\r\n",
	}
	paths := map[string]string{"/.well-known/openid-configuration": wantDiscovery, "/.well-known/oauth-authorization-server": wantDiscovery, "/.well-known/jwks.json": wantJWKS}
	for name, headers := range hostile {
		for path, want := range paths {
			for _, target := range []string{path, "http://evil.example" + path} {
				t.Run(name+" "+target, func(t *testing.T) {
					resp, body := azRaw(t, h, "GET "+target+" HTTP/1.1\r\n"+headers+"Connection: close\r\n\r\n")
					switch {
					case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusMisdirectedRequest:
					case resp.StatusCode != http.StatusOK || body != want:
						t.Errorf("%d %s, want the configured document or 400/421", resp.StatusCode, trim([]byte(body)))
					case strings.Contains(body, "evil.example") || strings.Contains(body, "https://"+h.srv.Listener.Addr().String()):
						t.Errorf("document names an attacker-chosen origin: %s", trim([]byte(body)))
					}
				})
			}
		}
	}
	// Nothing stuck: the ordinary request still gets the configured document.
	if _, body := getNoFollow(t, h.issuer+"/.well-known/openid-configuration"); body != wantDiscovery {
		t.Errorf("discovery changed after the hostile requests: %s", trim([]byte(body)))
	}

	// The authorization endpoint's redirects and iss do not take the Host either.
	spa := h.public()
	q := azQuery(spa, url.Values{"scope": {"openid admin"}})
	resp, _ := azRaw(t, h, "GET /oauth2/authorize?"+q.Encode()+" HTTP/1.1\r\n"+hostile["all"]+"Connection: close\r\n\r\n")
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("iss") != h.issuer || !strings.HasPrefix(loc.String(), spa.RedirectURIs[0]) {
		t.Errorf("error redirect with a hostile Host: %d %v, want %s with iss=%s", resp.StatusCode, loc, spa.RedirectURIs[0], h.issuer)
	}
	q = azQuery(spa, nil)
	resp, _ = azRaw(t, h, "GET /oauth2/authorize?"+q.Encode()+" HTTP/1.1\r\n"+hostile["all"]+"Connection: close\r\n\r\n")
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/login?") {
		t.Errorf("login redirect with a hostile Host: %d %q, want a relative /login redirect", resp.StatusCode, loc)
	}
}

// TestDatabaseDown_VU02: with the database gone, nothing that needs a client answers as if the
// client's credentials were wrong or its token were gone: the token, revocation and
// introspection endpoints answer 503 temporarily_unavailable with Retry-After (not 401
// invalid_client, not 200), and the authorization endpoint a 503 page.
func TestDatabaseDown_VU02(t *testing.T) {
	db := dbtest.NewSQLite(t)
	h := newHarness(t, db)
	web, secret := h.confidential()
	_, m, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, web.ID, secret)
	token, _ := m["access_token"].(string)
	if token == "" {
		t.Fatalf("client credentials while the database is up: %v", m)
	}
	db.Close()
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/oauth2/token", url.Values{"grant_type": {"client_credentials"}}},
		{"/oauth2/revoke", url.Values{"token": {token}}},
		{"/oauth2/introspect", url.Values{"token": {token}}},
	} {
		status, m, hdr := h.postForm(c.path, c.form, web.ID, secret)
		if status != http.StatusServiceUnavailable || m["error"] != "temporarily_unavailable" || hdr.Get("Retry-After") == "" {
			t.Errorf("%s with the database down: %d %v (Retry-After %q), want 503 temporarily_unavailable with Retry-After", c.path, status, m, hdr.Get("Retry-After"))
		}
	}
	resp, err := http.Get(h.oauthConfig(web, secret, "openid").AuthCodeURL("state-vu02-0001", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("authorization with the database down: %d, want 503", resp.StatusCode)
	}
}

// TestMalformedClientID_VU02: a client_id PostgreSQL cannot store (NUL, invalid UTF-8) or an
// absurdly long one names no client: invalid_client (401), never a 503 that would read as a
// storage failure; and the readiness probe answers on both databases.
func TestMalformedClientID_VU02(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *database.DB{"sqlite": dbtest.NewSQLite, "postgres": dbtest.NewPostgres} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, open(t))
			if err := h.idp.Ready(t.Context()); err != nil {
				t.Fatalf("Ready: %v", err)
			}
			for _, id := range []string{"\x00", "\xff", "a\x00b", strings.Repeat("c", 2000)} {
				status, m, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, url.QueryEscape(id), "x")
				if status != http.StatusUnauthorized || m["error"] != "invalid_client" {
					t.Errorf("Basic client %q: %d %v, want 401 invalid_client", id, status, m)
				}
				status, m, _ = h.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}}, "", "")
				if status >= 500 {
					t.Errorf("form client_id %q: %d %v, want a 4xx", id, status, m)
				}
				resp, err := http.Get(h.issuer + "/oauth2/authorize?response_type=code&state=state-malformed&client_id=" + url.QueryEscape(id))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode >= 500 {
					t.Errorf("authorize with client_id %q: %d, want a 4xx page", id, resp.StatusCode)
				}
			}
		})
	}
}
