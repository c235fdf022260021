package idp

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// discoveryDocument builds the OpenID Provider metadata (OIDC Discovery §3) and RFC 8414
// metadata once. It advertises only what works (OIDC-06): the code flow, S256 PKCE, no request
// objects, no registration, no implicit or password grant.
func (s *Server) discoveryDocument() ([]byte, error) {
	iss := s.cfg.Issuer
	return json.Marshal(map[string]any{
		"issuer":                                           iss,
		"authorization_endpoint":                           iss + "/oauth2/authorize",
		"token_endpoint":                                   iss + "/oauth2/token",
		"userinfo_endpoint":                                iss + "/userinfo",
		"jwks_uri":                                         iss + "/.well-known/jwks.json",
		"revocation_endpoint":                              iss + "/oauth2/revoke",
		"introspection_endpoint":                           iss + "/oauth2/introspect",
		"pushed_authorization_request_endpoint":            iss + "/oauth2/par",
		"end_session_endpoint":                             iss + "/oauth2/logout",
		"scopes_supported":                                 []string{"openid", "profile", "email", "offline_access"},
		"response_types_supported":                         []string{"code"},
		"response_modes_supported":                         []string{"query"},
		"grant_types_supported":                            []string{"authorization_code", "refresh_token", "client_credentials"},
		"subject_types_supported":                          []string{"public"},
		"id_token_signing_alg_values_supported":            []string{RS256},
		"token_endpoint_auth_methods_supported":            []string{AuthMethodBasic, AuthMethodPost, AuthMethodPrivateKeyJWT, AuthMethodNone},
		"token_endpoint_auth_signing_alg_values_supported": []string{RS256, ES256},
		"revocation_endpoint_auth_methods_supported":       []string{AuthMethodBasic, AuthMethodPost, AuthMethodNone},
		"introspection_endpoint_auth_methods_supported":    []string{AuthMethodBasic},
		"code_challenge_methods_supported":                 []string{"S256"},
		"claims_supported":                                 []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "at_hash", "email", "email_verified", "name", "updated_at"},
		"prompt_values_supported":                          []string{"none", "login", "consent", "select_account"},
		"request_parameter_supported":                      false,
		"request_uri_parameter_supported":                  false,
		"require_pushed_authorization_requests":            false,
		"authorization_response_iss_parameter_supported":   true,
		"claims_parameter_supported":                       false,
	})
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(s.discover)
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	// Short enough that a rotation's next key is seen long before it signs.
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(s.keys.JWKS())
}

// corsAny allows any origin to read public metadata (HD-05).
func corsAny(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		next.ServeHTTP(w, r)
	})
}

// originCache remembers the CORS origins clients registered, reread at most every 10 seconds.
type originCache struct {
	origins []string
	at      time.Time
}

// allowedOrigin reports whether some client registered origin for browser use.
func (s *Server) allowedOrigin(r *http.Request, origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	c := s.origins.Load()
	if c == nil || time.Since(c.at) > 10*time.Second {
		clients, err := s.store.ListClients(r.Context())
		if err != nil {
			s.log.Error("list clients for CORS", "err", err)
			return false
		}
		c = &originCache{at: time.Now()}
		for _, cl := range clients {
			if !cl.Disabled {
				c.origins = append(c.origins, cl.AllowedCORSOrigins...)
			}
		}
		s.origins.Store(c)
	}
	return slices.Contains(c.origins, strings.TrimSuffix(origin, "/"))
}

// corsClients allows the exact origins that clients registered to call the token, revocation and
// userinfo endpoints from a browser, without credentials (HD-05).
func (s *Server) corsClients(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		if o := r.Header.Get("Origin"); o != "" && s.allowedOrigin(r, o) {
			w.Header().Set("Access-Control-Allow-Origin", o)
			w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate")
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handlePreflight(w http.ResponseWriter, r *http.Request) {
	if w.Header().Get("Access-Control-Allow-Origin") != "" {
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
		w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		w.Header().Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}
