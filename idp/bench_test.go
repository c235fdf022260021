package idp_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite/token/jwt"
	"golang.org/x/crypto/bcrypt"
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

// BenchmarkSign measures signing one access token's claims with the active key, per algorithm:
// the cryptographic share of a token request.
func BenchmarkSign(b *testing.B) {
	db := dbtest.NewSQLite(b)
	store := sqlstore.New(db)
	sealer, err := idp.NewSealer([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		b.Fatal(err)
	}
	keys := idp.NewKeys(store, sealer, idp.KeysConfig{AccessTokenAlg: idp.ES256}, slog.New(slog.DiscardHandler))
	if err := keys.Init(b.Context()); err != nil {
		b.Fatal(err)
	}
	claims := jwt.MapClaims{"iss": "https://id.example", "sub": "user-1", "aud": []string{"https://api.example"},
		"client_id": "web", "scope": "openid todos:read", "jti": "4f1c0b9e-1f39-4c1e-9d43-3c1f5f0f8f7a",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for _, alg := range []string{idp.ES256, idp.RS256} {
		b.Run(alg, func(b *testing.B) {
			signer := keys.Signer(alg)
			header := &jwt.Headers{Extra: map[string]any{"typ": "at+jwt"}}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := signer.Generate(b.Context(), claims, header); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClientSecret measures the client secret check: a SHA-256 digest compared in
// constant time (a 256-bit random secret needs no slow hash).
func BenchmarkClientSecret(b *testing.B) {
	secret := []byte(idp.GenerateClientSecret())
	hash := idp.HashClientSecret(secret)
	b.ReportAllocs()
	for b.Loop() {
		if err := (idp.SecretHasher{}).Compare(b.Context(), hash, secret); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPassword measures hashing a new password (argon2id, OWASP parameters) and verifying
// one, argon2id and an imported bcrypt hash (cost 10).
func BenchmarkPassword(b *testing.B) {
	h := idp.NewPasswordHasher(idp.DefaultArgon2, 1, 1)
	const pw = "correct horse battery staple"
	argon, err := h.Hash(b.Context(), pw)
	if err != nil {
		b.Fatal(err)
	}
	bc, err := bcrypt.GenerateFromPassword([]byte(pw), 10)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("hash/argon2id", func(b *testing.B) {
		for b.Loop() {
			if _, err := h.Hash(b.Context(), pw); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, v := range []struct{ name, hash string }{{"argon2id", argon}, {"bcrypt", string(bc)}} {
		b.Run("verify/"+v.name, func(b *testing.B) {
			for b.Loop() {
				if ok, _, err := h.Verify(b.Context(), v.hash, pw); err != nil || !ok {
					b.Fatalf("verify = %v, %v", ok, err)
				}
			}
		})
	}
}
