package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// MetadataPath is where RFC 9728 §3 puts protected-resource metadata.
const MetadataPath = "/.well-known/oauth-protected-resource"

// Middleware authenticates requests with the access token in the Authorization header (RFC 6750
// §2.1; the query and the body are never read, RS-10) and puts its Principal in the request
// context. It answers, per RFC 6750 §3:
//   - no Authorization header, or another scheme: 401 with a WWW-Authenticate challenge and no
//     error code;
//   - two Authorization headers, an empty token, or an access_token query parameter: 400
//     invalid_request;
//   - a token that fails verification: 401 invalid_token.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values := r.Header.Values("Authorization")
		if len(values) > 1 {
			v.fail(w, http.StatusBadRequest, "invalid_request", "more than one Authorization header", "")
			return
		}
		if r.URL.Query().Has("access_token") {
			// RFC 6750 §2.3 is not supported: a token in a URL leaks into logs and Referer.
			v.fail(w, http.StatusBadRequest, "invalid_request", "send the access token in the Authorization header", "")
			return
		}
		if len(values) == 0 {
			v.fail(w, http.StatusUnauthorized, "", "", "")
			return
		}
		scheme, token, _ := strings.Cut(values[0], " ")
		if !strings.EqualFold(scheme, "Bearer") { // RFC 9110 §11.1: schemes are case-insensitive
			v.fail(w, http.StatusUnauthorized, "", "", "")
			return
		}
		token = strings.TrimSpace(token)
		if token == "" || strings.ContainsAny(token, " \t") {
			v.fail(w, http.StatusBadRequest, "invalid_request", "malformed Authorization header", "")
			return
		}
		p, err := v.Verify(r.Context(), token)
		if err != nil {
			v.log.DebugContext(r.Context(), "bearer: token refused", "err", err)
			v.fail(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid", "")
			return
		}
		ctx := context.WithValue(NewContext(r.Context(), p), stateKey{}, &state{v: v, token: token})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// RequireScope returns middleware, placed after Middleware, that answers 403
// insufficient_scope naming scope unless the token was granted it (RFC 6750 §3.1).
func (v *Verifier) RequireScope(scope string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := FromContext(r.Context())
			if !ok { // Middleware is missing: fail closed
				v.fail(w, http.StatusUnauthorized, "", "", "")
				return
			}
			if !p.HasScope(scope) {
				v.fail(w, http.StatusForbidden, "insufficient_scope", "the access token lacks the scope "+scope, scope)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// MetadataURL returns the RFC 9728 metadata URL of Config.ResourceURL: the well-known path is
// inserted between the host and the resource's path (RFC 9728 §3.1). It is empty when there is
// no resource URL.
func (v *Verifier) MetadataURL() string {
	if v.cfg.ResourceURL == "" {
		return ""
	}
	u, _ := url.Parse(v.cfg.ResourceURL) // validated
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	u.RawPath, u.Path = "", MetadataPath
	return u.String() + path
}

// MetadataHandler serves RFC 9728 protected-resource metadata for Config.ResourceURL. Mount it at
// the path of MetadataURL (MetadataPath when the resource URL has no path). scopes lists the
// scopes the API understands.
func (v *Verifier) MetadataHandler(scopes []string) http.Handler {
	body, _ := json.Marshal(struct {
		Resource               string   `json:"resource"`
		AuthorizationServers   []string `json:"authorization_servers"`
		ScopesSupported        []string `json:"scopes_supported,omitempty"`
		BearerMethodsSupported []string `json:"bearer_methods_supported"`
	}{v.cfg.ResourceURL, []string{v.cfg.Issuer}, scopes, []string{"header"}})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(body)
	})
}

// Challenge returns the RFC 6750 §3 WWW-Authenticate value for an answer to a request that
// Middleware authenticated: realm and resource_metadata (RFC 9728 §5.1) of that Middleware's
// verifier, then error, error_description and scope when not empty. Handlers that refuse a
// token themselves (say 403 insufficient_scope after a finer check) use it so that their
// challenge matches the middleware's. Without Middleware in ctx it is a bare "Bearer" challenge
// with the same attributes.
func Challenge(ctx context.Context, code, description, scope string) string {
	st, _ := ctx.Value(stateKey{}).(*state)
	var v *Verifier
	if st != nil {
		v = st.v
	}
	return v.challenge(code, description, scope)
}

// challenge builds a WWW-Authenticate value; v may be nil.
func (v *Verifier) challenge(code, description, scope string) string {
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	attr := func(name, value string) {
		b.WriteString(sep + name + "=" + quote(value))
		sep = ", "
	}
	if v != nil {
		attr("realm", v.cfg.Audience)
		if u := v.MetadataURL(); u != "" {
			attr("resource_metadata", u)
		}
	}
	if code != "" {
		attr("error", code)
		if description != "" {
			attr("error_description", description)
		}
	}
	if scope != "" {
		attr("scope", scope)
	}
	return b.String()
}

// fail writes an RFC 6750 §3 challenge and a small JSON body. code "" means no error attribute
// (the request carried no credentials, §3.1).
func (v *Verifier) fail(w http.ResponseWriter, status int, code, description, scope string) {
	w.Header().Set("WWW-Authenticate", v.challenge(code, description, scope))
	w.Header().Set("Cache-Control", "no-store")
	body := map[string]string{}
	switch {
	case code != "":
		body["error"] = code
		body["error_description"] = description
	default:
		body["error"] = "unauthorized"
	}
	writeJSON(w, status, body)
}

// quote returns s as an RFC 9110 quoted-string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// errInactive is returned by introspect for a token the issuer says is not active.
var errInactive = errors.New("token is not active")
