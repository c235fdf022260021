package idp_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/idp"
)

// TestKeyRotation_CONF22 rotates the signing keys: JWKS already published the new key, new tokens
// use it, tokens signed by the retired key still verify (introspection) until they expire.
func TestKeyRotation_CONF22(t *testing.T) {
	h := sqliteHarness(t)
	cc, secret := h.confidential()
	issue := func() string {
		_, m, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, cc.ID, secret)
		tok, _ := m["access_token"].(string)
		if tok == "" {
			t.Fatalf("no token: %v", m)
		}
		return tok
	}
	old := issue()
	oldHdr, _ := decodeJWT(t, old)
	_, jwksBefore := getNoFollow(t, h.issuer+"/.well-known/jwks.json")

	kid, err := h.keys.Rotate(t.Context(), idp.ES256)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(jwksBefore, `"`+kid+`"`) {
		t.Errorf("the key %s that now signs was not published before the rotation", kid)
	}
	fresh := issue()
	freshHdr, _ := decodeJWT(t, fresh)
	if freshHdr["kid"] != kid || freshHdr["kid"] == oldHdr["kid"] {
		t.Errorf("after rotation kid = %v, want %s (old %v)", freshHdr["kid"], kid, oldHdr["kid"])
	}
	_, jwksAfter := getNoFollow(t, h.issuer+"/.well-known/jwks.json")
	if !strings.Contains(jwksAfter, `"`+oldHdr["kid"].(string)+`"`) {
		t.Error("the retired key left JWKS while its tokens are still valid")
	}
	if !h.introspect(old, cc, secret) || !h.introspect(fresh, cc, secret) {
		t.Error("a token signed before or after the rotation does not introspect as active")
	}
}

// TestIDTokenAfterRotation_CONF03 checks an ID token from after an RS256 rotation still verifies
// with go-oidc through discovery (kid in the header, distinct kids in JWKS).
func TestIDTokenAfterRotation_CONF03(t *testing.T) {
	h := sqliteHarness(t)
	spa := h.public()
	h.user("rot@example.com")
	if _, err := h.keys.Rotate(t.Context(), idp.RS256); err != nil {
		t.Fatal(err)
	}
	cfg := h.oauthConfig(spa, "", "openid")
	code, verifier := h.codeFlow(h.browser(), cfg, "rot@example.com")
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	p, err := oidc.NewProvider(t.Context(), h.issuer)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if _, err := p.Verifier(&oidc.Config{ClientID: spa.ID}).Verify(t.Context(), raw); err != nil {
		t.Errorf("verify ID token after rotation: %v", err)
	}
	hdr, _ := decodeJWT(t, raw)
	if hdr["alg"] != "RS256" || hdr["kid"] == nil {
		t.Errorf("ID token header = %v", hdr)
	}
}

// TestLogout_CONF24_CONF25_CONF26_LO03 covers RP-initiated logout.
func TestLogout_CONF24_CONF25_CONF26_LO03(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential(firstParty)
	web2, _ := h.confidential(firstParty, func(c *idp.Client) { c.PostLogoutRedirectURIs = []string{"https://two.example/bye"} })
	h.user("out@example.com")
	cfg := h.oauthConfig(web, secret, "openid")
	b := h.browser()
	code, verifier := h.codeFlow(b, cfg, "out@example.com")
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idt, _ := tok.Extra("id_token").(string)
	get := func(q url.Values) *http.Response {
		resp, err := b.client.Get(h.issuer + "/oauth2/logout?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// CONF-25: unregistered URI, and a registered one with a query added: no redirect.
	for _, ru := range []string{"https://evil.example/bye", "https://app.example/bye?foo=bar"} {
		if resp := get(url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {ru}}); resp.Header.Get("Location") != "" || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("post_logout_redirect_uri %s: %d Location %q", ru, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// LO-03: web2's URI with web's hint.
	if resp := get(url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {web2.PostLogoutRedirectURIs[0]}}); resp.Header.Get("Location") != "" {
		t.Errorf("another client's URI redirected to %q", resp.Header.Get("Location"))
	}
	// CONF-26: a tampered hint (alg none) is not trusted; the user stays signed in.
	parts := strings.Split(idt, ".")
	if resp := get(url.Values{"id_token_hint": {"eyJhbGciOiJub25lIn0." + parts[1] + "."}, "post_logout_redirect_uri": {"https://app.example/bye"}}); resp.Header.Get("Location") != "" {
		t.Errorf("alg:none hint redirected to %q", resp.Header.Get("Location"))
	}
	// LO-01: no hint: a confirmation page, still signed in.
	resp, err := b.client.Get(h.issuer + "/oauth2/logout")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("logout without hint = %d, want the confirmation page", resp.StatusCode)
	}
	if loc, err := b.authorize(cfg.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "none")), "", ""); err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("still signed in after unconfirmed logout requests: %v %v", loc, err)
	}
	// CONF-24: a valid hint and a registered URI: signed out and redirected with state.
	resp = get(url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"https://app.example/bye"}, "state": {"st8"}})
	if loc := resp.Header.Get("Location"); loc != "https://app.example/bye?state=st8" {
		t.Errorf("logout redirect = %d %q, want https://app.example/bye?state=st8", resp.StatusCode, loc)
	}
	loc, err := b.authorize(cfg.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "none")), "", "")
	if err != nil || loc.Query().Get("error") != "login_required" {
		t.Errorf("prompt=none after logout = %v %v, want login_required", loc, err)
	}
}
