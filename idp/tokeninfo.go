package idp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"
)

// ErrInvalidAccessToken is returned by IntrospectAccessToken for a token that is not a live
// access token of this provider: unknown, expired, revoked, a refresh token, or one whose user or
// client is disabled or gone. Callers answer it with 401 invalid_token (RFC 6750 §3.1).
var ErrInvalidAccessToken = errors.New("idp: invalid access token")

// TokenInfo is what the provider knows about one of its live access tokens.
type TokenInfo struct {
	// Subject is the sub of the token: a user's ID, or the client's ID for a client-credentials
	// token (RFC 9068 §2.2).
	Subject string
	// ClientID is the client the token was issued to.
	ClientID string
	// Client is true for a token that acts for its client alone (client credentials), so that a
	// client whose ID equals a user's never gains that user's rights (RS-11, RB-05).
	Client    bool
	Scopes    []string
	Audience  []string
	ExpiresAt time.Time
	// Issuer is this provider's issuer URL, the audience of tokens meant for the provider's own
	// APIs (a client with no registered audience gets it; see audiences in authorize.go).
	Issuer string
}

// IntrospectAccessToken validates an access token the provider issued, for its own APIs (the
// admin API): the token must be in storage (so a revoked one is refused at once, unlike an
// offline JWT check), unexpired, an access token (fosite falls back to refresh tokens: OIDC-04),
// and its user or client must exist and not be disabled. Any such failure is
// ErrInvalidAccessToken; other errors mean the provider cannot tell now (storage).
func (s *Server) IntrospectAccessToken(ctx context.Context, token string) (TokenInfo, error) {
	if token == "" || len(token) > 16<<10 {
		return TokenInfo{}, ErrInvalidAccessToken
	}
	use, ar, err := s.oauth.IntrospectToken(ctx, token, fosite.AccessToken, NewSession())
	if err != nil {
		if rfc := fosite.ErrorToRFC6749Error(err); rfc.CodeField >= 500 {
			return TokenInfo{}, fmt.Errorf("idp: introspect access token: %w", err)
		}
		return TokenInfo{}, ErrInvalidAccessToken
	}
	if use != fosite.AccessToken || ar == nil || ar.GetSession() == nil || ar.GetClient() == nil {
		return TokenInfo{}, ErrInvalidAccessToken
	}
	info := TokenInfo{
		Subject:   ar.GetSession().GetSubject(),
		ClientID:  ar.GetClient().GetID(),
		Scopes:    append([]string(nil), ar.GetGrantedScopes()...),
		Audience:  append([]string(nil), ar.GetGrantedAudience()...),
		ExpiresAt: ar.GetSession().GetExpiresAt(fosite.AccessToken),
		Issuer:    s.cfg.Issuer,
	}
	info.Client = info.Subject == info.ClientID
	if info.Subject == "" || info.ClientID == "" {
		return TokenInfo{}, ErrInvalidAccessToken
	}
	c, err := s.store.GetClientByID(ctx, info.ClientID)
	switch {
	case errors.Is(err, ErrNotFound):
		return TokenInfo{}, ErrInvalidAccessToken
	case err != nil:
		return TokenInfo{}, fmt.Errorf("idp: introspect access token: client: %w", err)
	case c.Disabled:
		return TokenInfo{}, ErrInvalidAccessToken
	}
	if !info.Client {
		u, err := s.store.GetUser(ctx, info.Subject)
		switch {
		case errors.Is(err, ErrNotFound):
			return TokenInfo{}, ErrInvalidAccessToken
		case err != nil:
			return TokenInfo{}, fmt.Errorf("idp: introspect access token: user: %w", err)
		case u.Disabled:
			return TokenInfo{}, ErrInvalidAccessToken
		}
	}
	return info, nil
}
