package bearer_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/resource/bearer"
)

// echo answers 200 with the Principal's subject and scopes.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p, ok := bearer.FromContext(r.Context())
	if !ok {
		http.Error(w, "no principal", http.StatusInternalServerError)
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"sub": p.Subject, "client_id": p.ClientID, "scopes": p.Scopes})
})

func TestRS10BearerPlacement(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier()
	tok := sign(t, is.es, is.claims(), nil)
	h := v.Middleware(echo)
	write := v.Middleware(v.RequireScope("todos:write")(echo))
	read := v.Middleware(v.RequireScope("todos:read")(echo))
	const meta = `resource_metadata="https://api.example/.well-known/oauth-protected-resource"`
	for _, tt := range []struct {
		name       string
		handler    http.Handler
		req        func() *http.Request
		wantStatus int
		wantAuth   []string // substrings of WWW-Authenticate
		noAuth     []string // substrings it must not contain
		wantError  string   // "error" in the JSON body
	}{
		{"Bearer", h, get("Bearer " + tok), 200, nil, nil, ""},
		{"bearer in lower case", h, get("bearer " + tok), 200, nil, nil, ""},
		{"BEARER in upper case", h, get("BEARER " + tok), 200, nil, nil, ""},
		{"no header", h, get(), 401, []string{`Bearer realm="https://api.example"`, meta}, []string{"error="}, "unauthorized"},
		{"Basic scheme", h, get("Basic d2ViOnNlY3JldA=="), 401, []string{"Bearer realm=", meta}, []string{"error="}, "unauthorized"},
		{"bad token", h, get("Bearer " + tok + "x"), 401, []string{`error="invalid_token"`, meta}, nil, "invalid_token"},
		{"empty token", h, get("Bearer "), 400, []string{`error="invalid_request"`}, nil, "invalid_request"},
		{"two Authorization headers", h, get("Bearer "+tok, "Bearer "+tok), 400, []string{`error="invalid_request"`}, nil, "invalid_request"},
		{"token in the query", h, func() *http.Request { return httptest.NewRequest("GET", "/?access_token="+tok, nil) }, 400, []string{`error="invalid_request"`}, nil, "invalid_request"},
		{"token in the query and the header", h, func() *http.Request {
			r := httptest.NewRequest("GET", "/?access_token="+tok, nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			return r
		}, 400, nil, nil, "invalid_request"},
		{"token in the body", h, func() *http.Request {
			r := httptest.NewRequest("POST", "/", strings.NewReader(url.Values{"access_token": {tok}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, 401, []string{"Bearer realm="}, []string{"error="}, "unauthorized"},
		{"scope granted", read, get("Bearer " + tok), 200, nil, nil, ""},
		{"scope missing", write, get("Bearer " + tok), 403, []string{`error="insufficient_scope"`, `scope="todos:write"`, meta}, nil, "insufficient_scope"},
		{"RequireScope without Middleware", v.RequireScope("todos:read")(echo), get("Bearer " + tok), 401, nil, nil, "unauthorized"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.handler.ServeHTTP(rec, tt.req())
			auth := rec.Header().Get("WWW-Authenticate")
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d (WWW-Authenticate %q, body %s), want %d", rec.Code, auth, rec.Body, tt.wantStatus)
			}
			for _, s := range tt.wantAuth {
				if !strings.Contains(auth, s) {
					t.Errorf("WWW-Authenticate = %q, want it to contain %s", auth, s)
				}
			}
			for _, s := range tt.noAuth {
				if strings.Contains(auth, s) {
					t.Errorf("WWW-Authenticate = %q, want no %s", auth, s)
				}
			}
			if tt.wantError != "" {
				var body map[string]string
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] != tt.wantError {
					t.Errorf("body = %s, want error %q", rec.Body, tt.wantError)
				}
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
			}
		})
	}
	t.Run("principal reaches the handler", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, get("Bearer "+tok)())
		var got map[string]any
		json.Unmarshal(rec.Body.Bytes(), &got)
		want := map[string]any{"sub": "alice", "client_id": "web", "scopes": []any{"todos:read", "openid"}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("handler saw %v, want %v", got, want)
		}
	})
}

// get returns a request builder for GET / with the given Authorization headers.
func get(authorization ...string) func() *http.Request {
	return func() *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		for _, a := range authorization {
			r.Header.Add("Authorization", a)
		}
		return r
	}
}

func TestMetadataHandler(t *testing.T) {
	is := newIssuer(t)
	for _, tt := range []struct {
		name, audience, resource, wantURL string
	}{
		{"resource is the audience", audience, "", "https://api.example/.well-known/oauth-protected-resource"},
		{"resource with a path", "urn:api", "https://rs.example/todos", "https://rs.example/.well-known/oauth-protected-resource/todos"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := is.verifier(func(c *bearer.Config) { c.Audience, c.ResourceURL = tt.audience, tt.resource })
			if got := v.MetadataURL(); got != tt.wantURL {
				t.Fatalf("MetadataURL() = %q, want %q", got, tt.wantURL)
			}
			rec := httptest.NewRecorder()
			v.MetadataHandler([]string{"todos:read", "todos:write"}).ServeHTTP(rec, httptest.NewRequest("GET", bearer.MetadataPath, nil))
			var got map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 {
				t.Fatalf("status %d body %s", rec.Code, rec.Body)
			}
			resource := tt.resource
			if resource == "" {
				resource = tt.audience
			}
			want := map[string]any{
				"resource": resource, "authorization_servers": []any{is.url},
				"scopes_supported": []any{"todos:read", "todos:write"}, "bearer_methods_supported": []any{"header"},
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("metadata = %v, want %v", got, want)
			}
		})
	}
	t.Run("no resource URL, no resource_metadata", func(t *testing.T) {
		v := is.verifier(func(c *bearer.Config) { c.Audience = "urn:api" })
		rec := httptest.NewRecorder()
		v.Middleware(echo).ServeHTTP(rec, get()())
		if auth := rec.Header().Get("WWW-Authenticate"); auth != `Bearer realm="urn:api"` {
			t.Fatalf("WWW-Authenticate = %q", auth)
		}
	})
}

func TestRequireActive(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier()
	tok := sign(t, is.es, is.claims(), nil)
	h := v.Middleware(v.RequireActive(echo))
	for _, tt := range []struct {
		name       string
		setup      func()
		wantStatus int
	}{
		{"active", func() { is.active.Store(true) }, 200},
		{"revoked", func() { is.active.Store(false) }, 401},
		{"issuer down", func() { is.srv.Close() }, 503},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, get("Bearer "+tok)())
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d (body %s), want %d", rec.Code, rec.Body, tt.wantStatus)
			}
		})
	}
	if n := is.introspected.Load(); n != 2 {
		t.Errorf("introspection calls = %d, want 2", n)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cfg     bearer.Config
		wantErr []string // substrings of the joined error; nil: valid
	}{
		{"minimal", bearer.Config{Issuer: "https://id.example", Audience: "api"}, nil},
		{"empty", bearer.Config{}, []string{"issuer is required", "audience is required"}},
		{"bad issuer", bearer.Config{Issuer: "id.example", Audience: "api"}, []string{"issuer"}},
		{"issuer with query", bearer.Config{Issuer: "https://id.example?x=1", Audience: "api"}, []string{"issuer"}},
		{"none and HS256", bearer.Config{Issuer: "https://id.example", Audience: "api", Algorithms: []string{"none", "HS256", "ES256"}}, []string{`"none"`, `"HS256"`}},
		{"leeway over 60 s", bearer.Config{Issuer: "https://id.example", Audience: "api", Leeway: 61e9}, []string{"leeway"}},
		{"cache bounds inverted", bearer.Config{Issuer: "https://id.example", Audience: "api", MinCacheTTL: 2e9, MaxCacheTTL: 1e9}, []string{"min cache TTL"}},
		{"introspection without secret", bearer.Config{Issuer: "https://id.example", Audience: "api", Introspection: &bearer.IntrospectionConfig{ClientID: "rs"}}, []string{"introspection"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Validate() = %v, want errors %q", err, tt.wantErr)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Validate() = %v, want it to mention %s", err, s)
				}
			}
		})
	}
}

// BenchmarkVerify: the full check per algorithm (cache off), and a token presented again
// (cache hit: SHA-256 and a lookup).
//
//	flock /tmp/gatehouse-heavy.lock go test ./resource/bearer -run '^$' -bench BenchmarkVerify -benchmem
func BenchmarkVerify(b *testing.B) {
	is := newIssuer(b)
	for _, cache := range []struct {
		name string
		size int
	}{{"cache=off", -1}, {"cache=hit", 0}} {
		v := is.verifier(func(c *bearer.Config) { c.CacheSize = cache.size })
		for _, k := range []signingKey{is.es, is.rs} {
			b.Run(string(k.alg)+"/"+cache.name, func(b *testing.B) {
				tok := sign(b, k, is.claims(), nil)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := v.Verify(b.Context(), tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
