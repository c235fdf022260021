package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-id/gatehouse/idp"
)

const keyColumns = "kid, alg, state, public_jwk, private_enc, created_at, activated_at, retired_at, expires_at"

// keyRow is a signing_keys row as scanned.
type keyRow struct {
	kid, alg, state, publicJWK                   string
	privateEnc                                   []byte
	createdAt, activatedAt, retiredAt, expiresAt int64
}

func (r *keyRow) dest() []any {
	return []any{&r.kid, &r.alg, &r.state, &r.publicJWK, &r.privateEnc, &r.createdAt, &r.activatedAt, &r.retiredAt, &r.expiresAt}
}

func (r *keyRow) key() *idp.SigningKey {
	return &idp.SigningKey{
		KID:         r.kid,
		Alg:         r.alg,
		State:       r.state,
		PublicJWK:   []byte(r.publicJWK),
		PrivateEnc:  r.privateEnc,
		CreatedAt:   fromMillis(r.createdAt),
		ActivatedAt: fromMillis(r.activatedAt),
		RetiredAt:   fromMillis(r.retiredAt),
		ExpiresAt:   fromMillis(r.expiresAt),
	}
}

// CreateSigningKey stores a signing key; idp.ErrConflict if its KID is taken. A zero CreatedAt
// is set to the current time, in k too.
func (s *Store) CreateSigningKey(ctx context.Context, k *idp.SigningKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now().UTC().Truncate(time.Millisecond)
	}
	_, err := s.q(ctx).ExecContext(ctx, s.rebind("INSERT INTO signing_keys ("+keyColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		k.KID, k.Alg, k.State, string(k.PublicJWK), k.PrivateEnc,
		millis(k.CreatedAt), millis(k.ActivatedAt), millis(k.RetiredAt), millis(k.ExpiresAt))
	return domainErr(fmt.Sprintf("create signing key %q", k.KID), err)
}

// ListSigningKeys returns every stored key, newest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]*idp.SigningKey, error) {
	rows, err := s.q(ctx).QueryxContext(ctx, "SELECT "+keyColumns+" FROM signing_keys ORDER BY created_at DESC, kid DESC")
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	defer rows.Close()
	var out []*idp.SigningKey
	for rows.Next() {
		var r keyRow
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, fmt.Errorf("list signing keys: %w", err)
		}
		out = append(out, r.key())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return out, nil
}

// UpdateSigningKey reads the key, applies fn and writes the result, in one transaction (the one
// in ctx, if any); idp.ErrNotFound if there is no such key. fn must not change the KID.
func (s *Store) UpdateSigningKey(ctx context.Context, kid string, fn func(k *idp.SigningKey) error) error {
	what := fmt.Sprintf("update signing key %q", kid)
	return s.inTx(ctx, func(q sqlx.ExtContext) error {
		var r keyRow
		err := q.QueryRowxContext(ctx, s.rebind("SELECT "+keyColumns+" FROM signing_keys WHERE kid = ?"+s.forUpdate), kid).Scan(r.dest()...)
		if err != nil {
			return domainErr(what, err)
		}
		k := r.key()
		if err := fn(k); err != nil {
			return err
		}
		if k.KID != kid {
			return fmt.Errorf("%s: the KID cannot change (to %q)", what, k.KID)
		}
		_, err = q.ExecContext(ctx, s.rebind(
			"UPDATE signing_keys SET alg = ?, state = ?, public_jwk = ?, private_enc = ?, "+
				"created_at = ?, activated_at = ?, retired_at = ?, expires_at = ? WHERE kid = ?"),
			k.Alg, k.State, string(k.PublicJWK), k.PrivateEnc,
			millis(k.CreatedAt), millis(k.ActivatedAt), millis(k.RetiredAt), millis(k.ExpiresAt), kid)
		return domainErr(what, err)
	})
}

// DeleteSigningKey removes a key; idp.ErrNotFound if there is none.
func (s *Store) DeleteSigningKey(ctx context.Context, kid string) error {
	what := fmt.Sprintf("delete signing key %q", kid)
	res, err := s.q(ctx).ExecContext(ctx, s.rebind("DELETE FROM signing_keys WHERE kid = ?"), kid)
	if err != nil {
		return domainErr(what, err)
	}
	return mustAffect(what, res)
}
