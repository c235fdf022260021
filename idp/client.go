package idp

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
)

// Token endpoint authentication methods a client may be registered with.
const (
	AuthMethodBasic         = "client_secret_basic"
	AuthMethodPost          = "client_secret_post"
	AuthMethodPrivateKeyJWT = "private_key_jwt"
	AuthMethodNone          = "none"
)

// Grant types a client may be registered for. Implicit, password and jwt-bearer are not offered.
var supportedGrantTypes = []string{"authorization_code", "refresh_token", "client_credentials"}

// Client is an OAuth 2.0 client. It implements fosite.Client, fosite.OpenIDConnectClient,
// fosite.ClientWithCustomTokenLifespans and fosite.ResponseModeClient.
type Client struct {
	ID                      string
	Name                    string
	SecretHash              []byte // SHA-256 of the secret; nil for public clients
	Public                  bool
	FirstParty              bool // no consent screen
	Disabled                bool
	TokenEndpointAuthMethod string
	TokenEndpointAuthAlg    string
	JWKS                    *jose.JSONWebKeySet // for private_key_jwt
	RedirectURIs            []string
	PostLogoutRedirectURIs  []string
	GrantTypes              []string
	ResponseTypes           []string
	Scopes                  []string
	Audiences               []string
	AllowedCORSOrigins      []string
	AccessTokenLifespan     time.Duration // 0: the server default
	RefreshTokenLifespan    time.Duration // absolute lifetime of a grant's refresh tokens; 0: default
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

var (
	_ fosite.Client                         = (*Client)(nil)
	_ fosite.OpenIDConnectClient            = (*Client)(nil)
	_ fosite.ClientWithCustomTokenLifespans = (*Client)(nil)
	_ fosite.ResponseModeClient             = (*Client)(nil)
)

func (c *Client) GetID() string                      { return c.ID }
func (c *Client) GetHashedSecret() []byte            { return c.SecretHash }
func (c *Client) GetRedirectURIs() []string          { return c.RedirectURIs }
func (c *Client) GetGrantTypes() fosite.Arguments    { return c.GrantTypes }
func (c *Client) GetResponseTypes() fosite.Arguments { return c.ResponseTypes }
func (c *Client) GetScopes() fosite.Arguments        { return c.Scopes }
func (c *Client) IsPublic() bool                     { return c.Public }
func (c *Client) GetAudience() fosite.Arguments      { return c.Audiences }

// GetRequestURIs returns no URIs: request_uri is only accepted from PAR (AUTHZ-12).
func (c *Client) GetRequestURIs() []string                 { return nil }
func (c *Client) GetJSONWebKeys() *jose.JSONWebKeySet      { return c.JWKS }
func (c *Client) GetJSONWebKeysURI() string                { return "" } // never fetched: no SSRF
func (c *Client) GetRequestObjectSigningAlgorithm() string { return "RS256" }
func (c *Client) GetTokenEndpointAuthMethod() string       { return c.TokenEndpointAuthMethod }
func (c *Client) GetTokenEndpointAuthSigningAlgorithm() string {
	if c.TokenEndpointAuthAlg == "" {
		return "RS256"
	}
	return c.TokenEndpointAuthAlg
}

// GetResponseModes allows the query response mode only (AUTHZ-05): fosite's form_post page
// needs an inline script that the pages' CSP forbids, and would carry no RFC 9207 iss.
func (c *Client) GetResponseModes() []fosite.ResponseModeType {
	return []fosite.ResponseModeType{fosite.ResponseModeDefault, fosite.ResponseModeQuery}
}

// GetEffectiveLifespan applies the client's access-token lifespan; refresh tokens get the
// fallback here and are capped at the grant's absolute end elsewhere (Session.GrantExpiresAt).
func (c *Client) GetEffectiveLifespan(_ fosite.GrantType, tt fosite.TokenType, fallback time.Duration) time.Duration {
	if tt == fosite.AccessToken && c.AccessTokenLifespan > 0 {
		return c.AccessTokenLifespan
	}
	return fallback
}

// HashClientSecret returns the SHA-256 digest stored for a client secret. A server-generated
// 256-bit secret needs no slow hash (DESIGN.md).
func HashClientSecret(secret []byte) []byte {
	sum := sha256.Sum256(secret)
	return sum[:]
}

// GenerateClientSecret returns a new 256-bit secret, base64url without padding.
func GenerateClientSecret() string { return randomToken(32) }

// SecretHasher is fosite's ClientSecretsHasher: SHA-256 and a constant-time comparison.
type SecretHasher struct{}

// Compare reports an error unless SHA-256(data) equals hash, in constant time.
func (SecretHasher) Compare(_ context.Context, hash, data []byte) error {
	if subtle.ConstantTimeCompare(hash, HashClientSecret(data)) != 1 || len(hash) == 0 {
		return errors.New("client secret mismatch")
	}
	return nil
}

// Hash returns SHA-256(data).
func (SecretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	return HashClientSecret(data), nil
}

// Validate checks a client before it is stored: redirect URIs (AUTHZ-13), grant types,
// authentication method and the public/confidential split. It returns every problem at once.
func (c *Client) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Name) == "" {
		errs = append(errs, errors.New("name is required"))
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(supportedGrantTypes, g) {
			errs = append(errs, fmt.Errorf("grant type %q is not supported (want one of %s)", g, strings.Join(supportedGrantTypes, ", ")))
		}
	}
	if len(c.GrantTypes) == 0 {
		errs = append(errs, errors.New("at least one grant type is required"))
	}
	switch c.TokenEndpointAuthMethod {
	case AuthMethodNone:
		if !c.Public {
			errs = append(errs, errors.New("token endpoint auth method none is for public clients"))
		}
	case AuthMethodBasic, AuthMethodPost:
		if c.Public {
			errs = append(errs, fmt.Errorf("a public client cannot use %s", c.TokenEndpointAuthMethod))
		}
	case AuthMethodPrivateKeyJWT:
		if c.Public {
			errs = append(errs, errors.New("a public client cannot use private_key_jwt"))
		}
		if c.JWKS == nil || len(c.JWKS.Keys) == 0 {
			errs = append(errs, errors.New("private_key_jwt needs a JWK Set"))
		}
	default:
		errs = append(errs, fmt.Errorf("token endpoint auth method %q is not supported", c.TokenEndpointAuthMethod))
	}
	if c.AccessTokenLifespan < 0 || c.AccessTokenLifespan > MaxAccessTokenLifespan {
		errs = append(errs, fmt.Errorf("access-token lifespan %s: between 0 and %s", c.AccessTokenLifespan, MaxAccessTokenLifespan))
	}
	if c.RefreshTokenLifespan < 0 {
		errs = append(errs, errors.New("grant lifespan: must not be negative"))
	}
	if c.Public && slices.Contains(c.GrantTypes, "client_credentials") {
		errs = append(errs, errors.New("a public client cannot use the client_credentials grant"))
	}
	if slices.Contains(c.GrantTypes, "authorization_code") && len(c.RedirectURIs) == 0 {
		errs = append(errs, errors.New("the authorization_code grant needs at least one redirect URI"))
	}
	for _, u := range c.RedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			errs = append(errs, fmt.Errorf("redirect URI %q: %w", u, err))
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			errs = append(errs, fmt.Errorf("post-logout redirect URI %q: %w", u, err))
		}
	}
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") || !isPrintableASCII(s) {
			errs = append(errs, fmt.Errorf("scope %q is not a valid scope token (RFC 6749 §3.3)", s))
		}
	}
	for _, o := range c.AllowedCORSOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("CORS origin %q must be an https origin (scheme://host[:port])", o))
		}
	}
	return errors.Join(errs...)
}

// ValidateRedirectURI accepts an absolute https URI without fragment or wildcard, or an http URI
// on a loopback host (RFC 8252 §7.3). RFC 6749 §3.1.2; RFC 9700 §2.6, §4.1.3.
func ValidateRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a valid URI")
	}
	switch {
	case !u.IsAbs() || u.Host == "":
		return errors.New("must be an absolute URI with a host")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not contain a fragment")
	case strings.Contains(raw, "*"):
		return errors.New("wildcards are not allowed")
	case u.User != nil:
		return errors.New("must not contain user information")
	case hasResponseParam(u.Query()):
		return fmt.Errorf("must not carry the authorization response's own parameters (%s)", strings.Join(responseParams, ", "))
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return errors.New("http is only allowed on loopback hosts (127.0.0.1, [::1], localhost)")
	default:
		return fmt.Errorf("scheme %q is not allowed (https, or http on loopback)", u.Scheme)
	}
}

// responseParams are the parameters the authorization endpoint adds to a redirect URI (RFC 6749
// §4.1.2, §4.1.2.1; RFC 9207): a registered URI that carried one would send the client two values,
// or hide the iss that defends against mix-up (AUTHZ-10).
var responseParams = []string{"code", "state", "iss", "error", "error_description", "error_uri"}

func hasResponseParam(q url.Values) bool {
	for _, p := range responseParams {
		if q.Has(p) {
			return true
		}
	}
	return false
}

func isLoopbackHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// ValidID reports whether v can be the identifier of a client or a user: 1 to 1,024 bytes of
// UTF-8 without control characters. Anything else names nobody, and stores answer not found
// without asking the database (PostgreSQL refuses NUL and invalid UTF-8 in text with an error
// that would otherwise read as a storage failure).
func ValidID(v string) bool {
	return v != "" && len(v) <= 1024 && utf8.ValidString(v) && strings.IndexFunc(v, unicode.IsControl) < 0
}

// BrowserBased reports whether c is an app running in the browser: a public client that calls
// the token endpoint from web origins (AllowedCORSOrigins). Its grants end with the sign-in
// that made them (LO-02, RT-08); a native app (public, no web origins) keeps its grant for the
// refresh lifetimes, as a confidential client does.
func (c *Client) BrowserBased() bool { return c.Public && len(c.AllowedCORSOrigins) > 0 }
