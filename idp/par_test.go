package idp_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestPushedAuthorization_RFC9126 pushes an authorization request, then completes it through
// login with only client_id and request_uri in the browser; the request_uri is single use.
func TestPushedAuthorization_RFC9126(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential(firstParty)
	h.user("par@example.com")
	verifier := oauth2.GenerateVerifier()
	status, m, _ := h.postForm("/oauth2/par", url.Values{
		"response_type": {"code"}, "redirect_uri": {callback}, "scope": {"openid"}, "state": {"state-par-12345"},
		"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"},
	}, web.ID, secret)
	if status != http.StatusCreated {
		t.Fatalf("PAR: %d %v", status, m)
	}
	requestURI, _ := m["request_uri"].(string)
	if !strings.HasPrefix(requestURI, "urn:ietf:params:oauth:request_uri:") {
		t.Fatalf("request_uri = %q", requestURI)
	}
	authURL := h.issuer + "/oauth2/authorize?" + url.Values{"client_id": {web.ID}, "request_uri": {requestURI}}.Encode()
	loc, err := h.browser().authorize(authURL, "par@example.com", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if loc.Query().Get("state") != "state-par-12345" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect = %s, want a code and the pushed state", loc)
	}
	cfg := h.oauthConfig(web, secret, "openid")
	if _, err := cfg.Exchange(t.Context(), loc.Query().Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Errorf("exchange: %v", err)
	}
	resp, _ := getNoFollow(t, authURL)
	if resp.StatusCode < 400 && !strings.Contains(resp.Header.Get("Location"), "error=") {
		t.Errorf("second use of the request_uri = %d %q, want an error", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestPublicClientSelfRevocation_IR06 lets a public client revoke its own refresh token with its
// client_id only.
func TestPublicClientSelfRevocation_IR06(t *testing.T) {
	h := sqliteHarness(t)
	spa := h.public()
	h.user("self@example.com")
	cfg := h.oauthConfig(spa, "", "openid", "offline_access")
	code, verifier := h.codeFlow(h.browser(), cfg, "self@example.com")
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if s, m, _ := h.postForm("/oauth2/revoke", url.Values{"token": {tok.RefreshToken}, "client_id": {spa.ID}}, "", ""); s != http.StatusOK {
		t.Fatalf("self-revocation: %d %v", s, m)
	}
	if s, _, _ := h.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {spa.ID}}, "", ""); s != http.StatusBadRequest {
		t.Errorf("refresh after self-revocation = %d, want 400", s)
	}
}
