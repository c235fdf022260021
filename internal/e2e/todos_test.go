package e2e_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/internal/loginflow"
	"github.com/gatehouse-id/gatehouse/resource"
	"github.com/gatehouse-id/gatehouse/resource/bearer"
	rsqlstore "github.com/gatehouse-id/gatehouse/resource/sqlstore"
)

const spaCallback = "http://127.0.0.1:5173/callback"

// userToken signs a new user in through the real login page with a first-party public client
// and returns an access token for the todos API with the given scopes.
func (p *provider) userToken(t *testing.T, email string, scopes ...string) string {
	t.Helper()
	access, _ := p.userTokens(t, email, scopes...)
	return access
}

// userTokens is userToken returning the ID token too (scope openid).
func (p *provider) userTokens(t *testing.T, email string, scopes ...string) (access, id string) {
	t.Helper()
	return p.userTokensVia(t, p.srv.URL, email, scopes...)
}

// userTokensVia is userTokens exchanging the code at base's token endpoint (a sibling's, whose
// token lifetimes differ).
func (p *provider) userTokensVia(t *testing.T, base, email string, scopes ...string) (access, id string) {
	t.Helper()
	hash, err := idp.NewPasswordHasher(idp.Argon2Params{Memory: 8 * 1024, Time: 1, Threads: 1}, 1, 1).Hash(t.Context(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.store.CreateUser(t.Context(), &idp.User{ID: uuid.NewString(), Email: email, EmailVerified: true, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	c := &idp.Client{
		ID: "spa-" + uuid.NewString()[:8], Name: "Todo SPA", Public: true, FirstParty: true,
		TokenEndpointAuthMethod: idp.AuthMethodNone, RedirectURIs: []string{spaCallback},
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		Scopes: []string{"openid", "todos:read", "todos:write", "todos:admin"}, Audiences: []string{apiAudience},
		CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := p.store.CreateClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	cfg := &oauth2.Config{ClientID: c.ID, RedirectURL: spaCallback, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: p.srv.URL + "/oauth2/authorize", TokenURL: base + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	loc, err := loginflow.New(p.srv.URL, nil).Authorize(t.Context(),
		cfg.AuthCodeURL("state-"+uuid.NewString(), oauth2.S256ChallengeOption(verifier)), email, "correct horse battery staple")
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("login ended at %v (%v), want a redirect with a code", loc, err)
	}
	tok, err := cfg.Exchange(t.Context(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	id, _ = tok.Extra("id_token").(string)
	return tok.AccessToken, id
}

// todosAPI is the todos API served as `gatehouse serve` serves it, verifying p's tokens.
type todosAPI struct {
	*httptest.Server
	v       *bearer.Verifier
	fetches *countingTransport // the verifier's requests to the provider
}

// startTodos serves the todos API verifying the provider's tokens, as `gatehouse serve` does
// (the RFC 9728 metadata at bearer.MetadataPath, the API behind the bearer middleware). mods
// change the verifier's configuration.
func startTodos(t *testing.T, p *provider, mods ...func(*bearer.Config)) *todosAPI {
	t.Helper()
	return startTodosWith(t, p, resource.Config{}, mods...)
}

// startTodosWith is startTodos with the API's configuration (an Authorizer, say).
func startTodosWith(t *testing.T, p *provider, rc resource.Config, mods ...func(*bearer.Config)) *todosAPI {
	t.Helper()
	st, err := rsqlstore.New(dbtest.NewSQLite(t), []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	fetches := &countingTransport{next: &http.Transport{}}
	cfg := bearer.Config{Issuer: p.srv.URL, Audience: apiAudience, ResourceURL: apiAudience,
		HTTPClient: &http.Client{Transport: fetches, Timeout: 5 * time.Second}}
	for _, m := range mods {
		m(&cfg)
	}
	v, err := bearer.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Introspection != nil && rc.RequireActive == nil && !rc.AdminWithoutIntrospection {
		rc.RequireActive = v.RequireActive // as serve wires it when introspection credentials are set
	}
	api, err := resource.NewServer(rc, st, v.Middleware, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+bearer.MetadataPath, v.MetadataHandler(resource.Scopes()))
	mux.Handle("/", api)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &todosAPI{Server: srv, v: v, fetches: fetches}
}

// TestTodosWithRealTokens_RB07_RS04 drives the todos API with user tokens from the real login:
// alice creates and reads her todo, bob cannot see it (404), a read-only token cannot write
// (403), a machine token gets 403, and no token gets 401.
func TestTodosWithRealTokens_RB07_RS04(t *testing.T) {
	p := startProvider(t)
	api := startTodos(t, p)
	alice := p.userToken(t, "alice@example.com", "openid", "todos:read", "todos:write")
	bob := p.userToken(t, "bob@example.com", "openid", "todos:read", "todos:write")
	reader := p.userToken(t, "carol@example.com", "openid", "todos:read")
	machine := p.token(t, p.machineClient(t, apiAudience))

	call := func(token, method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, api.URL+path, bytes.NewBufferString(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	status, todo := call(alice, "POST", "/api/v1/todos", `{"title":"Buy milk"}`)
	if status != http.StatusCreated {
		t.Fatalf("alice creates a todo: %d %v", status, todo)
	}
	id, _ := todo["id"].(string)
	if s, m := call(alice, "GET", "/api/v1/todos/"+id, ""); s != http.StatusOK || m["title"] != "Buy milk" {
		t.Errorf("alice reads her todo: %d %v", s, m)
	}
	if s, m := call(alice, "GET", "/api/v1/todos", ""); s != http.StatusOK || len(m["items"].([]any)) != 1 {
		t.Errorf("alice lists her todos: %d %v", s, m)
	}
	if s, _ := call(bob, "GET", "/api/v1/todos/"+id, ""); s != http.StatusNotFound {
		t.Errorf("bob reads alice's todo: %d, want 404", s)
	}
	if s, m := call(bob, "GET", "/api/v1/todos", ""); s != http.StatusOK || len(m["items"].([]any)) != 0 {
		t.Errorf("bob's list: %d %v, want empty", s, m)
	}
	if s, _ := call(reader, "POST", "/api/v1/todos", `{"title":"x"}`); s != http.StatusForbidden {
		t.Errorf("a todos:read token writes: %d, want 403", s)
	}
	if s, _ := call(machine, "GET", "/api/v1/todos", ""); s != http.StatusForbidden {
		t.Errorf("a client-credentials token lists todos: %d, want 403", s)
	}
	if s, _ := call("", "GET", "/api/v1/todos", ""); s != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", s)
	}
	if s, _ := call(alice+"x", "GET", "/api/v1/todos", ""); s != http.StatusUnauthorized {
		t.Errorf("a tampered token: %d, want 401", s)
	}
}

// TestAdminViewSeesRevocation_F15_RS09: the cross-owner admin view introspects every request at
// the real provider (bearer.Verifier.RequireActive, with a confidential client's credentials), so
// when the provider revokes an admin's tokens (as a password reset or a disable does), her JWT,
// still valid offline and still passing the verifier's cache on the ordinary routes, loses the
// admin view at once (401). It needs todos:admin besides the grant (F4, RB-06): her todos:read
// token is refused.
func TestAdminViewSeesRevocation_F15_RS09(t *testing.T) {
	p := startProvider(t)
	authz := &recordingAuthorizer{rules: map[[2]string]string{}}
	rs := p.machineClient(t, apiAudience) // the resource server's introspection credentials
	api := startTodosWith(t, p, resource.Config{Authorizer: authz}, func(c *bearer.Config) {
		c.Introspection = &bearer.IntrospectionConfig{ClientID: rs.ClientID, ClientSecret: rs.ClientSecret}
	})
	admin := p.userToken(t, "alice@example.com", "openid", "todos:read", "todos:admin")
	sub := claimsOf(t, admin)["sub"].(string)
	reader := p.userToken(t, "alice2@example.com", "openid", "todos:read")
	readerSub := claimsOf(t, reader)["sub"].(string)
	for _, s := range []string{sub, readerSub} {
		authz.allow("user:"+s, "GET", "/api/v1/") // the admin view and the ordinary reads
	}
	if r := call(t, api, reader, "GET", "/api/v1/admin/todos", ""); r.status != 403 || !strings.Contains(r.header.Get("WWW-Authenticate"), `scope="todos:admin"`) {
		t.Fatalf("todos:read token on the admin view, granted: %d %s %s", r.status, r.header.Get("WWW-Authenticate"), r.body)
	}
	if r := call(t, api, admin, "GET", "/api/v1/admin/todos", ""); r.status != 200 {
		t.Fatalf("admin view before the revocation: %d %s", r.status, r.body)
	}
	if err := p.store.RevokeSubjectTokens(t.Context(), sub); err != nil {
		t.Fatal(err)
	}
	if r := call(t, api, admin, "GET", "/api/v1/admin/todos", ""); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("admin view after the revocation: %d %s %s, want 401 invalid_token", r.status, r.header.Get("WWW-Authenticate"), r.body)
	}
	// The ordinary routes verify offline: the JWT still works there until it expires (RS-09
	// asks introspection for the sensitive operations only).
	if r := call(t, api, admin, "GET", "/api/v1/todos", ""); r.status != 200 {
		t.Errorf("ordinary route after the revocation: %d, want 200 (offline verification)", r.status)
	}
}
