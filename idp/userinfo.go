package idp

import (
	"errors"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/internal/web"
)

// handleUserinfo is the OIDC UserInfo endpoint (OIDC Core §5.3). The access token comes only
// from the Authorization header (RFC 6750 §2.1; never the query, OIDC-04); it must be live
// (revocation is checked in storage) and carry the openid scope.
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	auth := r.Header.Values("Authorization")
	if len(auth) == 0 {
		bearerError(w, http.StatusUnauthorized, "", "") // RFC 6750 §3.1: no error code without credentials
		return
	}
	if len(auth) > 1 {
		bearerError(w, http.StatusBadRequest, "invalid_request", "")
		return
	}
	scheme, token, ok := strings.Cut(auth[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || r.URL.Query().Has("access_token") {
		bearerError(w, http.StatusUnauthorized, "invalid_request", "")
		return
	}
	use, ar, err := s.oauth.IntrospectToken(ctx, token, fosite.AccessToken, NewSession())
	if err != nil || use != fosite.AccessToken { // fosite falls back to refresh tokens (OIDC-04)
		bearerError(w, http.StatusUnauthorized, "invalid_token", "")
		return
	}
	if !ar.GetGrantedScopes().Has("openid") {
		bearerError(w, http.StatusForbidden, "insufficient_scope", "openid")
		return
	}
	u, err := s.store.GetUser(ctx, ar.GetSession().GetSubject())
	if errors.Is(err, ErrNotFound) || (err == nil && u.Disabled) {
		bearerError(w, http.StatusUnauthorized, "invalid_token", "")
		return
	}
	if err != nil {
		s.log.Error("userinfo", "err", err, "request_id", web.GetRequestID(ctx))
		web.JSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	claims := userClaims(u, ar.GetGrantedScopes())
	claims["sub"] = u.ID
	web.JSON(w, http.StatusOK, claims)
}

// bearerError answers per RFC 6750 §3.
func bearerError(w http.ResponseWriter, status int, code, scope string) {
	v := `Bearer realm="gatehouse"`
	if code != "" {
		v += `, error="` + code + `"`
	}
	if scope != "" {
		v += `, scope="` + scope + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	if code == "" {
		w.WriteHeader(status)
		return
	}
	web.JSON(w, status, map[string]string{"error": code})
}
