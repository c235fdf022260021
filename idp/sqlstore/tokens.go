package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/idp"
)

// Tables of the fosite sessions.
const (
	codesTable   = "oauth2_authorize_codes"
	accessTable  = "oauth2_access_tokens"
	refreshTable = "oauth2_refresh_tokens"
	pkceTable    = "oauth2_pkce"
	oidcTable    = "oauth2_oidc"
	parTable     = "oauth2_par"
)

// CreateAuthorizeCodeSession stores the request behind an authorization code, keyed by the
// digest of the code's signature.
func (s *Store) CreateAuthorizeCodeSession(ctx context.Context, code string, req fosite.Requester) error {
	return s.createRequest(ctx, codesTable, code, req, fosite.AuthorizeCode)
}

// GetAuthorizeCodeSession returns the request behind a code, its session decoded into session.
// An unknown code is fosite.ErrNotFound; a redeemed one returns the request together with
// fosite.ErrInvalidatedAuthorizeCode, so that fosite revokes the tokens issued from it (CONF-14).
func (s *Store) GetAuthorizeCodeSession(ctx context.Context, code string, session fosite.Session) (fosite.Requester, error) {
	var active bool
	req, err := s.getRequest(ctx, codesTable, code, session, ", t.active", &active)
	if err != nil {
		return nil, err
	}
	if !active {
		return req, fosite.ErrInvalidatedAuthorizeCode
	}
	return req, nil
}

// InvalidateAuthorizeCodeSession marks a code redeemed, atomically: of concurrent calls for one
// code exactly one succeeds and the others get fosite.ErrInvalidatedAuthorizeCode. An unknown
// code is fosite.ErrNotFound.
func (s *Store) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	q := s.q(ctx)
	sig := digest(code)
	// On PostgreSQL a concurrent redemption waits on the row lock and then re-checks active.
	res, err := q.ExecContext(ctx, s.rebind("UPDATE "+codesTable+" SET active = FALSE WHERE signature = ? AND active"), sig)
	if err != nil {
		return fmt.Errorf("invalidate authorization code: %w", storageErr(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("invalidate authorization code: %w", err)
	}
	if n == 1 {
		return nil
	}
	var active bool
	err = q.QueryRowxContext(ctx, s.rebind("SELECT active FROM "+codesTable+" WHERE signature = ?"), sig).Scan(&active)
	if errors.Is(err, sql.ErrNoRows) {
		return fosite.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("invalidate authorization code: %w", storageErr(err))
	}
	return fosite.ErrInvalidatedAuthorizeCode
}

// CreateAccessTokenSession stores the request behind an access token: one INSERT.
func (s *Store) CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error {
	return s.createRequest(ctx, accessTable, signature, req, fosite.AccessToken)
}

// GetAccessTokenSession returns the request behind an access token, with its client, in one
// query; fosite.ErrNotFound for an unknown or revoked token. fosite checks expiry itself.
func (s *Store) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	return s.getRequest(ctx, accessTable, signature, session, "")
}

// DeleteAccessTokenSession deletes an access token. Deleting an unknown one is not an error.
func (s *Store) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return s.deleteBySignature(ctx, accessTable, signature)
}

// RevokeAccessToken deletes every access token of a grant (RFC 7009 §2.1).
func (s *Store) RevokeAccessToken(ctx context.Context, requestID string) error {
	if _, err := s.q(ctx).ExecContext(ctx, s.rebind("DELETE FROM "+accessTable+" WHERE request_id = ?"), requestID); err != nil {
		return fmt.Errorf("revoke access tokens: %w", storageErr(err))
	}
	return nil
}

// CreateRefreshTokenSession stores an active refresh token. Its expiry is the session's refresh
// expiry capped at the grant's absolute end, idp.Session.GrantExpiresAt; when capped, the stored
// session carries the cap too, so that fosite's ValidateRefreshToken enforces it (RT-04). The
// caller's session is not changed.
func (s *Store) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, req fosite.Requester) error {
	rec, err := newRecord(signature, req, capRefreshExpiry(req.GetSession()), fosite.RefreshToken)
	if err != nil {
		return fmt.Errorf("store refresh token: %w", err)
	}
	accessDigest := ""
	if accessSignature != "" {
		accessDigest = digest(accessSignature)
	}
	_, err = s.q(ctx).ExecContext(ctx, s.rebind(
		"INSERT INTO "+refreshTable+" (signature, request_id, client_id, subject, requested_at, expires_at, "+
			"active, access_signature, rotated_at, revoked, request) VALUES (?, ?, ?, ?, ?, ?, TRUE, ?, 0, FALSE, ?)"),
		rec.signature, rec.requestID, rec.clientID, rec.subject, rec.requestedAt, rec.expiresAt, accessDigest, rec.request)
	if err != nil {
		return fmt.Errorf("store refresh token: %w", storageErr(err))
	}
	return nil
}

// capRefreshExpiry returns sess, or a copy of it whose refresh-token expiry is capped at
// GrantExpiresAt. A zero refresh expiry means "never" and is capped too.
func capRefreshExpiry(sess fosite.Session) fosite.Session {
	is, ok := sess.(*idp.Session)
	if !ok || is == nil || is.DefaultSession == nil || is.GrantExpiresAt.IsZero() {
		return sess
	}
	if exp := is.GetExpiresAt(fosite.RefreshToken); !exp.IsZero() && !exp.After(is.GrantExpiresAt) {
		return sess
	}
	capped := is.Clone()
	capped.SetExpiresAt(fosite.RefreshToken, is.GrantExpiresAt)
	return capped
}

// GetRefreshTokenSession returns the request behind a refresh token. Unknown is
// fosite.ErrNotFound. Revoked, or rotated longer ago than the grace window, returns the request
// together with fosite.ErrInactiveToken, on which fosite revokes the grant (reuse detection,
// RFC 9700 §4.14.2). A token rotated within the grace window is returned with no error, so that
// a client which lost the refresh response may retry.
func (s *Store) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	var (
		active, revoked bool
		rotatedAt       int64
	)
	req, err := s.getRequest(ctx, refreshTable, signature, session, ", t.active, t.revoked, t.rotated_at", &active, &revoked, &rotatedAt)
	if err != nil {
		return nil, err
	}
	if !s.refreshUsable(active, revoked, rotatedAt) {
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

// refreshUsable reports whether a refresh token in this state may be exchanged: active, or
// rotated (not revoked) within the grace window.
func (s *Store) refreshUsable(active, revoked bool, rotatedAt int64) bool {
	switch {
	case revoked:
		return false
	case active:
		return true
	case rotatedAt == 0 || s.grace <= 0:
		return false
	default:
		return s.nowMillis()-rotatedAt <= s.grace.Milliseconds()
	}
}

// RotateRefreshToken retires the presented refresh token of a grant, in the transaction in ctx
// (or one of its own): it locks the token's row, which serializes concurrent rotations of it,
// marks it rotated (keeping the first rotation time), revokes every other active refresh token
// of the grant, and deletes the grant's access tokens. fosite then stores the new pair in the
// same transaction, so one refresh token of the grant stays active. A token that is no longer
// usable (revoked, or rotated before the grace window) gives fosite.ErrInactiveToken; an unknown
// one fosite.ErrNotFound.
func (s *Store) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	sig := digest(signature)
	err := s.inTx(ctx, func(q sqlx.ExtContext) error {
		var (
			tokenRequestID  string
			active, revoked bool
			rotatedAt       int64
		)
		// The lock comes first: every later statement runs after concurrent rotations committed.
		err := q.QueryRowxContext(ctx, s.rebind(
			"SELECT request_id, active, revoked, rotated_at FROM "+refreshTable+" WHERE signature = ?"+s.forUpdate), sig).
			Scan(&tokenRequestID, &active, &revoked, &rotatedAt)
		if errors.Is(err, sql.ErrNoRows) {
			return fosite.ErrNotFound
		}
		if err != nil {
			return err
		}
		if tokenRequestID != requestID {
			return fmt.Errorf("the refresh token belongs to another request")
		}
		if !s.refreshUsable(active, revoked, rotatedAt) {
			return fosite.ErrInactiveToken
		}
		if rotatedAt == 0 {
			rotatedAt = s.nowMillis()
		}
		if _, err := q.ExecContext(ctx, s.rebind(
			"UPDATE "+refreshTable+" SET active = FALSE, rotated_at = ? WHERE signature = ?"), rotatedAt, sig); err != nil {
			return err
		}
		// Siblings: refresh tokens issued by earlier rotations of this token (a retry within the
		// grace window, or a concurrent refresh). They are superseded; presenting one later is
		// reuse and revokes the grant.
		if _, err := q.ExecContext(ctx, s.rebind(
			"UPDATE "+refreshTable+" SET active = FALSE, revoked = TRUE WHERE request_id = ? AND signature <> ? AND active"),
			requestID, sig); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, s.rebind("DELETE FROM "+accessTable+" WHERE request_id = ?"), requestID)
		return err
	})
	if err != nil && !errors.Is(err, fosite.ErrNotFound) && !errors.Is(err, fosite.ErrInactiveToken) {
		return fmt.Errorf("rotate refresh token: %w", storageErr(err))
	}
	return err
}

// DeleteRefreshTokenSession revokes a refresh token. The row stays, so that presenting the token
// again keeps failing as inactive (and revoking the grant) rather than as unknown.
func (s *Store) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	if _, err := s.q(ctx).ExecContext(ctx, s.rebind(
		"UPDATE "+refreshTable+" SET active = FALSE, revoked = TRUE WHERE signature = ?"), digest(signature)); err != nil {
		return fmt.Errorf("revoke refresh token: %w", storageErr(err))
	}
	return nil
}

// RevokeRefreshToken revokes every refresh token of a grant, rotated ones included
// (RFC 7009 §2.1).
func (s *Store) RevokeRefreshToken(ctx context.Context, requestID string) error {
	if _, err := s.q(ctx).ExecContext(ctx, s.rebind(
		"UPDATE "+refreshTable+" SET active = FALSE, revoked = TRUE WHERE request_id = ?"), requestID); err != nil {
		return fmt.Errorf("revoke refresh tokens: %w", storageErr(err))
	}
	return nil
}

// CreatePKCERequestSession stores the PKCE request of an authorization code.
func (s *Store) CreatePKCERequestSession(ctx context.Context, signature string, req fosite.Requester) error {
	return s.createRequest(ctx, pkceTable, signature, req, fosite.AuthorizeCode)
}

// GetPKCERequestSession returns the PKCE request of a code; fosite.ErrNotFound if there is none.
func (s *Store) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	return s.getRequest(ctx, pkceTable, signature, session, "")
}

// DeletePKCERequestSession deletes the PKCE request of a code. Deleting an unknown one is not an
// error.
func (s *Store) DeletePKCERequestSession(ctx context.Context, signature string) error {
	return s.deleteBySignature(ctx, pkceTable, signature)
}

// CreateOpenIDConnectSession stores the OpenID Connect request of an authorization code (fosite
// passes the code itself; only its digest is stored).
func (s *Store) CreateOpenIDConnectSession(ctx context.Context, authorizeCode string, req fosite.Requester) error {
	return s.createRequest(ctx, oidcTable, authorizeCode, req, fosite.AuthorizeCode)
}

// GetOpenIDConnectSession returns the OpenID Connect request of a code, its session decoded into
// requester's session; fosite.ErrNotFound (openid.ErrNoSessionFound) if there is none.
func (s *Store) GetOpenIDConnectSession(ctx context.Context, authorizeCode string, requester fosite.Requester) (fosite.Requester, error) {
	var session fosite.Session
	if requester != nil {
		session = requester.GetSession()
	}
	return s.getRequest(ctx, oidcTable, authorizeCode, session, "")
}

// DeleteOpenIDConnectSession deletes the OpenID Connect request of a code. Deleting an unknown
// one is not an error.
func (s *Store) DeleteOpenIDConnectSession(ctx context.Context, authorizeCode string) error {
	return s.deleteBySignature(ctx, oidcTable, authorizeCode)
}

// CreatePARSession stores a pushed authorization request under its request URI (RFC 9126). Client
// credentials in its form are not stored.
func (s *Store) CreatePARSession(ctx context.Context, requestURI string, req fosite.AuthorizeRequester) error {
	return s.createRequest(ctx, parTable, requestURI, req, fosite.PushedAuthorizeRequestContext)
}

// GetPARSession returns a pushed authorization request, with the fields fosite merges into the
// authorization request (redirect URI, response types, state, response mode). An unknown or
// expired request URI is fosite.ErrNotFound: fosite does not check the expiry itself.
func (s *Store) GetPARSession(ctx context.Context, requestURI string) (fosite.AuthorizeRequester, error) {
	var expiresAt int64
	req, err := s.getRequest(ctx, parTable, requestURI, nil, ", t.expires_at", &expiresAt)
	if err != nil {
		return nil, err
	}
	if expiresAt != 0 && expiresAt <= s.nowMillis() {
		return nil, fosite.ErrNotFound
	}
	ar, ok := req.(fosite.AuthorizeRequester)
	if !ok {
		return nil, errors.New("read PAR session: not an authorization request")
	}
	return ar, nil
}

// DeletePARSession deletes a pushed authorization request. Deleting an unknown one is not an
// error.
func (s *Store) DeletePARSession(ctx context.Context, requestURI string) error {
	return s.deleteBySignature(ctx, parTable, requestURI)
}

func (s *Store) deleteBySignature(ctx context.Context, table, sig string) error {
	if _, err := s.q(ctx).ExecContext(ctx, s.rebind("DELETE FROM "+table+" WHERE signature = ?"), digest(sig)); err != nil {
		return fmt.Errorf("delete from %s: %w", table, storageErr(err))
	}
	return nil
}

// RevokeSubjectTokens revokes every refresh token and deletes every access token issued to a
// subject, and marks its unredeemed authorization codes used (password change, account
// disabled; RT-08, SE-06). It runs in one transaction (the one in ctx, if any).
func (s *Store) RevokeSubjectTokens(ctx context.Context, subject string) error {
	if subject == "" {
		return errors.New("revoke subject tokens: empty subject")
	}
	err := s.inTx(ctx, func(q sqlx.ExtContext) error {
		for _, stmt := range []string{
			"UPDATE " + refreshTable + " SET active = FALSE, revoked = TRUE WHERE subject = ? AND NOT revoked",
			"DELETE FROM " + accessTable + " WHERE subject = ?",
			"UPDATE " + codesTable + " SET active = FALSE WHERE subject = ? AND active",
		} {
			if _, err := q.ExecContext(ctx, s.rebind(stmt), subject); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoke tokens of subject %q: %w", subject, storageErr(err))
	}
	return nil
}

// DeleteExpired removes the codes, tokens, PKCE, OpenID Connect and PAR requests, client
// assertion jtis, login sessions and link tokens whose expiry is before the given time, the login
// throttle counts untouched for idp.ThrottleMemory before it, and the retired
// signing keys whose ExpiresAt is, and returns how many rows it removed. Rows without an expiry
// (0) stay.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time) (int64, error) {
	b := before.UnixMilli()
	var total int64
	for _, stmt := range []struct {
		query string
		args  []any
	}{
		{"DELETE FROM " + codesTable + " WHERE expires_at > 0 AND expires_at < ?", []any{b}},
		{"DELETE FROM " + accessTable + " WHERE expires_at > 0 AND expires_at < ?", []any{b}},
		{"DELETE FROM " + refreshTable + " WHERE expires_at > 0 AND expires_at < ?", []any{b}},
		{"DELETE FROM " + pkceTable + " WHERE expires_at > 0 AND expires_at < ?", []any{b}},
		{"DELETE FROM " + oidcTable + " WHERE expires_at > 0 AND expires_at < ?", []any{b}},
		{"DELETE FROM " + parTable + " WHERE expires_at > 0 AND expires_at < ?", []any{b}},
		{"DELETE FROM oauth2_jtis WHERE expires_at < ?", []any{b}},
		{"DELETE FROM login_sessions WHERE expires_at > 0 AND expires_at < ?", []any{b}},
		{"DELETE FROM user_tokens WHERE expires_at < ?", []any{b}},
		{"DELETE FROM login_throttle WHERE updated_at < ? AND locked_until < ?", []any{b - idp.ThrottleMemory.Milliseconds(), b}},
		{"DELETE FROM signing_keys WHERE state = ? AND expires_at > 0 AND expires_at < ?", []any{idp.KeyRetired, b}},
	} {
		res, err := s.q(ctx).ExecContext(ctx, s.rebind(stmt.query), stmt.args...)
		if err != nil {
			return total, fmt.Errorf("delete expired: %w", storageErr(err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("delete expired: %w", err)
		}
		total += n
	}
	return total, nil
}
