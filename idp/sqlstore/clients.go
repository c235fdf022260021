package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/jmoiron/sqlx"
	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/idp"
)

// clientColumnNames are the clients columns, in the order of clientRow.dest and clientArgs.
var clientColumnNames = []string{
	"id", "name", "secret_hash", "public", "first_party", "disabled",
	"token_endpoint_auth_method", "token_endpoint_auth_alg", "jwks",
	"redirect_uris", "post_logout_redirect_uris", "grant_types", "response_types",
	"scopes", "audiences", "allowed_cors_origins",
	"access_token_lifespan_ms", "refresh_token_lifespan_ms", "created_at", "updated_at",
}

var (
	// clientColumns lists the columns for SELECT and INSERT.
	clientColumns = strings.Join(clientColumnNames, ", ")
	// clientUpdateSet assigns every column but id, for UPDATE.
	clientUpdateSet = strings.Join(clientColumnNames[1:], " = ?, ") + " = ?"
)

// clientRow is a clients row as scanned.
type clientRow struct {
	id, name                   string
	secretHash                 []byte
	public, firstParty         bool
	disabled                   bool
	authMethod, authAlg, jwks  string
	redirectURIs, postLogout   string
	grantTypes, responseTypes  string
	scopes, audiences, origins string
	atLifespan, rtLifespan     int64
	createdAt, updatedAt       int64
}

// dest returns the scan destinations in clientColumnNames order.
func (r *clientRow) dest() []any {
	return []any{
		&r.id, &r.name, &r.secretHash, &r.public, &r.firstParty, &r.disabled,
		&r.authMethod, &r.authAlg, &r.jwks,
		&r.redirectURIs, &r.postLogout, &r.grantTypes, &r.responseTypes,
		&r.scopes, &r.audiences, &r.origins,
		&r.atLifespan, &r.rtLifespan, &r.createdAt, &r.updatedAt,
	}
}

// client decodes the row.
func (r *clientRow) client() (*idp.Client, error) {
	c := &idp.Client{
		ID:                      r.id,
		Name:                    r.name,
		SecretHash:              r.secretHash,
		Public:                  r.public,
		FirstParty:              r.firstParty,
		Disabled:                r.disabled,
		TokenEndpointAuthMethod: r.authMethod,
		TokenEndpointAuthAlg:    r.authAlg,
		AccessTokenLifespan:     time.Duration(r.atLifespan) * time.Millisecond,
		RefreshTokenLifespan:    time.Duration(r.rtLifespan) * time.Millisecond,
		CreatedAt:               fromMillis(r.createdAt),
		UpdatedAt:               fromMillis(r.updatedAt),
	}
	if r.jwks != "" {
		c.JWKS = new(jose.JSONWebKeySet)
		if err := json.Unmarshal([]byte(r.jwks), c.JWKS); err != nil {
			return nil, fmt.Errorf("client %q: decode JWKS: %w", r.id, err)
		}
	}
	for _, f := range []struct {
		dst *[]string
		src string
	}{
		{&c.RedirectURIs, r.redirectURIs},
		{&c.PostLogoutRedirectURIs, r.postLogout},
		{&c.GrantTypes, r.grantTypes},
		{&c.ResponseTypes, r.responseTypes},
		{&c.Scopes, r.scopes},
		{&c.Audiences, r.audiences},
		{&c.AllowedCORSOrigins, r.origins},
	} {
		l, err := decodeList(f.src)
		if err != nil {
			return nil, fmt.Errorf("client %q: %w", r.id, err)
		}
		*f.dst = l
	}
	return c, nil
}

// clientArgs returns the values of c in clientColumnNames order.
func clientArgs(c *idp.Client) ([]any, error) {
	jwks := ""
	if c.JWKS != nil {
		b, err := json.Marshal(c.JWKS)
		if err != nil {
			return nil, fmt.Errorf("client %q: encode JWKS: %w", c.ID, err)
		}
		jwks = string(b)
	}
	return []any{
		c.ID, c.Name, nullBytes(c.SecretHash), c.Public, c.FirstParty, c.Disabled,
		c.TokenEndpointAuthMethod, c.TokenEndpointAuthAlg, jwks,
		encodeList(c.RedirectURIs), encodeList(c.PostLogoutRedirectURIs),
		encodeList(c.GrantTypes), encodeList(c.ResponseTypes),
		encodeList(c.Scopes), encodeList(c.Audiences), encodeList(c.AllowedCORSOrigins),
		c.AccessTokenLifespan.Milliseconds(), c.RefreshTokenLifespan.Milliseconds(),
		millis(c.CreatedAt), millis(c.UpdatedAt),
	}, nil
}

// CreateClient stores a new client; idp.ErrConflict if its ID is taken, by a client or by a
// user (RS-11). A zero CreatedAt or
// UpdatedAt is set to the current time, in c too.
func (s *Store) CreateClient(ctx context.Context, c *idp.Client) error {
	if c.ID == "" {
		return errors.New("create client: empty ID")
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.now().UTC().Truncate(time.Millisecond)
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	args, err := clientArgs(c)
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	// A client ID is never a user's ID (RS-11, review F9): a client-credentials token has
	// sub == client_id, and resource servers tell it from a user's token by that equality.
	if err := s.idFree(ctx, "users", c.ID); err != nil {
		return fmt.Errorf("create client %q: %w", c.ID, err)
	}
	q := "INSERT INTO clients (" + clientColumns + ") VALUES (?" + strings.Repeat(", ?", len(clientColumnNames)-1) + ")"
	_, err = s.q(ctx).ExecContext(ctx, s.rebind(q), args...)
	return domainErr(fmt.Sprintf("create client %q", c.ID), err)
}

// getClient reads a client, disabled or not, locking its row when lock is set.
func (s *Store) getClient(ctx context.Context, q sqlx.ExtContext, id string, lock bool) (*idp.Client, error) {
	query := "SELECT " + clientColumns + " FROM clients WHERE id = ?"
	if lock {
		query += s.forUpdate
	}
	var r clientRow
	if err := q.QueryRowxContext(ctx, s.rebind(query), id).Scan(r.dest()...); err != nil {
		return nil, err
	}
	return r.client()
}

// GetClientByID returns the client, disabled or not; idp.ErrNotFound if there is none.
func (s *Store) GetClientByID(ctx context.Context, id string) (*idp.Client, error) {
	if !idp.ValidID(id) {
		return nil, fmt.Errorf("get client: %w", idp.ErrNotFound)
	}
	c, err := s.getClient(ctx, s.q(ctx), id, false)
	if err != nil {
		return nil, domainErr(fmt.Sprintf("get client %q", id), err)
	}
	return c, nil
}

// readClient reads a client, disabled or not, in the transaction of ctx if there is one.
func (s *Store) readClient(ctx context.Context, id string) (*idp.Client, error) {
	return s.getClient(ctx, s.q(ctx), id, false)
}

// GetClient implements fosite.ClientManager: it returns the *idp.Client, or fosite.ErrNotFound
// if there is none or it is disabled (AUTHZ-03). It may answer from the client cache
// (WithClientCache).

func (s *Store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	if !idp.ValidID(id) {
		return nil, fosite.ErrNotFound
	}
	c, err := s.clients.get(ctx, id, s.readClient)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get client %q: %w: %w", id, idp.ErrUnavailable, storageErr(err))
	}
	if c.Disabled {
		return nil, fosite.ErrNotFound
	}
	return c, nil
}

// ListClients returns every client, oldest first.
func (s *Store) ListClients(ctx context.Context) ([]*idp.Client, error) {
	rows, err := s.q(ctx).QueryxContext(ctx, "SELECT "+clientColumns+" FROM clients ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	defer rows.Close()
	var out []*idp.Client
	for rows.Next() {
		var r clientRow
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, fmt.Errorf("list clients: %w", err)
		}
		c, err := r.client()
		if err != nil {
			return nil, fmt.Errorf("list clients: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return out, nil
}

// UpdateClient reads the client, applies fn and writes the result, in one transaction (the one
// in ctx, if any). fn must not change the ID. UpdatedAt is set to the current time.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(c *idp.Client) error) error {
	what := fmt.Sprintf("update client %q", id)
	return s.inTx(ctx, func(q sqlx.ExtContext) error {
		c, err := s.getClient(ctx, q, id, true)
		if err != nil {
			return domainErr(what, err)
		}
		if err := fn(c); err != nil {
			return err
		}
		if c.ID != id {
			return fmt.Errorf("%s: the ID cannot change (to %q)", what, c.ID)
		}
		c.UpdatedAt = s.now().UTC().Truncate(time.Millisecond)
		args, err := clientArgs(c)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		args = append(args[1:], id)
		_, err = q.ExecContext(ctx, s.rebind("UPDATE clients SET "+clientUpdateSet+" WHERE id = ?"), args...)
		return domainErr(what, err)
	})
}

// DeleteClient removes the client and, through foreign keys, its tokens, codes and consents;
// idp.ErrNotFound if there is none.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	what := fmt.Sprintf("delete client %q", id)
	res, err := s.q(ctx).ExecContext(ctx, s.rebind("DELETE FROM clients WHERE id = ?"), id)
	if err != nil {
		return domainErr(what, err)
	}
	return mustAffect(what, res)
}

// ClientAssertionJWTValid implements fosite.ClientManager: fosite.ErrJTIKnown if the jti of a
// client assertion was seen and has not expired (RFC 7523 §3; TOKEN-11).
func (s *Store) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	var exp int64
	err := s.q(ctx).QueryRowxContext(ctx, s.rebind("SELECT expires_at FROM oauth2_jtis WHERE jti_hash = ?"), digest(jti)).Scan(&exp)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("check client assertion jti: %w", storageErr(err))
	case exp > s.nowMillis():
		return fosite.ErrJTIKnown
	}
	return nil
}

// SetClientAssertionJWT implements fosite.ClientManager: it records a jti until exp, atomically.
// A known jti that has not expired gives fosite.ErrJTIKnown; an expired one is replaced.
func (s *Store) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	// One statement: concurrent uses of one jti race on the primary key, and exactly one wins.
	res, err := s.q(ctx).ExecContext(ctx, s.rebind(
		"INSERT INTO oauth2_jtis (jti_hash, expires_at) VALUES (?, ?) "+
			"ON CONFLICT (jti_hash) DO UPDATE SET expires_at = excluded.expires_at "+
			"WHERE oauth2_jtis.expires_at <= ?"),
		digest(jti), millis(exp), s.nowMillis())
	if err != nil {
		return fmt.Errorf("record client assertion jti: %w", storageErr(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("record client assertion jti: %w", err)
	}
	if n == 0 {
		return fosite.ErrJTIKnown
	}
	return nil
}

// idFree returns idp.ErrConflict when table (users or clients) has a row with id: users and
// clients never share an ID, so that sub == client_id marks a client-credentials token and
// nothing else (RS-11). The check and the insert after it are two statements: IDs are random
// UUIDs wherever the provider or the CLI makes them, so only a caller choosing a taken ID on
// purpose meets this check, and it does so sequentially.
func (s *Store) idFree(ctx context.Context, table, id string) error {
	var n int
	if err := s.q(ctx).QueryRowxContext(ctx, s.rebind("SELECT COUNT(*) FROM "+table+" WHERE id = ?"), id).Scan(&n); err != nil {
		return storageErr(err)
	}
	if n > 0 {
		return fmt.Errorf("the ID is taken by one of the %s: %w", table, idp.ErrConflict)
	}
	return nil
}
