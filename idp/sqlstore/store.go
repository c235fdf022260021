package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/internal/database"
)

// DefaultRefreshGrace is how long a rotated refresh token is accepted again by default, so that a
// client which lost the response to a refresh can retry it.
const DefaultRefreshGrace = 10 * time.Second

// Store is idp.Store on a PostgreSQL or SQLite database. It is safe for concurrent use.
type Store struct {
	db    *database.DB
	grace time.Duration
	now   func() time.Time
	// forUpdate ends a SELECT that must lock its rows: " FOR UPDATE" on PostgreSQL. SQLite has
	// no row locks; its transactions begin IMMEDIATE and so already hold the write lock.
	forUpdate string
	clients   *clientCache
}

var _ idp.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithRefreshGrace sets the window after a refresh token's rotation during which it may be
// presented again (default DefaultRefreshGrace). Zero disables the grace window: a rotated token
// is then inactive at once.
func WithRefreshGrace(d time.Duration) Option {
	return func(s *Store) { s.grace = d }
}

// WithClock sets the store's clock (default time.Now). Tests use it to move through grace
// windows and expiries.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// WithClientCache lets the fosite read paths (GetClient and the client of a stored token) reuse a
// client read at most ttl ago (default 0: always read). Every token, introspection and
// revocation request reads its client; the hot ones (machines, resource servers) repeat
// thousands of times a second. A client that is disabled, deleted or given a new secret is then
// served the old way for at most ttl. The domain methods (GetClientByID, ListClients) always read.
func WithClientCache(ttl time.Duration) Option {
	return func(s *Store) { s.clients = newClientCache(ttl) }
}

// New returns a Store on db, whose schema must be migrated (migrations.Up).
func New(db *database.DB, opts ...Option) *Store {
	s := &Store{db: db, grace: DefaultRefreshGrace, now: time.Now, clients: newClientCache(0)}
	if db.Dialect == database.Postgres {
		s.forUpdate = " FOR UPDATE"
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// txKey is the context key under which BeginTX stores the transaction.
type txKey struct{}

// BeginTX starts a transaction and returns a context carrying it; every Store method called with
// that context runs in it until Commit or Rollback. Transactions do not nest.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	if _, ok := ctx.Value(txKey{}).(*sqlx.Tx); ok {
		return ctx, errors.New("begin transaction: the context already carries one")
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return ctx, fmt.Errorf("begin transaction: %w", storageErr(err))
	}
	return context.WithValue(ctx, txKey{}, tx), nil
}

// Commit commits the transaction that BeginTX put into ctx.
func (s *Store) Commit(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*sqlx.Tx)
	if !ok {
		return errors.New("commit: no transaction in context")
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", storageErr(err))
	}
	return nil
}

// Rollback rolls back the transaction that BeginTX put into ctx. Rolling back a transaction that
// already ended (fosite rolls back after a failed commit) is not an error.
func (s *Store) Rollback(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*sqlx.Tx)
	if !ok {
		return errors.New("rollback: no transaction in context")
	}
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// q returns what to run queries on: the transaction in ctx, or the database.
func (s *Store) q(ctx context.Context) sqlx.ExtContext {
	if tx, ok := ctx.Value(txKey{}).(*sqlx.Tx); ok {
		return tx
	}
	return s.db
}

// inTx runs fn on the transaction in ctx, or else in a transaction of its own, committed when fn
// returns nil.
func (s *Store) inTx(ctx context.Context, fn func(q sqlx.ExtContext) error) (err error) {
	if tx, ok := ctx.Value(txKey{}).(*sqlx.Tx); ok {
		return fn(tx)
	}
	return storageErr(s.db.InTx(ctx, func(tx *sqlx.Tx) error { return fn(tx) }))
}

// rebind turns a query written with ? into the database's placeholder style.
func (s *Store) rebind(query string) string { return s.db.Rebind(query) }

// nowMillis is the store's clock in Unix milliseconds.
func (s *Store) nowMillis() int64 { return s.now().UnixMilli() }

// storageErr marks a serialization failure or deadlock as fosite.ErrSerializationFailure, which
// fosite's refresh flow answers with a "retry" error instead of a server error.
func storageErr(err error) error {
	if database.IsSerializationFailure(err) && !errors.Is(err, fosite.ErrSerializationFailure) {
		return fmt.Errorf("%w: %w", fosite.ErrSerializationFailure, err)
	}
	return err
}

// domainErr translates a driver error for the domain methods: no rows becomes idp.ErrNotFound,
// a unique violation idp.ErrConflict. what names the operation for the message.
func domainErr(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", what, idp.ErrNotFound)
	case database.IsUniqueViolation(err):
		return fmt.Errorf("%s: %w", what, idp.ErrConflict)
	default:
		return fmt.Errorf("%s: %w", what, storageErr(err))
	}
}

// mustAffect returns idp.ErrNotFound when a statement changed no row.
func mustAffect(what string, res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, idp.ErrNotFound)
	}
	return nil
}

// digest is the stored form of a token signature, code, request URI or jti: hex(SHA-256(v)).
func digest(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// millis converts a time to Unix milliseconds; the zero time is 0.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMillis converts Unix milliseconds to a UTC time; 0 is the zero time.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// encodeList encodes a list as a JSON array; nil is "[]".
func encodeList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // a []string always marshals
	return string(b)
}

// decodeList decodes a JSON array; an empty array is nil.
func decodeList(s string) ([]string, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("decode list: %w", err)
	}
	return l, nil
}

// nullBytes passes an empty byte slice as SQL NULL.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
