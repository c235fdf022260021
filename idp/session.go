package idp

import (
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// Session is the fosite session of every grant. It carries the ID-token claims (through
// openid.DefaultSession) and builds the RFC 9068 access-token claims and header. Stores persist it
// as JSON.
type Session struct {
	*openid.DefaultSession `json:"oidc"`

	// ClientID is copied into the access token's client_id claim (RFC 9068 §2.2).
	ClientID string `json:"client_id"`
	// GrantExpiresAt is the absolute end of the grant: no refresh token of this grant lives past
	// it, however often it rotates (RT-04). Zero means no cap beyond the refresh lifespan.
	GrantExpiresAt time.Time `json:"grant_expires_at,omitzero"`
	// LoginSession is the SID of the sign-in that authorized a browser app's grant
	// (Client.BrowserBased): its refresh tokens work only while that sign-in lives (LO-02,
	// RT-08). Empty for other clients, whose grants outlive the browser session they began in.
	LoginSession string `json:"login_session,omitempty"`
}

var (
	_ openid.Session             = (*Session)(nil)
	_ oauth2.JWTSessionContainer = (*Session)(nil)
)

// NewSession returns an empty session, the shape stores unmarshal into.
func NewSession() *Session {
	return &Session{DefaultSession: &openid.DefaultSession{
		Claims:  &jwt.IDTokenClaims{},
		Headers: &jwt.Headers{},
	}}
}

// AccessTokenType is the JWT typ header of access tokens (RFC 9068 §2.1).
const AccessTokenType = "at+jwt"

// GetJWTClaims returns fresh access-token claims: sub, client_id, a 128-bit random jti and,
// filled in by fosite, iss, aud, scope, exp and iat. fosite's own jti is a UUIDv4, 122 random
// bits (TOKEN-10).
func (s *Session) GetJWTClaims() jwt.JWTClaimsContainer {
	return &jwt.JWTClaims{
		Subject: s.GetSubject(),
		JTI:     randomToken(16),
		Extra:   map[string]any{"client_id": s.ClientID},
	}
}

// GetJWTHeader returns the access-token header. The signer adds alg and kid.
func (s *Session) GetJWTHeader() *jwt.Headers {
	return &jwt.Headers{Extra: map[string]any{"typ": AccessTokenType}}
}

// Clone returns a deep copy.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := *s
	if s.DefaultSession != nil {
		c.DefaultSession = s.DefaultSession.Clone().(*openid.DefaultSession)
	}
	return &c
}
