// Package sqlstore implements idp.Store on sqlx, for PostgreSQL and SQLite, with one set of
// queries: they are written with ? placeholders and explicit column lists and rebound for the
// database's dialect. The schema is in migrations/idp.
//
// # Conventions
//
// Timestamps are Unix milliseconds in BIGINT columns and lists are JSON arrays in TEXT columns.
// Tokens, codes and PAR request URIs are stored only as digests: the key of every oauth2_* row is
// hex(SHA-256(signature)) of the signature fosite passes in. The fosite request (ID, time,
// scopes, audiences, form, the authorize-request fields when there are any, and the session as
// JSON) is the row's request column; the client is read back in the same query, joined from
// clients. Tokens of a disabled client read as not found.
//
// # Transactions
//
// BeginTX puts a *sqlx.Tx into the context (fosite's storage.Transactional); every method runs
// on that transaction when the context carries one, and Commit and Rollback end it. SQLite
// transactions begin IMMEDIATE (see internal/database), so writers serialize; on PostgreSQL the
// statements that must serialize lock their row first. A serialization failure or deadlock is
// returned wrapping fosite.ErrSerializationFailure.
//
// # Refresh tokens
//
// A refresh token row is in one of three states:
//
//	active    active, not revoked, rotated_at = 0   GetRefreshTokenSession returns it
//	rotated   not active, rotated_at ≠ 0            accepted again within the grace window
//	                                                 (WithRefreshGrace), then ErrInactiveToken
//	revoked   not active, revoked                   ErrInactiveToken, with the request
//
// fosite's refresh flow (handler/oauth2/flow_refresh.go) calls GetRefreshTokenSession, then, in
// one transaction, RotateRefreshToken, CreateAccessTokenSession and CreateRefreshTokenSession.
// RotateRefreshToken locks the presented token, rotates it, revokes every other active refresh
// token of the grant and deletes the grant's access tokens, so however many refreshes race, one
// refresh token of the grant stays active. A token presented again after the grace window, or a
// revoked one, makes GetRefreshTokenSession return fosite.ErrInactiveToken together with the
// request, and fosite then revokes the whole grant (RFC 9700 §4.14.2; SECURITY.md RT-01, RT-02).
// A refresh token never outlives the grant's absolute end, idp.Session.GrantExpiresAt (RT-04).
//
// # Authorization codes
//
// A redeemed code is marked inactive, never deleted, so that a second redemption finds it and
// fosite revokes the tokens issued from it (RFC 6749 §4.1.2; CONF-14).
// InvalidateAuthorizeCodeSession is one conditional UPDATE: of concurrent redemptions exactly one
// succeeds, the others get fosite.ErrInvalidatedAuthorizeCode.
package sqlstore
