package idp

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite/token/jwt"
)

// handleEndSession is OpenID Connect RP-Initiated Logout 1.0 (end_session_endpoint). With a valid
// id_token_hint for the signed-in user, the user is signed out at once and sent to a
// post_logout_redirect_uri registered by the hint's client (exact match, CONF-24, CONF-25,
// LO-03). Without a valid hint the user is asked to confirm (CONF-26, LO-01), and no redirect
// follows.
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Invalid request", "The logout request could not be read.", "invalid_request")
		return
	}
	hint := r.Form.Get("id_token_hint")
	redirect := r.Form.Get("post_logout_redirect_uri")
	var clientID, subject string
	if hint != "" {
		var ok bool
		clientID, subject, ok = s.parseIDTokenHint(r, hint)
		if !ok {
			s.renderError(w, r, http.StatusBadRequest, "Invalid logout request", "The id_token_hint is not valid.", "invalid_request")
			return
		}
		if c := r.Form.Get("client_id"); c != "" && c != clientID {
			s.renderError(w, r, http.StatusBadRequest, "Invalid logout request", "client_id does not match the id_token_hint.", "invalid_request")
			return
		}
	}
	target := ""
	if redirect != "" {
		if clientID == "" {
			s.renderError(w, r, http.StatusBadRequest, "Invalid logout request", "post_logout_redirect_uri needs a valid id_token_hint.", "invalid_request")
			return
		}
		c, err := s.store.GetClientByID(ctx, clientID)
		if err != nil || c.Disabled || !slices.Contains(c.PostLogoutRedirectURIs, redirect) {
			s.renderError(w, r, http.StatusBadRequest, "Invalid logout request", "post_logout_redirect_uri is not registered for this client.", "invalid_request")
			return
		}
		target = redirect
		if st := r.Form.Get("state"); st != "" {
			u, _ := url.Parse(redirect)
			q := u.Query()
			q.Set("state", st)
			u.RawQuery = q.Encode()
			target = u.String()
		}
	}
	_, user := s.currentSession(ctx, r)
	if subject != "" && (user == nil || user.ID == subject) {
		if err := s.endSession(w, r); err != nil {
			s.serverError(w, r, err)
			return
		}
		s.finishLogout(w, r, target)
		return
	}
	if user == nil {
		s.finishLogout(w, r, "")
		return
	}
	s.renderLogoutConfirm(w, r, user, target)
}

// parseIDTokenHint verifies an ID token this provider issued, expired or not, and returns its
// client and subject. Tokens with another key, algorithm or issuer are refused (CONF-26).
func (s *Server) parseIDTokenHint(r *http.Request, hint string) (clientID, subject string, ok bool) {
	if len(hint) > 8192 {
		return "", "", false
	}
	tok, err := s.keys.Signer(RS256).Decode(r.Context(), hint)
	if err != nil {
		var ve *jwt.ValidationError
		if !errors.As(err, &ve) || ve.Errors != jwt.ValidationErrorExpired || tok == nil {
			return "", "", false
		}
	}
	if tok == nil || tok.Claims == nil {
		return "", "", false
	}
	claims := tok.Claims
	if typ, _ := tok.Header["typ"].(string); typ == AccessTokenType {
		return "", "", false
	}
	if iss, _ := claims["iss"].(string); iss != s.cfg.Issuer {
		return "", "", false
	}
	subject, _ = claims["sub"].(string)
	switch aud := claims["aud"].(type) {
	case string:
		clientID = aud
	case []any:
		if len(aud) == 1 {
			clientID, _ = aud[0].(string)
		} else if azp, ok := claims["azp"].(string); ok {
			clientID = azp
		}
	}
	return clientID, subject, subject != "" && clientID != ""
}

func (s *Server) renderLogoutConfirm(w http.ResponseWriter, r *http.Request, u *User, target string) {
	email := ""
	if u != nil {
		email = u.Email
	}
	req := s.sign(10*time.Minute, "logout", target) + "." + base64.RawURLEncoding.EncodeToString([]byte(target))
	s.render(w, r, http.StatusOK, "logout.html", map[string]any{
		"Title": "Sign out", "UserEmail": email, "CSRF": s.csrfToken(w, r), "LogoutRequest": req,
	})
}

func (s *Server) handleLogoutPage(w http.ResponseWriter, r *http.Request) {
	_, u := s.currentSession(r.Context(), r)
	if u == nil {
		s.finishLogout(w, r, "")
		return
	}
	s.renderLogoutConfirm(w, r, u, "")
}

// handleLogout signs the user out after confirmation (CSRF-protected, LO-01).
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || !s.checkCSRF(r) {
		s.renderError(w, r, http.StatusForbidden, "Form expired", "The sign-out form was not sent from this site, or it expired.", "csrf")
		return
	}
	target := ""
	parts := strings.SplitN(r.PostForm.Get("logout_request"), ".", 3)
	if len(parts) == 3 {
		if t, err := base64.RawURLEncoding.DecodeString(parts[2]); err == nil && s.verify(parts[0]+"."+parts[1], "logout", string(t)) {
			target = string(t)
		}
	}
	if err := s.endSession(w, r); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.finishLogout(w, r, target)
}

func (s *Server) finishLogout(w http.ResponseWriter, r *http.Request, target string) {
	if target != "" {
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "message.html", map[string]any{"Title": "Signed out", "Message": "You are signed out."})
}
