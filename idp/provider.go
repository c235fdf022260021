package idp

import (
	"context"
	"crypto/sha512"
	"hash"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// newProvider is the only place that calls fosite's compose package. It composes exactly the
// handlers Gatehouse offers, never ComposeAllEnabled (SECURITY.md fact 1): authorization code,
// refresh token, client credentials, PKCE, OpenID Connect (explicit flow and refresh),
// introspection, revocation and PAR. No implicit, hybrid, password or jwt-bearer grant.
func newProvider(cfg Config, store Store, keys *Keys) (fosite.OAuth2Provider, *fosite.Config) {
	fc := &fosite.Config{
		AccessTokenLifespan:   cfg.AccessTokenLifespan,
		RefreshTokenLifespan:  cfg.RefreshTokenIdle,
		AuthorizeCodeLifespan: cfg.AuthorizeCodeLifespan, // ≤ 10 min (TOKEN-03)
		IDTokenLifespan:       cfg.IDTokenLifespan,
		IDTokenIssuer:         cfg.Issuer,
		AccessTokenIssuer:     cfg.Issuer,
		TokenURL:              cfg.Issuer + "/oauth2/token",

		// PKCE with S256 for every client (PKCE-01, PKCE-02, PKCE-03, PKCE-04).
		EnforcePKCE:                    true,
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,

		// Exact matching of scopes and audiences; fosite's defaults are hierarchic and prefix based.
		ScopeStrategy:            fosite.ExactScopeStrategy,
		AudienceMatchingStrategy: issuerAudienceStrategy(cfg.Issuer),

		JWTScopeClaimKey:           jwt.JWTScopeFieldString, // RFC 9068 §2.2.3: scope is a string
		SendDebugMessagesToClients: cfg.Debug,               // off outside tests (SE-09)
		ClientSecretsHasher:        SecretHasher{},          // SHA-256 + constant-time compare
		MinParameterEntropy:        fosite.MinParameterEntropy,
		TokenEntropy:               32, // 256-bit codes and refresh tokens (TOKEN-10)
		GlobalSecret:               DeriveKey(cfg.Secrets[0], "hmac"),
		HMACHasher:                 func() hash.Hash { return sha512.New512_256() },
		RefreshTokenScopes:         []string{"offline_access"},
		AllowedPromptValues:        []string{"login", "none", "consent", "select_account"},

		PushedAuthorizeRequestURIPrefix: "urn:ietf:params:oauth:request_uri:",
		PushedAuthorizeContextLifespan:  cfg.AuthorizeCodeLifespan,
		RedirectSecureChecker:           fosite.IsRedirectURISecureStrict,
	}
	for _, s := range cfg.Secrets[1:] {
		fc.RotatedGlobalSecrets = append(fc.RotatedGlobalSecrets, DeriveKey(s, "hmac"))
	}

	hmacStrategy := compose.NewOAuth2HMACStrategy(fc)
	strategy := &compose.CommonStrategy{
		CoreStrategy: accessTokenStrategy{&oauth2.DefaultJWTStrategy{
			Signer:          keys.Signer(cfg.AccessTokenAlg),
			HMACSHAStrategy: hmacStrategy,
			Config:          fc,
		}},
		OpenIDConnectTokenStrategy: &openid.DefaultStrategy{Signer: keys.Signer(RS256), Config: fc},
		Signer:                     keys.Signer(RS256),
	}
	p := compose.Compose(fc, store, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2PKCEFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.PushedAuthorizeHandlerFactory,
	)
	// fosite's NewAccessResponse asks every token handler to populate the response, and each
	// that does not handle the grant answers with an error carrying a captured stack trace (7%
	// of a client-credentials request's CPU). Ask CanHandleTokenEndpointRequest first.
	for i, h := range fc.TokenEndpointHandlers {
		fc.TokenEndpointHandlers[i] = guardedTokenHandler{h}
	}
	return p, fc
}

// issuerAudienceStrategy matches audiences exactly against the client's, and always allows the
// issuer itself: it is the audience a token gets when its client registered none (so that aud is
// never empty), and fosite checks granted audiences again at every refresh.
func issuerAudienceStrategy(issuer string) fosite.AudienceMatchingStrategy {
	return func(haystack, needle []string) error {
		rest := make([]string, 0, len(needle))
		for _, n := range needle {
			if n != issuer {
				rest = append(rest, n)
			}
		}
		return fosite.ExactAudienceMatchingStrategy(haystack, rest)
	}
}

// guardedTokenHandler skips a token handler that does not handle the request's grant.
type guardedTokenHandler struct {
	fosite.TokenEndpointHandler
}

func (g guardedTokenHandler) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !g.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	return g.TokenEndpointHandler.PopulateTokenEndpointResponse(ctx, r, resp)
}
