package storetest

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-id/gatehouse/idp"
)

// Options configure a store for one test. Run always sets every field.
type Options struct {
	// Now is the clock the store must use for everything it timestamps or compares with the
	// current time (rotation time and grace window, jti and PAR expiry, created/updated times).
	Now func() time.Time
	// RefreshGrace is the window after a refresh token's rotation during which it is accepted
	// again. Zero means no grace: a rotated token is inactive at once.
	RefreshGrace time.Duration
}

// Factory returns a new, empty store configured by opts. It is called once per subtest and
// should register any cleanup with t.
type Factory func(t *testing.T, opts Options) idp.Store

// defaultGrace is the grace window of tests that do not choose one.
const defaultGrace = 10 * time.Second

// test is one named conformance test.
type test struct {
	name string
	run  func(t *testing.T, f Factory)
}

// tests lists the suite; each test makes its own store or stores.
var tests = []test{
	{"ClientCRUD", testClientCRUD},
	{"ClientConflict", testClientConflict},
	{"DisabledClient", testDisabledClient},
	{"UserClientIDsDisjoint_F9_RS11", testUserClientIDsDisjoint_F9_RS11},
	{"UserCRUD", testUserCRUD},
	{"UserEmailUniqueness", testUserEmailUniqueness},
	{"LoginSessions", testLoginSessions},
	{"Consents", testConsents},
	{"ListConsents", testListConsents},
	{"RevokeSubjectClientTokens_CO05", testRevokeSubjectClientTokens},
	{"SigningKeys", testSigningKeys},
	{"AuthorizeCode", testAuthorizeCode},
	{"UnknownSignatures", testUnknownSignatures},
	{"DeleteUnknown", testDeleteUnknown},
	{"AccessToken", testAccessToken},
	{"RefreshToken", testRefreshToken},
	{"RefreshRotation", testRefreshRotation},
	{"RefreshRetryWithinGrace", testRefreshRetryWithinGrace},
	{"RefreshReuseRevokesGrant", testRefreshReuseRevokesGrant},
	{"RefreshGrantCap", testRefreshGrantCap},
	{"PKCE", testPKCE},
	{"OpenIDConnect", testOpenIDConnect},
	{"PAR", testPAR},
	{"ClientAssertionJTI", testClientAssertionJTI},
	{"Transactions", testTransactions},
	{"DeleteExpired", testDeleteExpired},
	{"RevokeSubjectTokens", testRevokeSubjectTokens},
	{"RaceInvalidateAuthorizeCode", testRaceInvalidateAuthorizeCode},
	{"RaceRefreshRotation", testRaceRefreshRotation},
	{"RaceClientAssertionJTI", testRaceClientAssertionJTI},
	{"LoginThrottle", testLoginThrottle},
	{"RaceLoginThrottle", testRaceLoginThrottle},
	{"UserTokens", testUserTokens},
}

// Run runs the conformance suite, one subtest per test, each on fresh stores from f.
func Run(t *testing.T, f Factory) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, f) })
	}
}

// clock is a settable clock, safe for concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	// A whole millisecond, like the stores' timestamps, in the present so that times look real.
	return &clock{now: time.Now().UTC().Truncate(time.Second)}
}

// Now returns the clock's time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newStore returns a fresh store with its own clock and the given refresh grace window.
func newStore(t *testing.T, f Factory, grace time.Duration) (idp.Store, *clock) {
	t.Helper()
	clk := newClock()
	return f(t, Options{Now: clk.Now, RefreshGrace: grace}), clk
}

// testClient returns a client with every field set.
func testClient(id string) *idp.Client {
	return &idp.Client{
		ID:                      id,
		Name:                    "Client " + id,
		SecretHash:              idp.HashClientSecret([]byte("secret of " + id)),
		FirstParty:              true,
		TokenEndpointAuthMethod: idp.AuthMethodBasic,
		TokenEndpointAuthAlg:    "",
		RedirectURIs:            []string{"https://" + id + ".example/cb", "http://127.0.0.1/cb"},
		PostLogoutRedirectURIs:  []string{"https://" + id + ".example/bye"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		Scopes:                  []string{"openid", "offline_access", "todos:read"},
		Audiences:               []string{"https://api.example"},
		AllowedCORSOrigins:      []string{"https://" + id + ".example"},
		AccessTokenLifespan:     5 * time.Minute,
		RefreshTokenLifespan:    8 * time.Hour,
	}
}

// createClient stores testClient(id).
func createClient(t *testing.T, st idp.Store, id string) *idp.Client {
	t.Helper()
	c := testClient(id)
	if err := st.CreateClient(t.Context(), c); err != nil {
		t.Fatalf("CreateClient(%q) = %v", id, err)
	}
	return c
}

// createUser stores a user with the given email.
func createUser(t *testing.T, st idp.Store, email string) *idp.User {
	t.Helper()
	u := &idp.User{Email: email, Name: "User " + email, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"}
	if err := st.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q) = %v", email, err)
	}
	return u
}

// newSession returns a session of subject with ID-token claims, a grant end 24 hours after now
// and expiries for codes (10 min), access tokens (1 h), refresh tokens (12 h) and PAR (1 min).
func newSession(subject, clientID string, now time.Time) *idp.Session {
	s := idp.NewSession()
	s.Subject = subject
	s.Username = subject + "@example.com"
	s.ClientID = clientID
	s.GrantExpiresAt = now.Add(24 * time.Hour)
	s.Claims = &jwt.IDTokenClaims{
		Subject:                         subject,
		Issuer:                          "https://id.example",
		Audience:                        []string{clientID},
		Nonce:                           "nonce-" + subject,
		AuthTime:                        now.Add(-time.Minute),
		RequestedAt:                     now,
		AuthenticationMethodsReferences: []string{"pwd"},
		Extra:                           map[string]any{"email": subject + "@example.com"},
	}
	s.SetExpiresAt(fosite.AuthorizeCode, now.Add(10*time.Minute))
	s.SetExpiresAt(fosite.AccessToken, now.Add(time.Hour))
	s.SetExpiresAt(fosite.RefreshToken, now.Add(12*time.Hour))
	s.SetExpiresAt(fosite.PushedAuthorizeRequestContext, now.Add(time.Minute))
	return s
}

// newRequest returns a request of client with granted scopes and audience, a form and sess.
func newRequest(client *idp.Client, id string, sess *idp.Session, now time.Time) *fosite.Request {
	r := fosite.NewRequest()
	r.ID = id
	r.RequestedAt = now.Add(-2 * time.Second)
	r.Client = client
	r.SetRequestedScopes(fosite.Arguments{"openid", "offline_access", "todos:read"})
	r.GrantScope("openid")
	r.GrantScope("offline_access")
	r.SetRequestedAudience(fosite.Arguments{"https://api.example"})
	r.GrantAudience("https://api.example")
	r.Form = url.Values{
		"redirect_uri":          {"https://web.example/cb"},
		"code_challenge":        {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
		"code_challenge_method": {"S256"},
		"nonce":                 {"nonce-" + sess.Subject},
		"scope":                 {"openid offline_access todos:read"},
	}
	r.Session = sess
	return r
}

// checkRequest reports how got differs from want in what fosite reads back.
func checkRequest(t *testing.T, got fosite.Requester, want fosite.Requester) {
	t.Helper()
	if got == nil {
		t.Fatalf("request = nil, want %q", want.GetID())
	}
	if got.GetID() != want.GetID() {
		t.Errorf("request ID = %q, want %q", got.GetID(), want.GetID())
	}
	if !got.GetRequestedAt().Equal(want.GetRequestedAt()) {
		t.Errorf("RequestedAt = %v, want %v", got.GetRequestedAt(), want.GetRequestedAt())
	}
	if got.GetClient() == nil {
		t.Errorf("client = nil, want %q", want.GetClient().GetID())
	} else {
		if got.GetClient().GetID() != want.GetClient().GetID() {
			t.Errorf("client = %q, want %q", got.GetClient().GetID(), want.GetClient().GetID())
		}
		if _, ok := got.GetClient().(*idp.Client); !ok {
			t.Errorf("client is a %T, want *idp.Client", got.GetClient())
		}
	}
	for _, l := range []struct {
		name      string
		got, want []string
	}{
		{"requested scopes", got.GetRequestedScopes(), want.GetRequestedScopes()},
		{"granted scopes", got.GetGrantedScopes(), want.GetGrantedScopes()},
		{"requested audience", got.GetRequestedAudience(), want.GetRequestedAudience()},
		{"granted audience", got.GetGrantedAudience(), want.GetGrantedAudience()},
	} {
		if !slices.Equal(l.got, l.want) {
			t.Errorf("%s = %q, want %q", l.name, l.got, l.want)
		}
	}
	if got.GetRequestForm() == nil {
		t.Errorf("form = nil, want a non-nil url.Values (fosite's Merge writes into it)")
	}
	if g, w := got.GetRequestForm().Encode(), want.GetRequestForm().Encode(); g != w {
		t.Errorf("form = %s, want %s", g, w)
	}
	if ws, ok := want.GetSession().(*idp.Session); ok {
		checkSession(t, got.GetSession(), ws)
	}
}

// checkSession reports how got differs from want.
func checkSession(t *testing.T, got fosite.Session, want *idp.Session) {
	t.Helper()
	gs, ok := got.(*idp.Session)
	if !ok || gs == nil || gs.DefaultSession == nil || gs.Claims == nil {
		t.Fatalf("session = %#v, want a *idp.Session with claims", got)
	}
	for _, f := range []struct{ name, got, want string }{
		{"subject", gs.Subject, want.Subject},
		{"username", gs.Username, want.Username},
		{"client ID", gs.ClientID, want.ClientID},
		{"claims subject", gs.Claims.Subject, want.Claims.Subject},
		{"claims issuer", gs.Claims.Issuer, want.Claims.Issuer},
		{"claims nonce", gs.Claims.Nonce, want.Claims.Nonce},
		{"claims email", fmt.Sprint(gs.Claims.Extra["email"]), fmt.Sprint(want.Claims.Extra["email"])},
	} {
		if f.got != f.want {
			t.Errorf("session %s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if !gs.GrantExpiresAt.Equal(want.GrantExpiresAt) {
		t.Errorf("session GrantExpiresAt = %v, want %v", gs.GrantExpiresAt, want.GrantExpiresAt)
	}
	if !gs.Claims.AuthTime.Equal(want.Claims.AuthTime) {
		t.Errorf("session auth_time = %v, want %v", gs.Claims.AuthTime, want.Claims.AuthTime)
	}
	if !slices.Equal(gs.Claims.Audience, want.Claims.Audience) {
		t.Errorf("session aud = %q, want %q", gs.Claims.Audience, want.Claims.Audience)
	}
	if !slices.Equal(gs.Claims.AuthenticationMethodsReferences, want.Claims.AuthenticationMethodsReferences) {
		t.Errorf("session amr = %q, want %q", gs.Claims.AuthenticationMethodsReferences, want.Claims.AuthenticationMethodsReferences)
	}
	for tt, w := range want.ExpiresAt {
		if g := gs.GetExpiresAt(tt); !g.Equal(w) {
			t.Errorf("session expiry of %s = %v, want %v", tt, g, w)
		}
	}
}

// wantErr fails the test unless errors.Is(err, want) (or err is nil when want is).
func wantErr(t *testing.T, call string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s = %v, want %v", call, err, want)
	}
}

// equalTime reports whether two times are equal at millisecond precision, the stores' precision
// for domain timestamps.
func equalTime(a, b time.Time) bool {
	return a.Truncate(time.Millisecond).Equal(b.Truncate(time.Millisecond))
}
