package idp

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/ory/fosite"
)

// handleToken is the token endpoint (RFC 6749 §3.2): authorization code (with PKCE), refresh
// token and client credentials. Errors are RFC 6749 §5.2 JSON from fosite.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess := NewSession()
	// Nothing is read from the query string (TOKEN-09, TOKEN-06: secrets in the URI are refused).
	if r.URL.RawQuery != "" {
		s.oauth.WriteAccessError(ctx, w, fosite.NewAccessRequest(sess), fosite.ErrInvalidRequest.WithHint("Token requests carry their parameters in the body, not the query string."))
		return
	}
	if err := r.ParseForm(); err != nil {
		s.oauth.WriteAccessError(ctx, w, fosite.NewAccessRequest(sess), fosite.ErrInvalidRequest.WithHint("The request body could not be read."))
		return
	}
	if p := duplicateParam(r.PostForm); p != "" {
		s.oauth.WriteAccessError(ctx, w, fosite.NewAccessRequest(sess), fosite.ErrInvalidRequest.WithHintf("The parameter %s appears more than once.", p))
		return
	}
	ar, err := s.oauth.NewAccessRequest(ctx, r, sess)
	if err != nil {
		s.writeAccessError(w, r, ar, err)
		return
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		// RFC 6749 §4.4: the client acts on its own behalf; sub is the client (RFC 9068 §2.2).
		client := ar.GetClient()
		for _, sc := range ar.GetRequestedScopes() {
			ar.GrantScope(sc)
		}
		for _, a := range s.audiences(ar) {
			ar.GrantAudience(a)
		}
		sess.Subject = client.GetID()
		sess.ClientID = client.GetID()
		// No ID token in this grant: store no empty ID-token claims with every token.
		sess.DefaultSession.Claims, sess.DefaultSession.Headers = nil, nil
	}
	if ar.GetGrantTypes().ExactOne("refresh_token") || ar.GetGrantTypes().ExactOne("authorization_code") {
		// The user behind a grant must still exist and be enabled: disabling revokes the tokens,
		// but a refresh token must not outlive its user however the account was disabled (SE-06).
		// fosite has loaded the grant's stored session into the request.
		gs, _ := ar.GetSession().(*Session)
		if err := s.checkGrant(ctx, gs); err != nil {
			if errors.Is(err, fosite.ErrInvalidGrant) {
				s.revokeGrant(ctx, ar.GetID())
			}
			if errors.Is(err, fosite.ErrTemporarilyUnavailable) && ar.GetGrantTypes().ExactOne("authorization_code") {
				// fosite has already spent the code's PKCE record: a retry cannot succeed, so
				// promise none (server_error, no Retry-After).
				err = fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
			}
			s.writeAccessError(w, r, ar, err)
			return
		}
	}
	resp, err := s.oauth.NewAccessResponse(ctx, ar)
	if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		// A concurrent redemption of the same code won (fosite reports this as a server error):
		// it is code reuse, so revoke what the code issued (TOKEN-04) and answer invalid_grant.
		s.revokeGrant(ctx, ar.GetID())
		err = fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.")
	}
	if err != nil {
		s.writeAccessError(w, r, ar, err)
		return
	}
	s.oauth.WriteAccessResponse(ctx, w, ar, resp)
}

// checkGrant answers invalid_grant when the user a grant was issued to is gone or disabled, or
// when the grant is a browser app's and the sign-in that authorized it has ended (the user
// signed out, or it timed out): its refresh tokens end with the sign-in they came from (LO-02,
// RT-08). A refresh does not count as activity on the sign-in: an app refreshing in the
// background must not keep the browser signed in for every other client (SE-04). Storage
// failures are temporarily_unavailable (503).
func (s *Server) checkGrant(ctx context.Context, sess *Session) error {
	gone := fosite.ErrInvalidGrant.WithHint("The grant is no longer valid.")
	if sess == nil || sess.DefaultSession == nil {
		return gone
	}
	u, err := s.store.GetUser(ctx, sess.GetSubject())
	switch {
	case errors.Is(err, ErrNotFound) || (err == nil && u.Disabled):
		return gone
	case err != nil:
		return fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	}
	if sess.LoginSession == "" {
		return nil
	}
	ls, err := s.store.GetLoginSessionBySID(ctx, sess.LoginSession)
	switch {
	case errors.Is(err, ErrNotFound):
		return gone.WithHint("The sign-in this grant came from has ended.")
	case err != nil:
		return fosite.ErrTemporarilyUnavailable.WithWrap(err).WithDebug(err.Error())
	}
	now := time.Now()
	if ls.UserID != u.ID || !s.live(ls, now) {
		return gone.WithHint("The sign-in this grant came from has ended.")
	}
	return nil
}

// revokeGrant revokes every token of a grant (a fosite request ID).
func (s *Server) revokeGrant(ctx context.Context, requestID string) {
	if requestID == "" {
		return
	}
	if err := s.store.RevokeRefreshToken(ctx, requestID); err != nil && !errors.Is(err, fosite.ErrNotFound) {
		s.log.Error("revoke the refresh tokens of a grant", "err", err)
	}
	if err := s.store.RevokeAccessToken(ctx, requestID); err != nil && !errors.Is(err, fosite.ErrNotFound) {
		s.log.Error("revoke the access tokens of a grant", "err", err)
	}
}

// normalizeClientAuthError maps fosite's client-assertion failures to invalid_client (RFC 7523
// §3, TOKEN-11): a replayed jti comes back as the non-standard "jti_known" (400), and an expired
// or otherwise invalid assertion as a bare error that fosite would answer with a 500.
// A client that could not be loaded at all is temporarily_unavailable (storageUnavailable).
func normalizeClientAuthError(r *http.Request, err error) error {
	if errors.Is(err, ErrUnavailable) {
		return storageUnavailable(err)
	}
	if err == nil || r.PostForm.Get("client_assertion") == "" {
		return err
	}
	var rfc *fosite.RFC6749Error
	if !errors.As(err, &rfc) {
		return fosite.ErrInvalidClient.WithHint("The client assertion is not valid.").WithWrap(err)
	}
	if errors.Is(err, fosite.ErrJTIKnown) {
		return fosite.ErrInvalidClient.WithHint("The client assertion was already used.").WithWrap(err)
	}
	return err
}

// storageUnavailable is temporarily_unavailable (503) for an error marked ErrUnavailable: fosite
// reads every GetClient error as invalid_client, which would tell a client with good
// credentials that they are wrong, and a revoking client that its token is gone (VU-02).
func storageUnavailable(err error) error {
	return fosite.ErrTemporarilyUnavailable.WithHint("The service cannot check the client now; retry shortly.").WithWrap(err).WithDebug(err.Error())
}

func (s *Server) writeAccessError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	err = normalizeClientAuthError(r, err)
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.CodeField >= 500 {
		s.log.Error("token endpoint", "err", err, "debug", rfc.DebugField)
	}
	if rfc.CodeField == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	// RFC 6749 §5.2: a client that authenticated with the Authorization header gets a challenge.
	if rfc.ErrorField == fosite.ErrInvalidClient.ErrorField && r.Header.Get("Authorization") != "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse"`)
	}
	s.oauth.WriteAccessError(r.Context(), w, ar, err)
}
