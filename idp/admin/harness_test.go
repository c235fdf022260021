package admin_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/idp/admin"
	"github.com/gatehouse-id/gatehouse/idp/sqlstore"
	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/loginflow"
	"github.com/gatehouse-id/gatehouse/policies"
)

const (
	password    = "correct horse battery staple"
	spaCallback = "http://127.0.0.1:5173/callback"
)

// env is the real provider with the admin API mounted as cmd/gatehouse mounts it (admin.Prefix
// on the provider's listener), over one database that also holds the policy.
type env struct {
	t     *testing.T
	srv   *httptest.Server
	store *sqlstore.Store
	svc   *policies.Service
	enf   *policies.Enforcer
	spa   *idp.Client // first-party public client allowed gatehouse:admin
}

func newEnv(t *testing.T, db *database.DB) *env {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	t.Cleanup(srv.Close)
	log := slog.New(slog.DiscardHandler)
	cfg := idp.Config{Issuer: srv.URL, Secrets: [][]byte{[]byte(strings.Repeat("s", 40))}}.WithDefaults()
	store := sqlstore.New(db)
	sealer, err := idp.NewSealer(cfg.Secrets)
	if err != nil {
		t.Fatal(err)
	}
	keys := idp.NewKeys(store, sealer, idp.KeysConfig{AccessTokenAlg: cfg.AccessTokenAlg}, log)
	if err := keys.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	lim := idp.Limits{Login: "100000-M", Token: "100000-M", TokenClient: "100000-M", Introspect: "100000-M", Account: "100000-M", PasswordChecks: "100000-S"}
	provider, err := idp.NewServer(cfg, idp.Deps{Store: store, Keys: keys, Log: log, Limits: lim,
		Hasher: idp.NewPasswordHasher(idp.Argon2Params{Memory: 8 * 1024, Time: 1, Threads: 1}, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	svc := policies.NewService(db, log)
	enf, err := policies.NewEnforcer(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	svc.Subscribe(enf.Refresh)
	api, err := admin.New(admin.Config{Service: svc, Authorizer: enf, Tokens: provider, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(admin.Prefix+"/", api)
	mux.Handle("/", provider)
	srv.Config.Handler = mux
	e := &env{t: t, srv: srv, store: store, svc: svc, enf: enf}
	e.spa = &idp.Client{
		ID: "spa-" + uuid.NewString()[:8], Name: "Admin console", Public: true, FirstParty: true,
		TokenEndpointAuthMethod: idp.AuthMethodNone, RedirectURIs: []string{spaCallback},
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		Scopes: []string{"openid", admin.Scope}, CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}
	e.register(e.spa)
	return e
}

func (e *env) register(c *idp.Client) {
	e.t.Helper()
	if err := c.Validate(); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CreateClient(e.t.Context(), c); err != nil {
		e.t.Fatal(err)
	}
}

// user creates a user and returns its policy subject, user:<id>.
func (e *env) user(email string) string {
	e.t.Helper()
	hash, err := idp.NewPasswordHasher(idp.Argon2Params{Memory: 8 * 1024, Time: 1, Threads: 1}, 1, 1).Hash(e.t.Context(), password)
	if err != nil {
		e.t.Fatal(err)
	}
	u := &idp.User{ID: uuid.NewString(), Email: email, EmailVerified: true, PasswordHash: hash, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := e.store.CreateUser(e.t.Context(), u); err != nil {
		e.t.Fatal(err)
	}
	return policies.UserSubject(u.ID)
}

// login signs the user in through the real pages and returns an access token with scopes.
func (e *env) login(email string, scopes ...string) string {
	e.t.Helper()
	cfg := &oauth2.Config{ClientID: e.spa.ID, RedirectURL: spaCallback, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: e.srv.URL + "/oauth2/authorize", TokenURL: e.srv.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	loc, err := loginflow.New(e.srv.URL, nil).Authorize(e.t.Context(), cfg.AuthCodeURL("state-"+uuid.NewString(), oauth2.S256ChallengeOption(verifier)), email, password)
	if err != nil || loc.Query().Get("code") == "" {
		e.t.Fatalf("login of %s ended at %v (%v), want a redirect with a code", email, loc, err)
	}
	tok, err := cfg.Exchange(e.t.Context(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		e.t.Fatal(err)
	}
	return tok.AccessToken
}

// machine registers a client-credentials client allowed scopes and returns its subject
// (client:<id>) and its configuration.
func (e *env) machine(scopes ...string) (string, *clientcredentials.Config) {
	e.t.Helper()
	secret := idp.GenerateClientSecret()
	c := &idp.Client{
		ID: "svc-" + uuid.NewString()[:8], Name: "Automation", SecretHash: idp.HashClientSecret([]byte(secret)),
		TokenEndpointAuthMethod: idp.AuthMethodBasic, GrantTypes: []string{"client_credentials"},
		Scopes: scopes, CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}
	e.register(c)
	return policies.ClientSubject(c.ID), &clientcredentials.Config{ClientID: c.ID, ClientSecret: secret, TokenURL: e.srv.URL + "/oauth2/token", Scopes: scopes}
}

func (e *env) token(cc *clientcredentials.Config) string {
	e.t.Helper()
	tok, err := cc.Token(e.t.Context())
	if err != nil {
		e.t.Fatalf("client credentials: %v", err)
	}
	return tok.AccessToken
}

// bootstrap makes subject an admin as the CLI would, before anyone can call the API.
func (e *env) bootstrap(subject string) {
	e.t.Helper()
	if _, err := e.svc.Assign(e.t.Context(), "cli:operator", subject, "role:admin", "first admin"); err != nil {
		e.t.Fatal(err)
	}
}

// reply is an answer of the admin API.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %d %s: %v", r.status, r.body, err)
	}
}

// problem is an RFC 9457 body as huma writes it.
type problem struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Errors []struct {
		Message  string `json:"message"`
		Location string `json:"location"`
	} `json:"errors"`
}

// call sends a request to the provider's listener ("" token: no Authorization header).
func (e *env) call(token, method, path, body string) reply {
	e.t.Helper()
	return e.callHeader(method, path, body, "Bearer "+token, token != "")
}

func (e *env) callHeader(method, path, body, auth string, withAuth bool) reply {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if withAuth {
		req.Header.Set("Authorization", auth)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

// policy reads the policy through the service.
func (e *env) policy() policies.Policy {
	e.t.Helper()
	p, err := e.svc.List(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
