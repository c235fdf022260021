// Package idp is Gatehouse's OAuth 2.0 and OpenID Connect provider, built on ory/fosite.
//
// It serves the authorization endpoint (code flow with PKCE S256 only), the token endpoint
// (authorization code, refresh token with rotation, client credentials), introspection for
// confidential clients, revocation, pushed authorization requests, userinfo, discovery, JWKS and
// RP-initiated logout, plus the hosted login, consent and logout pages.
//
// provider.go is the only file that composes fosite; it enables exactly those handlers and
// overrides fosite's weaker defaults (SECURITY.md). Store is the storage contract; idp/sqlstore
// implements it and idp/storetest checks every implementation.
//
// How an authorization flows:
//
//  1. GET /oauth2/authorize: fosite validates the client, the exact redirect URI, the response
//     type, scopes, audience, state and the PKCE challenge. Errors before the redirect URI is
//     known to be valid show an error page; later ones redirect to the client with iss.
//  2. Without a live login session (or with prompt=login, select_account, or an exceeded
//     max_age) the browser goes to /login?return_to=<the same request>; prompt=none answers
//     login_required instead. return_to may only be a relative URL to the authorization
//     endpoint.
//  3. POST /login checks the CSRF token and the password (argon2id; unknown emails cost a hash
//     too), starts a new session with a fresh ID and answers 303 to return_to, with the login
//     prompts and max_age removed since a fresh login satisfies them.
//  4. A third-party client without a stored consent covering the scopes and audiences gets the
//     consent page; its form carries a challenge MAC-bound to the session and the exact request
//     for ten minutes. POST /consent stores the consent and answers 303 to return_to, or sends
//     access_denied to the client. First-party clients skip consent.
//  5. The code is issued (single use, five minutes) with the grant's session: ID-token claims,
//     the access token's client_id, and the grant's absolute end for refresh tokens.
//
// Access tokens are RFC 9068 JWTs signed by the active key of the configured algorithm (ES256 by
// default), stored as the SHA-256 of the whole token so that introspection is a lookup. Codes and
// refresh tokens are fosite's HMAC tokens, stored as digests.
package idp
