package resource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/resource"
	"github.com/gatehouse-id/gatehouse/resource/bearer"
	"github.com/gatehouse-id/gatehouse/resource/sqlstore"
)

const benchAudience = "https://api.example"

// benchIssuer is a minimal authorization server for the benchmarks: RFC 8414 metadata and a
// JWKS with one ES256 and one RS256 key, and a way to sign access tokens with them.
type benchIssuer struct {
	srv  *httptest.Server
	keys map[string]any // alg → private key; the kid is the alg
}

func newBenchIssuer(b *testing.B) *benchIssuer {
	b.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	is := &benchIssuer{keys: map[string]any{"ES256": ec, "RS256": rk}}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &ec.PublicKey, KeyID: "ES256", Algorithm: "ES256", Use: "sig"},
		{Key: &rk.PublicKey, KeyID: "RS256", Algorithm: "RS256", Use: "sig"},
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		json.NewEncoder(w).Encode(set)
	})
	is.srv = httptest.NewServer(mux)
	b.Cleanup(is.srv.Close)
	return is
}

// token signs an access token for sub with alg, as the provider would issue it.
func (is *benchIssuer) token(b *testing.B, alg, sub string) string {
	b.Helper()
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", alg)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: is.keys[alg]}, opts)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.Signed(s).Claims(map[string]any{
		"iss": is.srv.URL, "sub": sub, "aud": []string{benchAudience}, "client_id": "spa",
		"scope": "openid todos:read todos:write", "jti": rand.Text(),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}).Serialize()
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// memAuthorizer is a trivial in-memory Authorizer: subject may do action on any object under
// prefix. It stands in for the Casbin enforcer in the benchmark.
type memAuthorizer struct {
	rules map[[2]string]string // subject, action → object prefix
}

func (a memAuthorizer) Authorize(_ context.Context, subject, object, action string) (resource.Decision, error) {
	prefix, ok := a.rules[[2]string{subject, action}]
	return resource.Decision{Allowed: ok && strings.HasPrefix(object, prefix), Revision: 7}, nil
}

// fixedPrincipal is the "bearer=off" auth: it trusts every request as alice, without a token.
func fixedPrincipal(next http.Handler) http.Handler {
	p := &bearer.Principal{Subject: "alice", ClientID: "spa", Scopes: []string{resource.ScopeRead, resource.ScopeWrite}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(bearer.NewContext(r.Context(), p)))
	})
}

// benchGet runs GET path over HTTP on h in parallel with the Authorization header auth.
func benchGet(b *testing.B, h http.Handler, path, auth string) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", srv.URL+path, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("GET %s: %d", path, resp.StatusCode)
				return
			}
		}
	})
}

// benchDBs runs fn on SQLite and, when GATEHOUSE_TEST_DATABASE_URL is set, on PostgreSQL.
func benchDBs(b *testing.B, fn func(b *testing.B, db *database.DB)) {
	b.Run("db=sqlite", func(b *testing.B) { fn(b, dbtest.NewSQLite(b)) })
	b.Run("db=postgres", func(b *testing.B) { fn(b, dbtest.NewPostgres(b)) })
}

// benchData stores alice's todo with two categories and returns the store and the todo's id.
func benchData(b *testing.B, db *database.DB) (resource.Store, string) {
	b.Helper()
	st, err := sqlstore.New(db, []byte(rand.Text()+rand.Text()))
	if err != nil {
		b.Fatal(err)
	}
	var cats []string
	for _, name := range []string{"home", "work"} {
		c, err := st.CreateCategory(b.Context(), "alice", resource.Category{Name: name})
		if err != nil {
			b.Fatal(err)
		}
		cats = append(cats, c.ID)
	}
	td, err := st.CreateTodo(b.Context(), "alice", resource.Todo{Title: "Buy milk", Notes: "2 l", CategoryIDs: cats})
	if err != nil {
		b.Fatal(err)
	}
	return st, td.ID
}

func newBenchServer(b *testing.B, st resource.Store, cfg resource.Config, auth func(http.Handler) http.Handler) http.Handler {
	b.Helper()
	srv, err := resource.NewServer(cfg, st, auth, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	return srv
}

// benchRounds is how many times each variant runs, interleaved with the others, so that a
// neighbour's load on a shared machine hits every variant alike: GATEHOUSE_BENCH_ROUNDS, default
// 1. Repeated runs get go test's #01, #02… suffixes; compare their minimums or medians.
func benchRounds() int {
	n, err := strconv.Atoi(os.Getenv("GATEHOUSE_BENCH_ROUNDS"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

type benchVariant struct {
	name string
	h    http.Handler
	auth string
}

// runVariants runs each variant over real HTTP, benchRounds times, interleaved.
func runVariants(b *testing.B, path string, variants []benchVariant) {
	for range benchRounds() {
		for _, v := range variants {
			b.Run(v.name, func(b *testing.B) { benchGet(b, v.h, path, v.auth) })
		}
	}
}

// BenchmarkGetTodo: GET /api/v1/todos/{id} over real HTTP on the same data, without the bearer
// middleware (a fixed principal) and with it, verifying an ES256 (the provider's default) or
// RS256 access token on every request, with the verified-token cache (the default: the same
// token again costs a SHA-256) and without it (a signature check per request).
//
//	flock /tmp/gatehouse-heavy.lock go test ./resource -run '^$' -bench BenchmarkGetTodo -benchmem
func BenchmarkGetTodo(b *testing.B) {
	is := newBenchIssuer(b)
	verifiers := map[string]*bearer.Verifier{}
	for name, size := range map[string]int{"cache=on": 0, "cache=off": -1} {
		v, err := bearer.New(b.Context(), bearer.Config{Issuer: is.srv.URL, Audience: benchAudience, CacheSize: size})
		if err != nil {
			b.Fatal(err)
		}
		verifiers[name] = v
	}
	benchDBs(b, func(b *testing.B, db *database.DB) {
		st, id := benchData(b, db)
		variants := []benchVariant{{"bearer=off", newBenchServer(b, st, resource.Config{}, fixedPrincipal), ""}}
		for _, alg := range []string{"ES256", "RS256"} {
			tok := "Bearer " + is.token(b, alg, "alice")
			for _, cache := range []string{"cache=on", "cache=off"} {
				variants = append(variants, benchVariant{"bearer=on/alg=" + alg + "/" + cache,
					newBenchServer(b, st, resource.Config{}, verifiers[cache].Middleware), tok})
			}
		}
		runVariants(b, "/api/v1/todos/"+id, variants)
	})
}

// BenchmarkGetTodoAuthorizer: the same request with the bearer middleware (ES256, cache on),
// without and with a policy check by a trivial in-memory Authorizer; the lead re-runs it with
// the Casbin one.
//
//	flock /tmp/gatehouse-heavy.lock go test ./resource -run '^$' -bench BenchmarkGetTodoAuthorizer -benchmem
func BenchmarkGetTodoAuthorizer(b *testing.B) {
	is := newBenchIssuer(b)
	v, err := bearer.New(b.Context(), bearer.Config{Issuer: is.srv.URL, Audience: benchAudience})
	if err != nil {
		b.Fatal(err)
	}
	authz := memAuthorizer{rules: map[[2]string]string{{"user:alice", "GET"}: "/api/v1/todos/"}}
	benchDBs(b, func(b *testing.B, db *database.DB) {
		st, id := benchData(b, db)
		tok := "Bearer " + is.token(b, "ES256", "alice")
		runVariants(b, "/api/v1/todos/"+id, []benchVariant{
			{"authz=off", newBenchServer(b, st, resource.Config{}, v.Middleware), tok},
			{"authz=on", newBenchServer(b, st, resource.Config{Authorizer: authz}, v.Middleware), tok},
		})
	})
}
