package bearer_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/resource/bearer"
)

func TestValid(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier()
	for _, k := range []signingKey{is.es, is.rs} {
		t.Run(string(k.alg), func(t *testing.T) {
			p, err := v.Verify(t.Context(), sign(t, k, is.claims(), nil))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.Subject != "alice" || p.ClientID != "web" || p.TokenID != "tok-1" || !p.HasScope("todos:read") || p.HasScope("todos:write") ||
				len(p.Audience) != 1 || p.Audience[0] != audience || time.Until(p.ExpiresAt) < 4*time.Minute {
				t.Fatalf("Principal = %+v", p)
			}
		})
	}
}

// hs256 signs header and claims with HMAC-SHA256 under secret: the public-key-as-secret attack.
func hs256(t *testing.T, header, claims map[string]any, secret []byte) string {
	t.Helper()
	unsigned := forge(t, header, claims, nil)
	unsigned = unsigned[:len(unsigned)-1] // drop the trailing "." of the empty signature
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(unsigned))
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestRS01AlgorithmAttacks(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier()
	// A verifier that allows PS256 still refuses it on a key published for RS256.
	vPS := is.verifier(func(c *bearer.Config) { c.Algorithms = []string{"ES256", "RS256", "PS256"} })
	claims := is.claims()
	pkix, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pkcs1 := x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)
	secrets := map[string][]byte{
		"PEM PKIX":  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}),
		"PEM PKCS1": pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1}),
		"DER PKIX":  pkix,
		"DER PKCS1": pkcs1,
		"JWK n":     []byte(base64.RawURLEncoding.EncodeToString(rsaKey.N.Bytes())),
		"JWK n raw": rsaKey.N.Bytes(),
	}
	cases := []verifyCase{{"baseline RS256", sign(t, is.rs, claims, nil), true}}
	for _, alg := range []string{"none", "None", "nOnE", "NONE"} {
		h := map[string]any{"alg": alg, "typ": "at+jwt", "kid": is.rs.kid}
		cases = append(cases, verifyCase{"alg " + alg + " empty signature", forge(t, h, claims, nil), false})
	}
	for name, secret := range secrets {
		h := map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": is.rs.kid}
		cases = append(cases, verifyCase{"HS256 with public key " + name, hs256(t, h, claims, secret), false})
	}
	cases = append(cases,
		verifyCase{"ES256 signed by an EC key, naming the RSA key", sign(t, signingKey{is.rs.kid, jose.ES256, ecKey}, claims, nil), false},
		verifyCase{"RS256 signed by the RSA key, naming the EC key", sign(t, signingKey{is.es.kid, jose.RS256, rsaKey}, claims, nil), false},
		verifyCase{"PS256 signed by the RSA key", sign(t, signingKey{is.rs.kid, jose.PS256, rsaKey}, claims, nil), false},
		verifyCase{"HS512 with the PEM key", hs256(t, map[string]any{"alg": "HS512", "typ": "at+jwt", "kid": is.rs.kid}, claims, secrets["PEM PKIX"]), false},
	)
	runVerify(t, v, cases)
	t.Run("PS256 allowed but not the key's alg", func(t *testing.T) {
		tok := sign(t, signingKey{is.rs.kid, jose.PS256, rsaKey}, claims, nil)
		if _, err := vPS.Verify(t.Context(), tok); err == nil {
			t.Fatal("Verify accepted PS256 on an RS256 key")
		}
	})
}

func TestRS03KeyHeaders(t *testing.T) {
	is := newIssuer(t)
	attacker := newIssuer(t) // a server that counts any request it receives
	v := is.verifier()
	evil := signingKey{"evil", jose.ES256, ecKey2}
	evilJWK := evil.public()
	cert := selfSigned(t)
	claims := is.claims()
	runVerify(t, v, []verifyCase{
		{"jku to attacker", sign(t, evil, claims, map[string]any{"jku": attacker.url + "/jwks"}), false},
		{"x5u to attacker", sign(t, evil, claims, map[string]any{"x5u": attacker.url + "/cert.pem"}), false},
		{"jku on a validly signed token", sign(t, is.es, claims, map[string]any{"jku": attacker.url + "/jwks"}), false},
		{"embedded jwk", sign(t, evil, claims, map[string]any{"jwk": evilJWK}), false},
		{"embedded jwk naming a known kid", sign(t, signingKey{is.es.kid, jose.ES256, ecKey2}, claims, map[string]any{"jwk": evilJWK}), false},
		{"x5c self-signed", sign(t, evil, claims, map[string]any{"x5c": []string{base64.StdEncoding.EncodeToString(cert)}}), false},
	})
	if n := attacker.jwksFetches.Load() + attacker.metaFetches.Load(); n != 0 {
		t.Errorf("attacker server received %d requests, want 0", n)
	}
}

func selfSigned(t *testing.T) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: bigOne(), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, &ecKey2.PublicKey, ecKey2)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestRS04Audience(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier()
	c := is.claims()
	runVerify(t, v, []verifyCase{
		{"aud array containing the API", sign(t, is.es, with(c, "aud", []string{"https://other.example", audience}), nil), true},
		{"aud string equal to the API", sign(t, is.es, with(c, "aud", audience), nil), true},
		{"aud another API", sign(t, is.es, with(c, "aud", []string{"https://rsb.example"}), nil), false},
		{"aud empty array", sign(t, is.es, with(c, "aud", []string{}), nil), false},
		{"aud missing", sign(t, is.es, with(c, "aud", nil), nil), false},
		{"aud only the client_id", sign(t, is.es, with(c, "aud", "web"), nil), false},
		{"aud prefix of the API", sign(t, is.es, with(c, "aud", "https://api.example.evil"), nil), false},
		{"aud trailing slash", sign(t, is.es, with(c, "aud", audience+"/"), nil), false},
	})
}

func TestRS05Type(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier()
	c := is.claims()
	typ := func(s string) string {
		// Sign with the wanted typ rather than editing the header, so only typ differs.
		opts := (&jose.SignerOptions{}).WithHeader("kid", is.es.kid)
		if s != "" {
			opts = opts.WithType(jose.ContentType(s))
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ecKey}, opts)
		if err != nil {
			t.Fatal(err)
		}
		jws, err := signer.Sign([]byte(mustJSON(t, c)))
		if err != nil {
			t.Fatal(err)
		}
		out, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	idToken := with(with(c, "aud", "web"), "nonce", "n")
	runVerify(t, v, []verifyCase{
		{"at+jwt", typ("at+jwt"), true},
		{"AT+JWT", typ("AT+JWT"), true},
		{"application/at+jwt", typ("application/at+jwt"), true},
		{"Application/AT+JWT", typ("Application/AT+JWT"), true},
		{"JWT", typ("JWT"), false},
		{"no typ", typ(""), false},
		{"logout+jwt", typ("logout+jwt"), false},
		{"at+jwt with a suffix", typ("at+jwt2"), false},
		{"ID token (typ JWT, aud client)", sign(t, is.es, idToken, map[string]any{"typ": "JWT"}), false},
		{"client_assertion shape", sign(t, is.es, with(with(c, "aud", is.url+"/oauth2/token"), "sub", "web"), map[string]any{"typ": "JWT"}), false},
	})
}

func TestRS06Issuer(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier()
	c := is.claims()
	runVerify(t, v, []verifyCase{
		{"exact", sign(t, is.es, c, nil), true},
		{"staging issuer", sign(t, is.es, with(c, "iss", "https://staging.id.example"), nil), false},
		{"trailing slash", sign(t, is.es, with(c, "iss", is.url+"/"), nil), false},
		{"https variant", sign(t, is.es, with(c, "iss", strings.Replace(is.url, "http://", "https://", 1)), nil), false},
		{"upper case", sign(t, is.es, with(c, "iss", strings.ToUpper(is.url)), nil), false},
		{"missing", sign(t, is.es, with(c, "iss", nil), nil), false},
	})
}

func TestRS06MetadataIssuerMismatch(t *testing.T) {
	is := newIssuer(t)
	cfg := is.config()
	cfg.Issuer = is.url + "/" // the metadata says is.url
	if _, err := bearer.New(t.Context(), cfg); !errors.Is(err, bearer.ErrMisconfigured) {
		t.Fatalf("New with a trailing-slash issuer: err = %v, want ErrMisconfigured", err)
	}
}

func TestRS07TimeClaims(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier() // leeway 30 s
	c := is.claims()
	now := time.Now()
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	runVerify(t, v, []verifyCase{
		{"exp passed within leeway", sign(t, is.es, with(c, "exp", at(-10*time.Second)), nil), true},
		{"exp passed beyond leeway", sign(t, is.es, with(c, "exp", at(-2*time.Minute)), nil), false},
		{"exp passed beyond 60 s", sign(t, is.es, with(c, "exp", at(-61*time.Second)), nil), false},
		{"exp missing", sign(t, is.es, with(c, "exp", nil), nil), false},
		{"nbf within leeway", sign(t, is.es, with(c, "nbf", at(10*time.Second)), nil), true},
		{"nbf in the future", sign(t, is.es, with(c, "nbf", at(5*time.Minute)), nil), false},
		{"iat far in the future", sign(t, is.es, with(c, "iat", at(time.Hour)), nil), false},
		{"iat and nbf missing", sign(t, is.es, with(with(c, "iat", nil), "nbf", nil), nil), true},
		{"exp as a string", sign(t, is.es, with(c, "exp", "9999999999"), nil), false},
	})
}

func TestRS08Integrity(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier()
	vPS := is.verifier(func(c *bearer.Config) { c.Algorithms = []string{"RS256", "PS256"} })
	c := is.claims()
	good := sign(t, is.rs, c, nil)
	h, _, sig := segments(good)
	enc := base64.RawURLEncoding
	payload := func(m map[string]any) string { return enc.EncodeToString([]byte(mustJSON(t, m))) }
	psHeader := enc.EncodeToString([]byte(`{"alg":"PS256","kid":"rs-1","typ":"at+jwt"}`))
	_, goodPayload, _ := segments(good)
	cases := []verifyCase{
		{"baseline", good, true},
		{"sub changed", h + "." + payload(with(c, "sub", "admin")) + "." + sig, false},
		{"scope changed", h + "." + payload(with(c, "scope", "todos:read todos:write admin")) + "." + sig, false},
		{"roles added", h + "." + payload(with(c, "roles", []string{"admin"})) + "." + sig, false},
		{"signature stripped", h + "." + goodPayload + ".", false},
		{"signature segment removed", h + "." + goodPayload, false},
		{"truncated", good[:len(good)-10], false},
		{"truncated to the header", h, false},
		{"alg swapped RS256 to PS256", psHeader + "." + goodPayload + "." + sig, false},
		{"crit unknown extension", sign(t, is.rs, c, map[string]any{"crit": []string{"urn:example:ext"}, "urn:example:ext": true}), false},
		{"crit naming exp", sign(t, is.rs, c, map[string]any{"crit": []string{"exp"}, "exp": 1}), false},
		{"no client_id", sign(t, is.rs, with(c, "client_id", nil), nil), false},
		{"no sub", sign(t, is.rs, with(c, "sub", nil), nil), false},
		{"JSON serialisation", `{"payload":"` + goodPayload + `","protected":"` + h + `","signature":"` + sig + `"}`, false},
		{"empty", "", false},
		{"garbage", "not.a.token", false},
	}
	runVerify(t, v, cases)
	t.Run("alg swapped, PS256 allowed", func(t *testing.T) {
		if _, err := vPS.Verify(t.Context(), psHeader+"."+goodPayload+"."+sig); err == nil {
			t.Fatal("accepted")
		}
	})
}

func TestErrorsWrapInvalidToken(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier()
	_, err := v.Verify(t.Context(), sign(t, is.es, with(is.claims(), "aud", "x"), nil))
	if !errors.Is(err, bearer.ErrInvalidToken) {
		t.Fatalf("err = %v, want ErrInvalidToken", err)
	}
}

func TestRS11ClientTokens(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier()
	for _, tt := range []struct {
		name, sub, clientID string
		wantClient          bool
	}{
		{"user token", "alice", "web", false},
		{"client-credentials token", "svc", "svc", true},
		{"client named like a user", "alice", "alice", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Verify(t.Context(), sign(t, is.es, with(with(is.claims(), "sub", tt.sub), "client_id", tt.clientID), nil))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.IsClient(); got != tt.wantClient {
				t.Fatalf("IsClient() = %v for sub %q client_id %q, want %v", got, tt.sub, tt.clientID, tt.wantClient)
			}
		})
	}
}
