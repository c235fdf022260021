package idp_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/idp/sqlstore"
	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
)

func withAlg(alg string) harnessOpt {
	return func(s *harnessSetup) { s.cfg.AccessTokenAlg = alg }
}

// benchBackends runs fn on SQLite and, when configured, PostgreSQL, for each access-token algorithm.
func benchBackends(b *testing.B, fn func(b *testing.B, h *harness)) {
	backends := []struct {
		name  string
		newDB func(testing.TB) *database.DB
	}{{"sqlite", dbtest.NewSQLite}, {"postgres", dbtest.NewPostgres}}
	for _, be := range backends {
		for _, alg := range []string{idp.ES256, idp.RS256} {
			b.Run(be.name+"/"+alg, func(b *testing.B) {
				// As `gatehouse serve` runs it: clients cached for a second.
				fn(b, newHarness(b, be.newDB(b), withAlg(alg), func(s *harnessSetup) {
					s.sopts = append(s.sopts, sqlstore.WithClientCache(time.Second))
				}))
			})
		}
	}
}

// BenchmarkClientCredentials measures client-credentials token issuance over HTTP: a SHA-256
// secret check, one signature and one insert per request.
func BenchmarkClientCredentials(b *testing.B) {
	benchBackends(b, func(b *testing.B, h *harness) {
		cc, secret := h.confidential()
		body := url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}}.Encode()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		b.ReportAllocs()
		b.SetParallelism(16) // 32 concurrent clients on 2 cores: the server, not the client, is the bottleneck
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest(http.MethodPost, h.issuer+"/oauth2/token", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(cc.ID, secret)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	})
}

// BenchmarkCodeExchange measures an authorization (the user already signed in, first-party
// client) followed by the code exchange with PKCE: the browser-facing cost of one login round.
func BenchmarkCodeExchange(b *testing.B) {
	benchBackends(b, func(b *testing.B, h *harness) {
		web, secret := h.confidential(firstParty)
		h.user("bench@example.com")
		cfg := h.oauthConfig(web, secret, "openid", "offline_access")
		br := h.browser()
		h.codeFlow(br, cfg, "bench@example.com") // signs in
		verifier := oauth2.GenerateVerifier()
		authURL := cfg.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			resp, err := br.client.Get(authURL)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			code := loc.Query().Get("code")
			if code == "" {
				b.Fatalf("no code: %s", loc)
			}
			if _, err := cfg.Exchange(b.Context(), code, oauth2.VerifierOption(verifier)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
	})
}
