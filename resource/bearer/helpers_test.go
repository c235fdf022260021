package bearer_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-id/gatehouse/resource/bearer"
)

const audience = "https://api.example"

// Keys are generated once per test binary: RSA generation is slow under -race.
var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	rsaKey2  *rsa.PrivateKey
	ecKey2   *ecdsa.PrivateKey
)

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if ecKey2, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

// signingKey is a private key with its kid and alg.
type signingKey struct {
	kid string
	alg jose.SignatureAlgorithm
	key crypto.Signer
}

func (k signingKey) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.key.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

// issuer is a fake authorization server: metadata, a JWKS it can change or break, and fetch
// counts.
type issuer struct {
	t            testing.TB
	srv          *httptest.Server
	url          string
	jwks         atomic.Pointer[jose.JSONWebKeySet]
	jwksStatus   atomic.Int32 // 0: 200
	jwksDelay    atomic.Int64 // nanoseconds the JWKS handler waits before answering
	cacheControl atomic.Pointer[string]
	jwksFetches  atomic.Int64
	metaFetches  atomic.Int64
	active       atomic.Bool // introspection answer
	introspected atomic.Int64
	es, rs       signingKey
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	testKeys(t)
	is := &issuer{t: t,
		es: signingKey{"es-1", jose.ES256, ecKey},
		rs: signingKey{"rs-1", jose.RS256, rsaKey},
	}
	is.active.Store(true)
	is.publish(is.es, is.rs)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		is.metaFetches.Add(1)
		json.NewEncoder(w).Encode(map[string]string{
			"issuer": is.url, "jwks_uri": is.url + "/jwks", "introspection_endpoint": is.url + "/introspect",
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		is.jwksFetches.Add(1)
		select {
		case <-time.After(time.Duration(is.jwksDelay.Load())):
		case <-r.Context().Done():
			return
		}
		if s := is.jwksStatus.Load(); s != 0 {
			http.Error(w, "down", int(s))
			return
		}
		if cc := is.cacheControl.Load(); cc != nil {
			w.Header().Set("Cache-Control", *cc)
		}
		json.NewEncoder(w).Encode(is.jwks.Load())
	})
	mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, r *http.Request) {
		is.introspected.Add(1)
		if id, secret, ok := r.BasicAuth(); !ok || id != "rs" || secret != "rs-secret" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]bool{"active": is.active.Load()})
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	is.url = is.srv.URL
	return is
}

// publish replaces the JWKS with the public halves of keys.
func (is *issuer) publish(keys ...signingKey) {
	set := &jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.public())
	}
	is.jwks.Store(set)
}

// config is a Config for this issuer.
func (is *issuer) config() bearer.Config {
	return bearer.Config{Issuer: is.url, Audience: audience, HTTPClient: is.srv.Client(),
		Introspection: &bearer.IntrospectionConfig{ClientID: "rs", ClientSecret: "rs-secret"}}
}

func (is *issuer) verifier(mod ...func(*bearer.Config)) *bearer.Verifier {
	is.t.Helper()
	cfg := is.config()
	for _, m := range mod {
		m(&cfg)
	}
	v, err := bearer.New(is.t.Context(), cfg)
	if err != nil {
		is.t.Fatal(err)
	}
	return v
}

// claims returns valid access-token claims from this issuer.
func (is *issuer) claims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": is.url, "sub": "alice", "aud": []string{audience}, "client_id": "web",
		"scope": "todos:read openid", "jti": "tok-1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
}

// sign signs claims with k, typ at+jwt, and the extra headers given.
func sign(t testing.TB, k signingKey, claims map[string]any, headers map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", k.kid)
	for name, v := range headers {
		opts = opts.WithHeader(jose.HeaderKey(name), v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// forge builds a compact JWS from a header and claims with the given signature bytes.
func forge(t testing.TB, header, claims map[string]any, sig []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString(sig)
}

// with returns a copy of m with the key set (nil deletes it).
func with(m map[string]any, key string, v any) map[string]any {
	out := make(map[string]any, len(m))
	for k, val := range m {
		out[k] = val
	}
	if v == nil {
		delete(out, key)
	} else {
		out[key] = v
	}
	return out
}

// segments splits a compact JWS.
func segments(tok string) (h, p, s string) {
	parts := strings.SplitN(tok, ".", 3)
	return parts[0], parts[1], parts[2]
}

// check runs Verify on each case and reports what it got.
type verifyCase struct {
	name   string
	token  string
	wantOK bool
}

func runVerify(t *testing.T, v *bearer.Verifier, cases []verifyCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Verify(t.Context(), tt.token)
			if got := err == nil; got != tt.wantOK {
				t.Fatalf("Verify: ok = %v (err %v, principal %+v), want ok = %v", got, err, p, tt.wantOK)
			}
			if err != nil {
				t.Logf("refused: %v", err)
			}
		})
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func bigOne() *big.Int { return big.NewInt(1) }
