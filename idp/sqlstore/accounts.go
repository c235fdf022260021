package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/idp"
)

// TakeLoginAttempt counts one login attempt on key if the key's delay has passed (RL-05). The
// admission is one statement, INSERT … ON CONFLICT DO UPDATE … WHERE locked_until <= now
// RETURNING: a new key is inserted with its first attempt counted; an existing key is updated only
// if its delay has passed. PostgreSQL locks the conflicting row and re-checks the WHERE on the
// row a concurrent statement just wrote; SQLite runs one writer at a time; so no two callers are
// admitted on the same state. The next delay is computed in the same statement from p's steps (a
// CASE on the new count): nothing is read and then written back.
func (s *Store) TakeLoginAttempt(ctx context.Context, key string, p idp.ThrottlePolicy) (bool, time.Time, error) {
	if key == "" {
		return false, time.Time{}, errors.New("take login attempt: empty key")
	}
	p = p.WithDefaults()
	now := s.nowMillis()
	q := s.q(ctx)
	// locked_until stays as it is for the free attempts (so that concurrent requests whose clocks
	// read a millisecond apart never refuse each other), and becomes now + CASE WHEN failures + 1
	// = Free THEN steps[0] … ELSE Max END afterwards; SET expressions see the row before the update.
	const f = "login_throttle.failures"
	var cs strings.Builder
	first := int64(0) // locked_until after a first attempt
	if p.Free <= 1 {
		first = now + p.Delay(1).Milliseconds()
	}
	args := []any{key, first, now, p.Free, now}
	cs.WriteString("CASE WHEN " + f + " + 1 < CAST(? AS BIGINT) THEN login_throttle.locked_until ELSE CAST(? AS BIGINT) + CASE")
	steps := p.Steps()
	for i, d := range steps { // at least one WHEN: a CASE needs one
		cs.WriteString(" WHEN " + f + " + 1 = CAST(? AS BIGINT) THEN CAST(? AS BIGINT)")
		args = append(args, p.Free+i, d.Milliseconds())
	}
	cs.WriteString(" ELSE CAST(? AS BIGINT) END END")
	args = append(args, p.Max.Milliseconds(), now, now)
	var failures int64
	err := q.QueryRowxContext(ctx, s.rebind(
		"INSERT INTO login_throttle (key, failures, locked_until, updated_at) VALUES (?, 1, ?, ?) "+
			"ON CONFLICT (key) DO UPDATE SET failures = "+f+" + 1, locked_until = "+cs.String()+", updated_at = ? "+
			"WHERE login_throttle.locked_until <= ? RETURNING failures"), args...).Scan(&failures)
	if err == nil {
		return true, time.Time{}, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, time.Time{}, fmt.Errorf("take login attempt: %w", storageErr(err))
	}
	var until int64
	if err := q.QueryRowxContext(ctx, s.rebind("SELECT locked_until FROM login_throttle WHERE key = ?"), key).Scan(&until); err != nil {
		if errors.Is(err, sql.ErrNoRows) { // reset between the two statements: try later
			return false, fromMillis(now + 1000), nil
		}
		return false, time.Time{}, fmt.Errorf("take login attempt: %w", storageErr(err))
	}
	return false, fromMillis(until), nil
}

// ResetLoginAttempts forgets the count of key.
func (s *Store) ResetLoginAttempts(ctx context.Context, key string) error {
	_, err := s.q(ctx).ExecContext(ctx, s.rebind("DELETE FROM login_throttle WHERE key = ?"), key)
	if err != nil {
		return fmt.Errorf("reset login attempts: %w", storageErr(err))
	}
	return nil
}

// CreateUserToken stores a link token; zero CreatedAt is set to the current time.
func (s *Store) CreateUserToken(ctx context.Context, t *idp.UserToken) error {
	if t.Hash == "" || t.UserID == "" || t.ExpiresAt.IsZero() {
		return errors.New("create user token: hash, user and expiry are required")
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now().UTC().Truncate(time.Millisecond)
	}
	_, err := s.q(ctx).ExecContext(ctx, s.rebind(
		"INSERT INTO user_tokens (token_hash, user_id, purpose, created_at, expires_at) VALUES (?, ?, ?, ?, ?)"),
		t.Hash, t.UserID, t.Purpose, millis(t.CreatedAt), millis(t.ExpiresAt))
	return domainErr("create user token", err)
}

// GetUserToken returns the unexpired token without using it.
func (s *Store) GetUserToken(ctx context.Context, hash, purpose string) (*idp.UserToken, error) {
	t := idp.UserToken{Hash: hash, Purpose: purpose}
	var created, expires int64
	err := s.q(ctx).QueryRowxContext(ctx, s.rebind(
		"SELECT user_id, created_at, expires_at FROM user_tokens WHERE token_hash = ? AND purpose = ? AND expires_at > ?"),
		hash, purpose, s.nowMillis()).Scan(&t.UserID, &created, &expires)
	if err != nil {
		return nil, domainErr("get user token", err)
	}
	t.CreatedAt, t.ExpiresAt = fromMillis(created), fromMillis(expires)
	return &t, nil
}

// ConsumeUserToken deletes and returns the unexpired token: DELETE … RETURNING, so of two
// concurrent redemptions one gets the row and the other nothing.
func (s *Store) ConsumeUserToken(ctx context.Context, hash, purpose string) (*idp.UserToken, error) {
	t := idp.UserToken{Hash: hash, Purpose: purpose}
	var created, expires int64
	err := s.q(ctx).QueryRowxContext(ctx, s.rebind(
		"DELETE FROM user_tokens WHERE token_hash = ? AND purpose = ? AND expires_at > ? RETURNING user_id, created_at, expires_at"),
		hash, purpose, s.nowMillis()).Scan(&t.UserID, &created, &expires)
	if err != nil {
		return nil, domainErr("consume user token", err)
	}
	t.CreatedAt, t.ExpiresAt = fromMillis(created), fromMillis(expires)
	return &t, nil
}

// DeleteUserTokens removes the user's tokens with the purpose, or all of them for "".
func (s *Store) DeleteUserTokens(ctx context.Context, userID, purpose string) error {
	query, args := "DELETE FROM user_tokens WHERE user_id = ?", []any{userID}
	if purpose != "" {
		query, args = query+" AND purpose = ?", append(args, purpose)
	}
	if _, err := s.q(ctx).ExecContext(ctx, s.rebind(query), args...); err != nil {
		return fmt.Errorf("delete tokens of user %q: %w", userID, storageErr(err))
	}
	return nil
}
