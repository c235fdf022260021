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
//  3. POST /login is counted per client IP (429 past the limit), checks the CSRF token, then the
//     per-account throttle (throttle.go: one conditional upsert in the database admits the attempt
//     or answers 429 with Retry-After, before any hash), then the password (argon2id; unknown
//     emails cost a hash too), starts a new session with a fresh ID, and (once the address is
//     confirmed) sets the device cookie that exempts this browser from the account's throttle
//     while the password stays the same, and answers 303 to return_to, with the
//     login prompts and max_age removed since a fresh login satisfies them. An account whose
//     address is not confirmed gets a new confirmation link instead of a session.
//  4. A third-party client without a stored consent covering the scopes and audiences gets the
//     consent page; its form carries a challenge MAC-bound to the session and the exact request
//     for ten minutes. POST /consent stores the consent and answers 303 to return_to, or sends
//     access_denied to the client. First-party clients skip consent.
//  5. The code is issued (single use, five minutes) with the grant's session: ID-token claims,
//     the access token's client_id, and the grant's absolute end for refresh tokens.
//
// The account pages (accounts.go) follow one rule: no answer tells whether an address has an
// account (AN-03). /register creates an unconfirmed account and mails a confirmation link, or
// for a taken address mails its owner a notice, with the same page and the same hashing work;
// /verify shows a button (opening a link changes nothing, mail scanners open links) whose POST
// uses the link. /reset mails a link for known addresses only and answers the same either way;
// /reset/confirm sets the new password, confirms the address and, in one transaction, uses the
// link, ends every login session and revokes every token of the user. /password changes the
// password of a signed-in user, who must give the current one; the other sessions and the
// tokens end. /apps lists the clients the signed-in user consented to; revoking one (POST
// /apps/revoke) deletes the consent and, in the same transaction, the client's tokens and codes
// for her (CO-05). Links carry 256 random bits, are stored as SHA-256 digests, expire (24 h and
// 30 min by default) and are deleted when used. Mail goes through a Mailer (idp/mail: SMTP or an
// outbox folder), in the background so that its latency tells nothing.
//
// Throttles and their trade-off (review F12, F13). The per-account login throttle (throttle.go)
// counts attempts per normalized address in the database; an attacker who sends one wrong guess
// each time the delay runs out can hold an account's throttle at its cap (15 min by default) for
// as long as he likes, for every browser without a device cookie. That is accepted: the
// alternative, no per-account limit, lets a distributed attacker guess without bound (RL-05).
// The owner's way in is the device cookie: a browser that completed a sign-in (right password,
// enabled account, confirmed address), used a reset link, or changed the password counts under
// its own cookie and is not slowed by the attacker's guesses. A device cookie is bound to the
// account's current password hash, so a reset or change voids every cookie minted before (whoever
// knew the old password loses his private buckets) and the new password gets Free guesses per
// cookie only from browsers that proved it. A browser without a cookie (a new device) waits at
// most the cap; a reset from any browser gives it a cookie. Operators should alert on throttle
// keys that stay at the cap.
//
// The mail throttle (mayMail: per address, five at once, then one a minute doubling to one an
// hour) gives no attacker more mail (the key is the NFKC-normalized, lower-cased address, as for
// the account itself), but an attacker who asks for a reset each time the delay runs out holds
// it at its cap, so a request from a new browser may send nothing for up to an hour. Its
// equivalent of the device cookie: a reset request from a browser whose device cookie is bound
// to the account's current password counts under that cookie (resetMailKey), so the owner mails
// herself a link from a browser she signed in with. From any other browser recovery is delayed,
// never blocked: each request the attacker gets through mails the owner a working link. The reset
// page should say that a mail may take up to an hour.
//
// Access tokens are RFC 9068 JWTs signed by the active key of the configured algorithm (ES256 by
// default), stored as the SHA-256 of the whole token so that introspection is a lookup. Codes and
// refresh tokens are fosite's HMAC tokens, stored as digests.
package idp
