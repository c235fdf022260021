package idp_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/migrations"
)

// fuzzHarness builds one provider for a whole fuzz run.
func fuzzHarness(f *testing.F) (*harness, string, string) {
	db, err := database.Open(f.Context(), "sqlite:"+filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	if err := migrations.Up(f.Context(), db); err != nil {
		f.Fatal(err)
	}
	h := newHarness(f, db)
	web, secret := h.confidential()
	return h, web.ID, secret
}

// FuzzTokenEndpoint feeds arbitrary form bodies to the token endpoint: it must answer with an
// RFC 6749 error or a token, never a 5xx or a panic. Its seed corpus runs with go test.
func FuzzTokenEndpoint(f *testing.F) {
	h, id, secret := fuzzHarness(f)
	for _, seed := range []string{
		"grant_type=client_credentials",
		"grant_type=client_credentials&scope=todos:read&audience=https://api.example",
		"grant_type=authorization_code&code=abc.def&redirect_uri=https://app.example/cb&code_verifier=x",
		"grant_type=refresh_token&refresh_token=ory_rt_x.y",
		"grant_type=password&username=a&password=b",
		"grant_type=client_credentials&grant_type=client_credentials",
		"grant_type=%ff%fe&scope=%00",
		"client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=eyJhbGciOiJub25lIn0.e30.",
		"",
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, body string, auth bool) {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth {
			r.SetBasicAuth(id, secret)
		}
		w := httptest.NewRecorder()
		h.srv.Config.Handler.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("body %q: status %d %s", body, w.Code, w.Body.String())
		}
		if w.Code != http.StatusOK && !strings.Contains(w.Body.String(), `"error"`) {
			t.Fatalf("body %q: status %d without an OAuth error: %s", body, w.Code, w.Body.String())
		}
	})
}

// FuzzAuthorizeEndpoint feeds arbitrary query strings to the authorization endpoint: an error
// page, an error redirect to the registered URI, or the login redirect; never a 5xx, and never a
// redirect anywhere but the client's registered URI or the login page.
func FuzzAuthorizeEndpoint(f *testing.F) {
	h, id, _ := fuzzHarness(f)
	for _, seed := range []string{
		"response_type=code&client_id=" + id + "&redirect_uri=https://app.example/cb&state=12345678&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
		"response_type=token&client_id=" + id + "&redirect_uri=https://app.example/cb&state=12345678",
		"response_type=code&client_id=" + id + "&redirect_uri=https://evil.example/cb&state=12345678",
		"response_type=code&client_id=" + id + "&state=1&prompt=none%20login&max_age=x",
		"client_id=%ff&redirect_uri=%zz",
		"request_uri=urn:ietf:params:oauth:request_uri:x&client_id=" + id,
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "/oauth2/authorize", nil)
		r.URL.RawQuery = query
		w := httptest.NewRecorder()
		h.srv.Config.Handler.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("query %q: status %d %s", query, w.Code, w.Body.String())
		}
		if loc := w.Header().Get("Location"); loc != "" && !strings.HasPrefix(loc, "https://app.example/cb?") && !strings.HasPrefix(loc, "/login?") {
			t.Fatalf("query %q: redirect to %q", query, loc)
		}
	})
}
