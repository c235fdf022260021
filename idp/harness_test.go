package idp_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/idp/mail"
	"github.com/gatehouse-id/gatehouse/idp/sqlstore"
	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/internal/loginflow"
)

// harness is a provider served over real HTTP on a real database.
type harness struct {
	t      testing.TB
	srv    *httptest.Server
	idp    *idp.Server
	store  *sqlstore.Store
	keys   *idp.Keys
	hasher *idp.PasswordHasher
	issuer string
	outbox string // the folder mails go to (one .eml file each)
}

const (
	testPassword = "correct horse battery staple"
	callback     = "https://app.example/cb"
	spaCallback  = "http://127.0.0.1:5173/callback"
)

var testArgon2 = idp.Argon2Params{Memory: 8 * 1024, Time: 1, Threads: 1}

// harnessSetup is what options may change before the server is built.
type harnessSetup struct {
	cfg   idp.Config
	sopts []sqlstore.Option
	deps  idp.Deps
}

type harnessOpt func(*harnessSetup)

func withGrace(d time.Duration) harnessOpt {
	return func(s *harnessSetup) { s.sopts = append(s.sopts, sqlstore.WithRefreshGrace(d)) }
}

// generousLimits keep the rate limits out of the way of tests about something else.
var generousLimits = idp.Limits{Login: "100000-M", Token: "100000-M", TokenClient: "100000-M", Introspect: "100000-M", Account: "100000-M", PasswordChecks: "100000-S", RefusalDelay: testRefusalDelay}

// testRefusalDelay holds refused answers in tests briefly: the code path runs, the tests stay
// quick. TestRefusalsAreHeld_RL06 runs the production default.
const testRefusalDelay = 5 * time.Millisecond

// withLimits replaces the generous test limits (empty rates take the production defaults, but
// for the refusal delay: testRefusalDelay unless l sets one).
func withLimits(l idp.Limits) harnessOpt {
	if l.RefusalDelay == 0 {
		l.RefusalDelay = testRefusalDelay
	}
	return func(s *harnessSetup) { s.deps.Limits = l }
}

// withTrustedProxies makes the provider believe X-Forwarded-For from these peers.
func withTrustedProxies(cidrs ...string) harnessOpt {
	return func(s *harnessSetup) {
		for _, c := range cidrs {
			s.deps.TrustedProxies = append(s.deps.TrustedProxies, netip.MustParsePrefix(c))
		}
	}
}

func newHarness(t testing.TB, db *database.DB, opts ...harnessOpt) *harness {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	t.Cleanup(srv.Close)
	set := harnessSetup{
		// Registrations and reset requests are answered after 25 ms rather than production's
		// 100: longer than they take here, so AN-03's timing holds, and the tests stay quick.
		cfg:  idp.Config{Issuer: srv.URL, Secrets: [][]byte{[]byte(strings.Repeat("s", 40))}, AccountAnswerFloor: 25 * time.Millisecond},
		deps: idp.Deps{Limits: generousLimits},
	}
	for _, o := range opts {
		o(&set)
	}
	cfg := set.cfg
	store := sqlstore.New(db, set.sopts...)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sealer, err := idp.NewSealer(cfg.Secrets)
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.WithDefaults()
	keys := idp.NewKeys(store, sealer, idp.KeysConfig{AccessTokenAlg: cfg.AccessTokenAlg}, log)
	if err := keys.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	d := set.deps
	d.Store, d.Keys, d.Log = store, keys, log
	if d.Hasher == nil {
		d.Hasher = idp.NewPasswordHasher(testArgon2, 0, 0)
	}
	outbox := t.TempDir()
	if d.Mailer == nil {
		ob, err := mail.NewOutbox(outbox, "Gatehouse <noreply@gatehouse.test>", log)
		if err != nil {
			t.Fatal(err)
		}
		d.Mailer = ob
	}
	s, err := idp.NewServer(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.WaitMail) // before the outbox folder is removed
	srv.Config.Handler = s
	return &harness{t: t, srv: srv, idp: s, store: store, keys: keys, hasher: d.Hasher, issuer: srv.URL, outbox: outbox}
}

// sqliteHarness is a harness on a fresh SQLite file.
func sqliteHarness(t *testing.T, opts ...harnessOpt) *harness {
	return newHarness(t, dbtest.NewSQLite(t), opts...)
}

type clientOpt func(*idp.Client)

func firstParty(c *idp.Client) { c.FirstParty = true }

// withAudiences sets the audiences a client may ask for (and, for a resource server's client,
// those whose tokens it may introspect).
func withAudiences(aud ...string) clientOpt { return func(c *idp.Client) { c.Audiences = aud } }

// confidential registers a confidential client and returns it with its secret.
func (h *harness) confidential(opts ...clientOpt) (*idp.Client, string) {
	h.t.Helper()
	secret := idp.GenerateClientSecret()
	c := &idp.Client{
		ID: "web-" + uuid.NewString()[:8], Name: "Web App", SecretHash: idp.HashClientSecret([]byte(secret)),
		TokenEndpointAuthMethod: idp.AuthMethodBasic, RedirectURIs: []string{callback},
		PostLogoutRedirectURIs: []string{"https://app.example/bye"},
		GrantTypes:             []string{"authorization_code", "refresh_token", "client_credentials"},
		ResponseTypes:          []string{"code"}, Scopes: []string{"openid", "profile", "email", "offline_access", "todos:read"},
		Audiences: []string{"https://api.example"}, CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}
	h.register(c, opts...)
	return c, secret
}

// register applies opts to c, validates it and stores it.
func (h *harness) register(c *idp.Client, opts ...clientOpt) {
	h.t.Helper()
	for _, o := range opts {
		o(c)
	}
	if err := c.Validate(); err != nil {
		h.t.Fatal(err)
	}
	if err := h.store.CreateClient(h.t.Context(), c); err != nil {
		h.t.Fatal(err)
	}
}

// public registers a public (SPA) client.
func (h *harness) public(opts ...clientOpt) *idp.Client {
	h.t.Helper()
	c := &idp.Client{
		ID: "spa-" + uuid.NewString()[:8], Name: "SPA", Public: true, FirstParty: true,
		TokenEndpointAuthMethod: idp.AuthMethodNone, RedirectURIs: []string{spaCallback},
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		Scopes: []string{"openid", "profile", "email", "offline_access"}, AllowedCORSOrigins: []string{"http://127.0.0.1:5173"},
		CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}
	h.register(c, opts...)
	return c
}

// user creates a user with testPassword.
func (h *harness) user(email string) *idp.User {
	h.t.Helper()
	hash, err := idp.NewPasswordHasher(testArgon2, 1, 1).Hash(h.t.Context(), testPassword)
	if err != nil {
		h.t.Fatal(err)
	}
	u := &idp.User{ID: uuid.NewString(), Email: email, EmailVerified: true, Name: "Test User", PasswordHash: hash, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := h.store.CreateUser(h.t.Context(), u); err != nil {
		h.t.Fatal(err)
	}
	return u
}

// browser is an HTTP client with cookies that stops at any redirect leaving the provider.
type browser struct {
	h      *harness
	lf     *loginflow.Browser
	client *http.Client
}

func (h *harness) browser() *browser {
	lf := loginflow.New(h.issuer, nil)
	return &browser{h: h, lf: lf, client: lf.Client}
}

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// authorize runs the browser through login and consent (when shown, it allows) and returns the
// final redirect to the client.
func (b *browser) authorize(authURL, email, password string) (*url.URL, error) {
	return b.lf.Authorize(b.h.t.Context(), authURL, email, password)
}

func (b *browser) post(path string, form url.Values) (*http.Response, error) {
	return b.lf.Post(b.h.t.Context(), path, form)
}

func submatch(re *regexp.Regexp, s string) string {
	if m := re.FindStringSubmatch(s); m != nil {
		return htmlUnescape(m[1])
	}
	return ""
}

func htmlUnescape(s string) string {
	r := strings.NewReplacer("&amp;", "&", "&#43;", "+", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&quot;", `"`)
	return r.Replace(s)
}

func trim(b []byte) string { return loginflow.Trim(b) }

// oauthConfig is an x/oauth2 client for c.
func (h *harness) oauthConfig(c *idp.Client, secret string, scopes ...string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if secret == "" {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID: c.ID, ClientSecret: secret, RedirectURL: c.RedirectURIs[0], Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: h.issuer + "/oauth2/authorize", TokenURL: h.issuer + "/oauth2/token", AuthStyle: style},
	}
}

// codeFlow runs authorize and returns the code and the verifier used.
func (h *harness) codeFlow(b *browser, cfg *oauth2.Config, email string, extra ...oauth2.AuthCodeOption) (code, verifier string) {
	h.t.Helper()
	verifier = oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "nonce-"+uuid.NewString())}, extra...)
	loc, err := b.authorize(cfg.AuthCodeURL("state-"+uuid.NewString(), opts...), email, testPassword)
	if err != nil {
		h.t.Fatalf("authorize: %v", err)
	}
	if e := loc.Query().Get("error"); e != "" {
		h.t.Fatalf("authorize: error %s: %s", e, loc.Query().Get("error_description"))
	}
	code = loc.Query().Get("code")
	if code == "" {
		h.t.Fatalf("authorize: no code in %s", loc)
	}
	return code, verifier
}

// postForm sends a form to the provider with optional Basic credentials and decodes the JSON.
func (h *harness) postForm(path string, form url.Values, user, pass string) (int, map[string]any, http.Header) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m, resp.Header
}

// introspect reports whether token is active, asked by a confidential client.
func (h *harness) introspect(token string, rs *idp.Client, rsSecret string) bool {
	h.t.Helper()
	code, m, _ := h.postForm("/oauth2/introspect", url.Values{"token": {token}}, rs.ID, rsSecret)
	if code != http.StatusOK {
		h.t.Fatalf("introspect: status %d %v", code, m)
	}
	active, _ := m["active"].(bool)
	return active
}

// userinfo calls /userinfo with a bearer token and returns the status.
func (h *harness) userinfo(token string) (int, map[string]any) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func s256(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func ctxT(t *testing.T) context.Context { return t.Context() }
