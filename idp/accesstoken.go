package idp

import (
	"context"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
)

// accessTokenStrategy issues RFC 9068 JWT access tokens through fosite's JWT strategy, but keys
// storage by the whole token instead of its signature part, and validates a stored token by its
// expiry alone.
//
// Why: fosite looks a token up in storage before validating it (CoreValidator), and storage keeps
// the SHA-256 of the key it is given. With the whole token as the key, a row exists only for the
// exact bytes this provider issued, so a swapped header or payload finds nothing, and the
// signature check that would follow is redundant. Introspection and userinfo then cost a lookup,
// not an ECDSA verification (about 90 µs per request on P-256). Resource servers still verify
// the signature offline through JWKS.
type accessTokenStrategy struct {
	*oauth2.DefaultJWTStrategy
}

var _ oauth2.CoreStrategy = accessTokenStrategy{}

// AccessTokenSignature is the storage key of a token: the token itself (stored as a digest).
func (s accessTokenStrategy) AccessTokenSignature(_ context.Context, token string) string {
	return token
}

// GenerateAccessToken signs the token and returns it as its own storage key.
func (s accessTokenStrategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	token, _, err := s.DefaultJWTStrategy.GenerateAccessToken(ctx, r)
	return token, token, err
}

// ValidateAccessToken checks the expiry recorded with the stored token. It is only called with
// the request storage returned for this exact token.
func (s accessTokenStrategy) ValidateAccessToken(_ context.Context, r fosite.Requester, _ string) error {
	if r == nil || r.GetSession() == nil {
		return fosite.ErrRequestUnauthorized
	}
	exp := r.GetSession().GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() || !exp.After(time.Now()) {
		return fosite.ErrTokenExpired.WithHint("The access token expired.")
	}
	return nil
}
