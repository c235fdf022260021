package idp_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/idp"
)

// decodeJWT returns a JWT's header and claims without verifying it.
func decodeJWT(t *testing.T, tok string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	var h, c map[string]any
	for i, dst := range []*map[string]any{&h, &c} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return h, c
}

// TestCodeFlowPublicClient_CONF01_OIDC08 runs code + PKCE for a public first-party client with
// x/oauth2, verifies the ID token with go-oidc, checks the RFC 9068 access token and userinfo.
func TestCodeFlowPublicClient_CONF01_OIDC08(t *testing.T) {
	h := sqliteHarness(t)
	spa := h.public()
	u := h.user("alice@example.com")
	cfg := h.oauthConfig(spa, "", "openid", "email", "offline_access")
	code, verifier := h.codeFlow(h.browser(), cfg, "alice@example.com")

	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	provider, err := oidc.NewProvider(t.Context(), h.issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: spa.ID}).Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	if idt.Subject != u.ID || idt.Nonce == "" || idt.AccessTokenHash == "" {
		t.Errorf("ID token sub=%q nonce=%q at_hash=%q", idt.Subject, idt.Nonce, idt.AccessTokenHash)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	var idClaims struct {
		AuthTime int64  `json:"auth_time"`
		Email    string `json:"email"`
	}
	_ = idt.Claims(&idClaims)
	if idClaims.AuthTime == 0 || idClaims.Email != "alice@example.com" {
		t.Errorf("ID token auth_time=%d email=%q", idClaims.AuthTime, idClaims.Email)
	}

	hdr, claims := decodeJWT(t, tok.AccessToken)
	if hdr["typ"] != "at+jwt" || hdr["kid"] == nil || hdr["alg"] != "ES256" {
		t.Errorf("access token header = %v, want typ at+jwt, a kid, ES256", hdr)
	}
	for _, k := range []string{"iss", "sub", "aud", "client_id", "scope", "jti", "iat", "exp"} {
		if claims[k] == nil {
			t.Errorf("access token lacks %s: %v", k, claims)
		}
	}
	if claims["client_id"] != spa.ID || claims["sub"] != u.ID || claims["iss"] != h.issuer {
		t.Errorf("access token claims = %v", claims)
	}
	if _, ok := claims["scope"].(string); !ok || claims["scp"] != nil {
		t.Errorf("scope must be a space-separated string (RFC 9068): %v", claims)
	}
	if aud, _ := claims["aud"].([]any); len(aud) == 0 {
		t.Errorf("aud is empty: %v", claims["aud"])
	}
	if tok.RefreshToken == "" {
		t.Error("no refresh token for offline_access")
	}

	status, info := h.userinfo(tok.AccessToken)
	if status != http.StatusOK || info["sub"] != u.ID || info["email"] != "alice@example.com" {
		t.Errorf("userinfo = %d %v", status, info)
	}
}

// TestCodeFlowConfidentialClient_CONF01_CO01 runs a third-party confidential client through the
// consent page, then checks that consent is remembered.
func TestCodeFlowConfidentialClient_CONF01_CO01(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential()
	h.user("bob@example.com")
	cfg := h.oauthConfig(web, secret, "openid", "profile")
	b := h.browser()

	resp, err := b.client.Get(cfg.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	code, verifier := h.codeFlow(b, cfg, "bob@example.com")
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	_, claims := decodeJWT(t, tok.AccessToken)
	if aud, _ := claims["aud"].([]any); len(aud) != 1 || aud[0] != "https://api.example" {
		t.Errorf("aud = %v, want the client's registered audience", claims["aud"])
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("authorize response Cache-Control = %q", resp.Header.Get("Cache-Control"))
	}

	// Consent is remembered: prompt=none succeeds silently now (CONF-12).
	loc, err := b.authorize(cfg.AuthCodeURL("state-abcdefgh", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "none")), "", "")
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("prompt=none after consent: %v %v", loc, err)
	}
	if loc.Query().Get("iss") != h.issuer {
		t.Errorf("iss in authorization response = %q, want %q (RFC 9207)", loc.Query().Get("iss"), h.issuer)
	}
	// More scopes than consented with prompt=none: consent_required (CO-03).
	loc, err = b.authorize(cfg.AuthCodeURL("state-abcdefgh", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("scope", "openid profile email")), "", "")
	if err != nil || loc.Query().Get("error") != "consent_required" {
		t.Fatalf("prompt=none with new scope = %v %v, want consent_required", loc, err)
	}
}

// TestPromptNoneWithoutSession_CONF11 gives login_required, with state, and no UI.
func TestPromptNoneWithoutSession_CONF11(t *testing.T) {
	h := sqliteHarness(t)
	spa := h.public()
	cfg := h.oauthConfig(spa, "", "openid")
	loc, err := h.browser().authorize(cfg.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "none")), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if loc.Query().Get("error") != "login_required" || loc.Query().Get("state") != "state-12345678" {
		t.Errorf("redirect = %s, want error=login_required with state", loc)
	}
}

// TestClientCredentials_TOKEN08 issues a JWT access token without refresh or ID token.
func TestClientCredentials_TOKEN08(t *testing.T) {
	h := sqliteHarness(t)
	cc, secret := h.confidential()
	status, m, hdr := h.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}}, cc.ID, secret)
	if status != http.StatusOK {
		t.Fatalf("client credentials: %d %v", status, m)
	}
	if m["refresh_token"] != nil || m["id_token"] != nil {
		t.Errorf("client credentials response has refresh or ID token: %v", m)
	}
	if hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", hdr.Get("Cache-Control"))
	}
	_, claims := decodeJWT(t, m["access_token"].(string))
	if claims["sub"] != cc.ID || claims["client_id"] != cc.ID || claims["scope"] != "todos:read" {
		t.Errorf("claims = %v", claims)
	}
	// A scope outside the allowlist is refused.
	status, m, _ = h.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}, cc.ID, secret)
	if status != http.StatusBadRequest || m["error"] != "invalid_scope" {
		t.Errorf("disallowed scope = %d %v, want invalid_scope", status, m)
	}
	// A public client cannot use client credentials.
	spa := h.public()
	status, m, _ = h.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {spa.ID}}, "", "")
	if status < 400 || status >= 500 {
		t.Errorf("public client credentials = %d %v", status, m)
	}
}

// TestRefreshRotation_RT01 rotates, then replays the old token after the grace window: the whole
// family (new refresh token and access tokens) is revoked.
func TestRefreshRotation_RT01(t *testing.T) {
	h := sqliteHarness(t, withGrace(50*time.Millisecond))
	web, secret := h.confidential(firstParty)
	rs, rsSecret := h.confidential()
	h.user("carol@example.com")
	cfg := h.oauthConfig(web, secret, "openid", "offline_access")
	code, verifier := h.codeFlow(h.browser(), cfg, "carol@example.com")
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	rt1 := tok.RefreshToken
	status, m, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, web.ID, secret)
	if status != http.StatusOK || m["refresh_token"] == nil || m["refresh_token"] == rt1 {
		t.Fatalf("refresh: %d %v", status, m)
	}
	rt2, at2 := m["refresh_token"].(string), m["access_token"].(string)
	if !h.introspect(at2, rs, rsSecret) {
		t.Fatal("new access token inactive")
	}
	time.Sleep(100 * time.Millisecond) // past the grace window
	status, m, _ = h.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, web.ID, secret)
	if status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Fatalf("replay of rotated token = %d %v, want invalid_grant", status, m)
	}
	if h.introspect(at2, rs, rsSecret) {
		t.Error("access token of the family still active after reuse detection")
	}
	if code, _ := h.userinfo(at2); code != http.StatusUnauthorized {
		t.Errorf("userinfo with revoked token = %d", code)
	}
	status, m, _ = h.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}}, web.ID, secret)
	if status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("newest refresh token after reuse = %d %v, want invalid_grant", status, m)
	}
}

// TestRefreshGrace_RT02 replays a rotated token within the grace window: it succeeds (the client
// lost the response) and only one refresh token of the family stays live.
func TestRefreshGrace_RT02(t *testing.T) {
	h := sqliteHarness(t, withGrace(time.Minute))
	web, secret := h.confidential(firstParty)
	other, otherSecret := h.confidential(firstParty)
	h.user("dave@example.com")
	cfg := h.oauthConfig(web, secret, "openid", "offline_access")
	code, verifier := h.codeFlow(h.browser(), cfg, "dave@example.com")
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(rt, id, sec string) (int, map[string]any) {
		s, m, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, id, sec)
		return s, m
	}
	s1, m1 := refresh(tok.RefreshToken, web.ID, secret)
	s2, m2 := refresh(tok.RefreshToken, web.ID, secret)
	if s1 != 200 || s2 != 200 {
		t.Fatalf("refresh then retry within grace = %d %v / %d %v", s1, m1, s2, m2)
	}
	// The first response's refresh token was superseded by the retry's.
	if s, m := refresh(m1["refresh_token"].(string), web.ID, secret); s != http.StatusBadRequest {
		t.Errorf("superseded sibling = %d %v, want 400", s, m)
	}
	// Another client cannot use it (RT-03), even within grace.
	if s, m := refresh(m2["refresh_token"].(string), other.ID, otherSecret); s != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("other client's refresh = %d %v, want invalid_grant", s, m)
	}
}

// TestCodeReuse_CONF14_TOKEN04 redeems a code twice: the second gives invalid_grant and revokes
// the tokens the first issued.
func TestCodeReuse_CONF14_TOKEN04(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential(firstParty)
	rs, rsSecret := h.confidential()
	h.user("erin@example.com")
	cfg := h.oauthConfig(web, secret, "openid", "offline_access")
	code, verifier := h.codeFlow(h.browser(), cfg, "erin@example.com")
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	status, m, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {callback}}, web.ID, secret)
	if status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Fatalf("second redemption = %d %v, want invalid_grant", status, m)
	}
	if h.introspect(tok.AccessToken, rs, rsSecret) {
		t.Error("access token from the reused code is still active")
	}
	if code, _ := h.userinfo(tok.AccessToken); code != http.StatusUnauthorized {
		t.Errorf("userinfo after code reuse = %d, want 401", code)
	}
	status, m, _ = h.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, web.ID, secret)
	if status != http.StatusBadRequest {
		t.Errorf("refresh token from the reused code = %d %v", status, m)
	}
}

// TestRefreshAbsoluteLifetime_RT04 gives a client a 3-second grant: rotation never extends it,
// and after it a refresh gives invalid_grant.
func TestRefreshAbsoluteLifetime_RT04(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential(firstParty, func(c *idp.Client) { c.RefreshTokenLifespan = 3 * time.Second })
	h.user("rt04@example.com")
	cfg := h.oauthConfig(web, secret, "openid", "offline_access")
	code, verifier := h.codeFlow(h.browser(), cfg, "rt04@example.com")
	start := time.Now()
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	rt := tok.RefreshToken
	for i := 0; i < 2; i++ {
		time.Sleep(500 * time.Millisecond)
		s, m, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, web.ID, secret)
		if s != http.StatusOK {
			t.Fatalf("refresh %d: %d %v", i, s, m)
		}
		rt = m["refresh_token"].(string)
		_, intro, _ := h.postForm("/oauth2/introspect", url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}}, web.ID, secret)
		if exp, _ := intro["exp"].(float64); exp == 0 || time.Unix(int64(exp), 0).After(start.Add(4*time.Second)) {
			t.Errorf("rotated refresh token exp = %v, want at most the grant's end (%s)", intro["exp"], start.Add(3*time.Second).Format(time.RFC3339))
		}
	}
	time.Sleep(time.Until(start.Add(3500 * time.Millisecond)))
	if s, m, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, web.ID, secret); s != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("refresh after the grant's end = %d %v, want invalid_grant", s, m)
	}
}

// TestRefreshWithoutRegisteredAudience_RT01 refreshes a grant of a client that registered no
// audience: its tokens are for the issuer, and fosite's audience check at refresh accepts that.
func TestRefreshWithoutRegisteredAudience_RT01(t *testing.T) {
	h := sqliteHarness(t)
	spa := h.public()
	h.user("noaud@example.com")
	cfg := h.oauthConfig(spa, "", "openid", "offline_access")
	code, verifier := h.codeFlow(h.browser(), cfg, "noaud@example.com")
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	s, m, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {spa.ID}}, "", "")
	if s != http.StatusOK {
		t.Fatalf("refresh = %d %v", s, m)
	}
	_, claims := decodeJWT(t, m["access_token"].(string))
	if aud, _ := claims["aud"].([]any); len(aud) != 1 || aud[0] != h.issuer {
		t.Errorf("aud = %v, want [%s]", claims["aud"], h.issuer)
	}
	// Asking for the issuer explicitly is allowed; another unregistered audience is not.
	for aud, want := range map[string]int{h.issuer: http.StatusOK, "https://other.example": http.StatusBadRequest} {
		cc, secret := h.confidential(func(c *idp.Client) { c.Audiences = nil })
		if s, m, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "audience": {aud}}, cc.ID, secret); s != want {
			t.Errorf("client credentials for audience %s = %d %v, want %d", aud, s, m, want)
		}
	}
}
