package e2e_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	fjwt "github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-id/gatehouse/resource/bearer"
)

// reply is an answer of the todos API.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// call sends a request with token ("" for none) to api.
func call(t *testing.T, api *todosAPI, token, method, path, body string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, api.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := api.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

var b64 = base64.RawURLEncoding

// split returns a compact JWS's decoded header, its payload segment (encoded) and its signature.
func split(t *testing.T, tok string) (map[string]any, string, string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	h, err := b64.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr map[string]any
	if err := json.Unmarshal(h, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr, parts[1], parts[2]
}

func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	_, payload, _ := split(t, tok)
	b, err := b64.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func encodeJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64.EncodeToString(b)
}

// hs256 signs header.payload with HMAC-SHA256 under secret.
func hs256(t *testing.T, header map[string]any, payload string, secret []byte) string {
	t.Helper()
	input := encodeJSON(t, header) + "." + payload
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return input + "." + b64.EncodeToString(m.Sum(nil))
}

// craft signs claims with the provider's own active access-token key (idp.Keys.Signer, what
// the provider signs its tokens with), so that every refusal below is for the claim or header
// changed, not for the signature.
func (p *provider) craft(t *testing.T, claims map[string]any, header map[string]any) string {
	t.Helper()
	if header == nil {
		header = map[string]any{"typ": "at+jwt"}
	}
	tok, _, err := p.keys.Signer(p.cfg.AccessTokenAlg).Generate(context.Background(), fjwt.MapClaims(claims), &fjwt.Headers{Extra: header})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func with(m map[string]any, kv ...any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

// publicKeys returns the provider's published keys.
func (p *provider) publicKeys(t *testing.T) []jose.JSONWebKey {
	t.Helper()
	resp, err := http.Get(p.srv.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set.Keys
}

// TestTodosAPIRefusesBadTokens_RS01_RS04_RS05_RS06_RS07_RS08 drives the todos API, served as
// `gatehouse serve` serves it, with tokens of the real provider: a valid one, none, and tokens
// broken in each way issue 3 lists. Every refusal is 401 with an RFC 6750 challenge naming the
// realm and the RFC 9728 metadata; a token without todos:write gets 403 insufficient_scope
// naming the scope, on every write, and nothing is written.
func TestTodosAPIRefusesBadTokens_RS01_RS04_RS05_RS06_RS07_RS08(t *testing.T) {
	p := startProvider(t)
	api := startTodos(t, p)
	access, idToken := p.userTokens(t, "alice@example.com", "openid", "todos:read", "todos:write")
	readOnly := p.userToken(t, "rita@example.com", "openid", "todos:read")
	claims := claimsOf(t, access)
	hdr, payload, sig := split(t, access)
	kid := hdr["kid"].(string)
	const challenge = `Bearer realm="https://api.example", resource_metadata="https://api.example/.well-known/oauth-protected-resource"`

	// The metadata resource_metadata points to.
	if r := call(t, api, "", "GET", bearer.MetadataPath, ""); r.status != 200 ||
		!strings.Contains(string(r.body), `"resource":"https://api.example"`) || !strings.Contains(string(r.body), `"authorization_servers":["`+p.srv.URL+`"]`) {
		t.Errorf("protected-resource metadata: %d %s", r.status, r.body)
	}

	// Tokens of the real provider that must be refused.
	otherAPI := p.token(t, p.machineClient(t, "https://other.example"))
	wrongIssuer := p.sibling(t, true, nil)
	wrongIssCC := p.machineClient(t, apiAudience)
	wrongIssCC.TokenURL = wrongIssuer.URL + "/oauth2/token"
	wrongIssTok := p.token(t, wrongIssCC)
	if kidOf := kid; claimsOf(t, wrongIssTok)["iss"] != wrongIssuer.URL || split3kid(t, wrongIssTok) != kidOf {
		t.Fatalf("sibling token: iss %v kid %s; want %s and the trusted kid %s", claimsOf(t, wrongIssTok)["iss"], split3kid(t, wrongIssTok), wrongIssuer.URL, kidOf)
	}

	type tc struct {
		name  string
		token string
	}
	cases := []tc{
		{"RS-08 tampered signature", access[:len(access)-6] + strings.Repeat("A", 6)},
		{"RS-08 signature stripped", encodeJSON(t, hdr) + "." + payload + "."},
		{"RS-08 payload changed without re-signing", encodeJSON(t, hdr) + "." + encodeJSON(t, with(claims, "sub", "someone-else")) + "." + sig},
		{"RS-08 scope added without re-signing", encodeJSON(t, hdr) + "." + encodeJSON(t, with(claims, "scope", "todos:read todos:write admin")) + "." + sig},
		{"RS-08 truncated", access[:len(access)/2]},
		{"RS-04 token for another API", otherAPI},
		{"RS-04 aud empty", p.craft(t, with(claims, "aud", []string{}), nil)},
		{"RS-04 aud missing", p.craft(t, with(claims, "aud", nil), nil)},
		{"RS-04 aud only the client_id", p.craft(t, with(claims, "aud", []string{claims["client_id"].(string)}), nil)},
		{"RS-04 aud only the issuer", p.craft(t, with(claims, "aud", []string{p.srv.URL}), nil)},
		{"RS-06 another issuer (real token, trusted key)", wrongIssTok},
		{"RS-06 issuer with a trailing slash", p.craft(t, with(claims, "iss", p.srv.URL+"/"), nil)},
		{"RS-06 issuer https variant", p.craft(t, with(claims, "iss", strings.Replace(p.srv.URL, "http:", "https:", 1)), nil)},
		{"RS-07 expired", p.craft(t, with(claims, "exp", time.Now().Add(-2*time.Minute).Unix(), "iat", time.Now().Add(-12*time.Minute).Unix()), nil)},
		{"RS-07 no exp", p.craft(t, with(claims, "exp", nil), nil)},
		{"RS-07 nbf in the future", p.craft(t, with(claims, "nbf", time.Now().Add(5*time.Minute).Unix()), nil)},
		{"RS-07 iat in the future", p.craft(t, with(claims, "iat", time.Now().Add(5*time.Minute).Unix()), nil)},
		{"RS-05 the real ID token (typ JWT, aud the client)", idToken},
		{"RS-05 typ JWT", p.craft(t, claims, map[string]any{"typ": "JWT"})},
		{"RS-05 no typ", p.craft(t, claims, map[string]any{})},
		{"RS-05 typ logout+jwt", p.craft(t, claims, map[string]any{"typ": "logout+jwt"})},
		{"RS-03 embedded jwk", p.craft(t, claims, map[string]any{"typ": "at+jwt", "jwk": map[string]any{"kty": "oct", "k": "c2VjcmV0"}})},
		{"RS-03 jku", p.craft(t, claims, map[string]any{"typ": "at+jwt", "jku": "http://127.0.0.1:1/jwks"})},
		{"RS-08 crit", p.craft(t, claims, map[string]any{"typ": "at+jwt", "crit": []string{"exp"}})},
	}
	// RS-01: alg none in three spellings with the real kid and claims, empty signature.
	for _, alg := range []string{"none", "None", "nOnE"} {
		cases = append(cases, tc{"RS-01 alg " + alg, encodeJSON(t, map[string]any{"alg": alg, "typ": "at+jwt", "kid": kid}) + "." + payload + "."})
	}
	// RS-01: HS256 with each published public key (the ES256 access-token key and the RS256
	// ID-token key) as the HMAC secret, in PEM, DER, JWK and JWK-n encodings, under its kid.
	for _, k := range p.publicKeys(t) {
		der, err := x509.MarshalPKIXPublicKey(k.Key)
		if err != nil {
			t.Fatal(err)
		}
		jwkJSON, _ := k.MarshalJSON()
		secrets := map[string][]byte{
			"PEM": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
			"DER": der,
			"JWK": jwkJSON,
		}
		if rk, ok := k.Key.(*rsa.PublicKey); ok {
			secrets["JWK n"] = []byte(b64.EncodeToString(rk.N.Bytes()))
			secrets["PKCS1 PEM"] = pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(rk)})
		}
		for enc, secret := range secrets {
			h := map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": k.KeyID}
			cases = append(cases, tc{"RS-01 HS256 keyed with the " + k.Algorithm + " public key " + k.KeyID[:8] + " as " + enc, hs256(t, h, payload, secret)})
		}
		// The real signature relabelled with another asymmetric algorithm, and the real token
		// pointed at the other key.
		for _, alg := range []string{"RS256", "PS256", "ES384", "ES256"} {
			if alg == hdr["alg"] && k.KeyID == kid {
				continue // that is the valid token
			}
			cases = append(cases, tc{"RS-01 " + alg + " against the " + k.Algorithm + " key " + k.KeyID[:8], encodeJSON(t, with(hdr, "alg", alg, "kid", k.KeyID)) + "." + payload + "." + sig})
		}
	}

	// Controls: the valid token, and one crafted the same way with nothing changed, pass.
	for _, tok := range []string{access, p.craft(t, claims, nil)} {
		if r := call(t, api, tok, "GET", "/api/v1/todos", ""); r.status != 200 {
			t.Fatalf("valid token: %d %s", r.status, r.body)
		}
	}
	t.Run("no token", func(t *testing.T) {
		r := call(t, api, "", "GET", "/api/v1/todos", "")
		if got := r.header.Get("WWW-Authenticate"); r.status != 401 || got != challenge {
			t.Errorf("%d, WWW-Authenticate %s\nwant 401 and      %s", r.status, got, challenge)
		}
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, api, c.token, "GET", "/api/v1/todos", "")
			want := challenge + `, error="invalid_token", error_description="the access token is invalid"`
			if got := r.header.Get("WWW-Authenticate"); r.status != 401 || got != want {
				t.Errorf("%d, WWW-Authenticate %s\nwant 401 and      %s", r.status, got, want)
			}
			// A refused token writes nothing either.
			if r := call(t, api, c.token, "POST", "/api/v1/todos", `{"title":"forged"}`); r.status != 401 {
				t.Errorf("POST: %d, want 401", r.status)
			}
		})
	}

	t.Run("403 insufficient_scope on writes", func(t *testing.T) {
		r := call(t, api, access, "POST", "/api/v1/todos", `{"title":"mine"}`)
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		var todo struct{ ID string }
		json.Unmarshal(r.body, &todo)
		for _, w := range []struct{ method, path, body string }{
			{"POST", "/api/v1/todos", `{"title":"x"}`},
			{"PATCH", "/api/v1/todos/" + todo.ID, `{"title":"x"}`},
			{"PUT", "/api/v1/todos/" + todo.ID, `{"title":"x"}`},
			{"DELETE", "/api/v1/todos/" + todo.ID, ""},
			{"POST", "/api/v1/categories", `{"name":"x"}`},
		} {
			r := call(t, api, readOnly, w.method, w.path, w.body)
			want := challenge + `, error="insufficient_scope", scope="todos:write"`
			if got := r.header.Get("WWW-Authenticate"); r.status != 403 || got != want ||
				!strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
				t.Errorf("%s %s: %d %s, WWW-Authenticate %s\nwant 403 problem+json and %s", w.method, w.path, r.status, r.header.Get("Content-Type"), got, want)
			}
		}
		if r := call(t, api, readOnly, "GET", "/api/v1/todos", ""); r.status != 200 || !bytes.Contains(r.body, []byte(`"items":[]`)) {
			t.Errorf("the read-only user's list: %d %s, want 200 and empty", r.status, r.body)
		}
		if r := call(t, api, access, "GET", "/api/v1/todos/"+todo.ID, ""); r.status != 200 || r.header.Get("ETag") != `"1"` {
			t.Errorf("alice's todo after refused writes: %d ETag %s", r.status, r.header.Get("ETag"))
		}
	})
}

func split3kid(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := split(t, tok)
	k, _ := h["kid"].(string)
	return k
}
