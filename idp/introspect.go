package idp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"
)

// handleIntrospect is RFC 7662 introspection. Only confidential clients that authenticate with
// their secret (HTTP Basic) may introspect; fosite would also accept any client or any valid
// access token as a bearer, so those are refused here first (IR-01). A client learns about a
// token only if the token was issued to it or is meant for one of its audiences (IR-03, RFC
// 7662 §4); any other token is {"active":false}, as an unknown one is.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	// fosite also accepts an access_token parameter in place of client credentials: refuse it.
	if r.URL.Query().Has("access_token") || r.PostFormValue("access_token") != "" {
		s.oauth.WriteIntrospectionError(ctx, w, fosite.ErrRequestUnauthorized.WithHint("Introspection requires client authentication with HTTP Basic."))
		return
	}
	if _, _, ok := r.BasicAuth(); !ok || !strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") {
		w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse"`)
		s.oauth.WriteIntrospectionError(ctx, w, fosite.ErrRequestUnauthorized.WithHint("Introspection requires client authentication with HTTP Basic."))
		return
	}
	resp, err := s.oauth.NewIntrospectionRequest(ctx, r, NewSession())
	if err != nil {
		err = normalizeClientAuthError(r, err)
		rfc := fosite.ErrorToRFC6749Error(err)
		if rfc.CodeField >= 500 {
			s.log.Error("introspection", "err", err, "debug", rfc.DebugField)
		}
		if rfc.CodeField == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "5")
		}
		s.oauth.WriteIntrospectionError(ctx, w, err)
		return
	}
	s.writeIntrospection(w, resp, resp.IsActive() && s.mayIntrospect(ctx, r, resp.GetAccessRequester()))
}

// mayIntrospect reports whether the caller, whom fosite has just authenticated with HTTP Basic,
// may see the token ar: one issued to the caller, or one whose audience includes an audience
// the caller is registered for (a resource server's introspection client is registered with
// its own API's identifier as audience). A token with no audience is only its client's.
func (s *Server) mayIntrospect(ctx context.Context, r *http.Request, ar fosite.Requester) bool {
	if ar == nil || ar.GetClient() == nil {
		return false
	}
	user, _, _ := r.BasicAuth()
	caller, err := url.QueryUnescape(user) // RFC 6749 §2.3.1, as fosite decoded it
	if err != nil {
		return false
	}
	if ar.GetClient().GetID() == caller {
		return true
	}
	c, err := s.store.GetClient(ctx, caller)
	if err != nil {
		return false
	}
	for _, a := range ar.GetGrantedAudience() {
		if slices.Contains(c.GetAudience(), a) {
			return true
		}
	}
	return false
}

// writeIntrospection writes an RFC 7662 §2.2 response; {"active":false} unless active. fosite's
// writer reports the access token's expiry for refresh tokens too; here exp is the expiry of the
// token introspected.
func (s *Server) writeIntrospection(w http.ResponseWriter, resp fosite.IntrospectionResponder, active bool) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	ar := resp.GetAccessRequester()
	if !active || ar == nil || ar.GetSession() == nil {
		_, _ = w.Write([]byte(`{"active":false}`))
		return
	}
	use := resp.GetTokenUse()
	out := map[string]any{
		"active":     true,
		"client_id":  ar.GetClient().GetID(),
		"scope":      strings.Join(ar.GetGrantedScopes(), " "),
		"iat":        ar.GetRequestedAt().Unix(),
		"iss":        s.cfg.Issuer,
		"token_type": "Bearer",
	}
	if use == fosite.RefreshToken {
		delete(out, "token_type") // RFC 7662 token_type is an access-token type
	}
	if exp := ar.GetSession().GetExpiresAt(use); !exp.IsZero() {
		out["exp"] = exp.Unix()
	}
	if sub := ar.GetSession().GetSubject(); sub != "" {
		out["sub"] = sub
	}
	if aud := ar.GetGrantedAudience(); len(aud) > 0 {
		out["aud"] = []string(aud)
	}
	_ = json.NewEncoder(w).Encode(out)
}

// handleRevoke is RFC 7009 revocation. fosite answers 200 for tokens of other clients and
// revokes nothing (IR-05). When storage fails it returns temporarily_unavailable, which its
// writer (v0.49) would also answer with 200: that is answered 503 here (VU-02).
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.RawQuery != "" {
		s.oauth.WriteRevocationResponse(ctx, w, fosite.ErrInvalidRequest.WithHint("Parameters belong in the body."))
		return
	}
	err := normalizeClientAuthError(r, s.oauth.NewRevocationRequest(ctx, r))
	if err != nil {
		if rfc := fosite.ErrorToRFC6749Error(err); rfc.CodeField >= 500 {
			s.log.Error("revocation", "err", err, "debug", rfc.DebugField)
			writeRevocationUnavailable(w)
			return
		}
	}
	s.oauth.WriteRevocationResponse(ctx, w, err)
}

// writeRevocationUnavailable answers a revocation that may not have happened: 503
// temporarily_unavailable, so the client retries instead of believing the token dead (RFC 7009
// §2.2.1; GHSA-7mqr-2v3q-v2wm).
func writeRevocationUnavailable(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": fosite.ErrTemporarilyUnavailable.ErrorField, "error_description": fosite.ErrTemporarilyUnavailable.DescriptionField})
}

// handlePAR is RFC 9126 pushed authorization.
func (s *Server) handlePAR(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err == nil && r.Form.Has("request") {
		// Request objects are not supported, pushed or not: fosite would verify one with the
		// client's keys and take its claims, or ignore it without the openid scope (AUTHZ-12).
		s.oauth.WritePushedAuthorizeError(ctx, w, fosite.NewAuthorizeRequest(), fosite.ErrRequestNotSupported)
		return
	}
	ar, err := s.oauth.NewPushedAuthorizeRequest(ctx, r)
	if err == nil && !redirectExact(ar) {
		err = fosite.ErrInvalidRequest.WithHint("The 'redirect_uri' parameter does not match any of the OAuth 2.0 Client's pre-registered redirect urls.")
	}
	if err = normalizeClientAuthError(r, err); err != nil {
		s.oauth.WritePushedAuthorizeError(ctx, w, ar, err)
		return
	}
	resp, err := s.oauth.NewPushedAuthorizeResponse(ctx, ar, NewSession())
	if err != nil {
		s.oauth.WritePushedAuthorizeError(ctx, w, ar, err)
		return
	}
	s.oauth.WritePushedAuthorizeResponse(ctx, w, ar, resp)
}
