package idp_test

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"github.com/google/uuid"

	"github.com/gatehouse-id/gatehouse/idp"
)

// TestPrivateKeyJWT_TOKEN11_VU01 authenticates a client with a signed assertion (RFC 7523) and
// refuses a replayed jti, alg none, a wrong audience, a missing exp and sub ≠ iss.
func TestPrivateKeyJWT_TOKEN11_VU01(t *testing.T) {
	h := sqliteHarness(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}
	c := &idp.Client{
		ID: "pkjwt-" + uuid.NewString()[:8], Name: "Machine with a key", TokenEndpointAuthMethod: idp.AuthMethodPrivateKeyJWT,
		TokenEndpointAuthAlg: "RS256", JWKS: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}},
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"todos:read"}, CreatedAt: time.Now(), UpdatedAt: time.Now(),
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := h.store.CreateClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1").WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	assertion := func(mod func(*josejwt.Claims)) string {
		cl := josejwt.Claims{Issuer: c.ID, Subject: c.ID, Audience: josejwt.Audience{h.issuer + "/oauth2/token"},
			ID: uuid.NewString(), Expiry: josejwt.NewNumericDate(time.Now().Add(time.Minute)), IssuedAt: josejwt.NewNumericDate(time.Now())}
		if mod != nil {
			mod(&cl)
		}
		s, err := josejwt.Signed(signer).Claims(cl).CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	token := func(a string) (int, map[string]any) {
		s, m, _ := h.postForm("/oauth2/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {c.ID},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a},
		}, "", "")
		return s, m
	}
	good := assertion(nil)
	if s, m := token(good); s != http.StatusOK {
		t.Fatalf("valid assertion: %d %v", s, m)
	}
	for name, a := range map[string]string{
		"replayed jti":   good,
		"alg none":       "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + splitPayload(good) + ".",
		"wrong aud":      assertion(func(c *josejwt.Claims) { c.Audience = josejwt.Audience{"https://elsewhere.example/token"} }),
		"no exp":         assertion(func(c *josejwt.Claims) { c.Expiry = nil }),
		"expired":        assertion(func(c *josejwt.Claims) { c.Expiry = josejwt.NewNumericDate(time.Now().Add(-time.Hour)) }),
		"sub is not iss": assertion(func(cl *josejwt.Claims) { cl.Subject = "someone-else" }),
	} {
		if s, m := token(a); s != http.StatusUnauthorized || m["error"] != "invalid_client" {
			t.Errorf("%s: %d %v, want 401 invalid_client", name, s, m)
		}
	}
}

func splitPayload(jws string) string {
	start, end := -1, -1
	for i, r := range jws {
		if r == '.' {
			if start < 0 {
				start = i
			} else {
				end = i
				break
			}
		}
	}
	return jws[start+1 : end]
}
