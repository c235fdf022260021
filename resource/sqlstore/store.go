package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/resource"
)

// MinCursorKeyLength is the shortest cursor key New accepts, in bytes.
const MinCursorKeyLength = 32

// Store is resource.Store on a PostgreSQL or SQLite database. It is safe for concurrent use.
type Store struct {
	db *database.DB
	// reader runs the queries of the read methods (Get…, List…) outside any transaction; it
	// is db, and tests wrap it to count queries.
	reader sqlx.ExtContext
	key    []byte
	now    func() time.Time
	// forUpdate and forShare end a SELECT that must lock its rows on PostgreSQL. SQLite has no
	// row locks; its transactions begin IMMEDIATE and so already hold the write lock.
	forUpdate, forShare string
}

var _ resource.Store = (*Store)(nil)

// New returns a Store on db, whose schema must be migrated (migrations.Up). cursorKey signs the
// pagination cursors; it must be at least MinCursorKeyLength random bytes, the same on every
// instance that serves the API (a cursor from one instance is then valid on all).
func New(db *database.DB, cursorKey []byte) (*Store, error) {
	if len(cursorKey) < MinCursorKeyLength {
		return nil, fmt.Errorf("resource sqlstore: cursor key of %d bytes, want at least %d", len(cursorKey), MinCursorKeyLength)
	}
	s := &Store{db: db, reader: db, key: append([]byte(nil), cursorKey...), now: time.Now}
	if db.Dialect == database.Postgres {
		s.forUpdate, s.forShare = " FOR UPDATE", " FOR SHARE"
	}
	return s, nil
}

// inTx runs fn in a transaction, committed when fn returns nil and rolled back otherwise.
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return s.db.InTx(ctx, fn)
}

// rebind turns a query written with ? into the database's placeholder style.
func (s *Store) rebind(query string) string { return s.db.Rebind(query) }

// newID returns a random 128-bit id (26 characters of base32).
func newID() string { return rand.Text() }

// domainErr translates a driver error: no rows becomes resource.ErrNotFound, a unique violation
// resource.ErrConflict. what names the operation for the message.
func domainErr(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", what, resource.ErrNotFound)
	case database.IsUniqueViolation(err):
		return fmt.Errorf("%s: %w", what, resource.ErrConflict)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}

// checkVersion compares a stored version with the one the caller read.
func checkVersion(what string, stored, ifVersion int64) error {
	if ifVersion != resource.AnyVersion && stored != ifVersion {
		return fmt.Errorf("%s: version %d, stored %d: %w", what, ifVersion, stored, resource.ErrPrecondition)
	}
	return nil
}

// checkOwner rejects an empty owner, which no caller should pass.
func checkOwner(owner string) error {
	if owner == "" {
		return resource.Invalid("owner", "must not be empty")
	}
	return nil
}

// pageLimit resolves a query's Limit.
func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return resource.DefaultLimit, nil
	case n < 1 || n > resource.MaxLimit:
		return 0, resource.Invalid("limit", "must be between 1 and %d, not %d", resource.MaxLimit, n)
	}
	return n, nil
}

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
