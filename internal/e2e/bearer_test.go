// Package e2e_test runs the provider and the resource-side verifier against each other over
// real HTTP.
package e2e_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/idp/sqlstore"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/resource/bearer"
)

const apiAudience = "https://api.example"

// provider is the real IdP on httptest, on a fresh SQLite database.
type provider struct {
	srv    *httptest.Server
	store  *sqlstore.Store
	keys   *idp.Keys
	cfg    idp.Config
	hasher *idp.PasswordHasher
}

// providerOption changes the provider's configuration or its key management before it starts.
type providerOption func(*idp.Config, *idp.KeysConfig)

func startProvider(t *testing.T, opts ...providerOption) *provider {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	t.Cleanup(srv.Close)
	cfg := idp.Config{Issuer: srv.URL, Secrets: [][]byte{[]byte(strings.Repeat("s", 40))}}
	kc := idp.KeysConfig{}
	for _, o := range opts {
		o(&cfg, &kc)
	}
	cfg = cfg.WithDefaults()
	kc.AccessTokenAlg = cfg.AccessTokenAlg
	store := sqlstore.New(dbtest.NewSQLite(t))
	log := slog.New(slog.DiscardHandler)
	sealer, err := idp.NewSealer(cfg.Secrets)
	if err != nil {
		t.Fatal(err)
	}
	keys := idp.NewKeys(store, sealer, kc, log)
	if err := keys.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	p := &provider{srv: srv, store: store, keys: keys, cfg: cfg,
		hasher: idp.NewPasswordHasher(idp.Argon2Params{Memory: 8 * 1024, Time: 1, Threads: 1}, 0, 0)}
	srv.Config.Handler = p.server(t, cfg)
	return p
}

func (p *provider) server(t *testing.T, cfg idp.Config) *idp.Server {
	t.Helper()
	s, err := idp.NewServer(cfg, idp.Deps{Store: p.store, Keys: p.keys, Hasher: p.hasher, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sibling serves another provider on p's store and signing keys (the same clients, users and
// kids) with p's configuration changed by mod. With ownIssuer its issuer is its own URL, so its
// tokens are signed by a key the resource server trusts but name another issuer.
func (p *provider) sibling(t *testing.T, ownIssuer bool, mod func(*idp.Config)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	t.Cleanup(srv.Close)
	cfg := p.cfg
	if ownIssuer {
		cfg.Issuer = srv.URL
	}
	if mod != nil {
		mod(&cfg)
	}
	srv.Config.Handler = p.server(t, cfg)
	return srv
}

// machineClient registers a client-credentials client for audience and returns a token source
// configuration for it.
func (p *provider) machineClient(t *testing.T, audience string) *clientcredentials.Config {
	t.Helper()
	return p.machineClientID(t, "svc-"+uuid.NewString()[:8], audience)
}

// machineClientID is machineClient with the client ID id.
func (p *provider) machineClientID(t *testing.T, id, audience string) *clientcredentials.Config {
	t.Helper()
	secret := idp.GenerateClientSecret()
	c := &idp.Client{
		ID: id, Name: "Service", SecretHash: idp.HashClientSecret([]byte(secret)),
		TokenEndpointAuthMethod: idp.AuthMethodBasic, GrantTypes: []string{"client_credentials"},
		Scopes: []string{"todos:read"}, Audiences: []string{audience}, CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := p.store.CreateClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return &clientcredentials.Config{ClientID: c.ID, ClientSecret: secret, TokenURL: p.srv.URL + "/oauth2/token", Scopes: []string{"todos:read"}}
}

func (p *provider) token(t *testing.T, cc *clientcredentials.Config) string {
	t.Helper()
	tok, err := cc.Token(t.Context())
	if err != nil {
		t.Fatalf("client credentials: %v", err)
	}
	return tok.AccessToken
}

// countingTransport counts the requests the verifier makes to the provider.
type countingTransport struct {
	n    atomic.Int64 // every request
	jwks atomic.Int64 // requests for the JWKS
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	if strings.HasSuffix(r.URL.Path, "/jwks.json") {
		c.jwks.Add(1)
	}
	return c.next.RoundTrip(r)
}

func kid(t *testing.T, token string) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(token[:strings.IndexByte(token, '.')])
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	json.Unmarshal(h, &hdr)
	return hdr.Kid
}

func TestBearerWithRealProvider(t *testing.T) {
	p := startProvider(t)
	fetches := &countingTransport{next: http.DefaultTransport}
	v, err := bearer.New(t.Context(), bearer.Config{
		Issuer: p.srv.URL, Audience: apiAudience, HTTPClient: &http.Client{Transport: fetches, Timeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(v.Middleware(v.RequireScope("todos:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pr, _ := bearer.FromContext(r.Context())
		io.WriteString(w, pr.ClientID)
	}))))
	t.Cleanup(api.Close)

	call := func(t *testing.T, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", api.URL+"/todos", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}

	cc := p.machineClient(t, apiAudience)
	first := p.token(t, cc)
	other := p.token(t, p.machineClient(t, "https://other.example"))
	if _, err := v.Verify(t.Context(), other); err == nil || !strings.Contains(err.Error(), "aud") {
		t.Fatalf("Verify(token for another API) = %v, want an audience error", err)
	}
	for _, tt := range []struct {
		name       string
		token      string
		wantStatus int
		wantAuth   string
	}{
		{"token for this API", first, 200, ""},
		{"token for another API", other, 401, `error="invalid_token"`},
		{"no token", "", 401, `resource_metadata="https://api.example/.well-known/oauth-protected-resource"`},
		{"tampered signature", first[:len(first)-4] + "AAAA", 401, `error="invalid_token"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, auth := call(t, tt.token)
			if got != tt.wantStatus || !strings.Contains(auth, tt.wantAuth) {
				t.Fatalf("status %d, WWW-Authenticate %q; want %d and %s", got, auth, tt.wantStatus, tt.wantAuth)
			}
		})
	}

	// Rotation 1 activates the key published as "next" at start-up: already in the cache.
	// Rotation 2 activates a key created by rotation 1, which the verifier has not seen: its kid
	// is unknown and costs one refetch.
	for i, wantFetches := range []int64{0, 1} {
		before := fetches.n.Load()
		newKID, err := p.keys.Rotate(t.Context(), idp.ES256)
		if err != nil {
			t.Fatal(err)
		}
		tok := p.token(t, cc)
		if got := kid(t, tok); got != newKID {
			t.Fatalf("rotation %d: token kid %q, want %q", i+1, got, newKID)
		}
		start := time.Now()
		if got, auth := call(t, tok); got != 200 {
			t.Fatalf("rotation %d: new token: status %d (%s), want 200", i+1, got, auth)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("rotation %d: new token took %s to verify, want under 1 s", i+1, d)
		}
		if got := fetches.n.Load() - before; got != wantFetches {
			t.Errorf("rotation %d: %d requests to the provider, want %d", i+1, got, wantFetches)
		}
		if got, auth := call(t, first); got != 200 {
			t.Fatalf("rotation %d: token from the retired key: status %d (%s), want 200", i+1, got, auth)
		}
	}
}
