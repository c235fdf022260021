// Package database opens the SQL databases Gatehouse runs on and hides the two dialects'
// differences that matter to the stores: placeholders (through sqlx.Rebind) and the error that
// a unique constraint raises. It is the only importer of lib/pq and the SQLite driver.
//
// URLs:
//
//	postgres://user:pass@host:5432/db?sslmode=disable   PostgreSQL through lib/pq
//	sqlite:PATH                                         SQLite (modernc.org/sqlite, pure Go)
//	sqlite::memory:                                     an in-memory SQLite database (tests)
package database

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the SQL dialect of a database.
type Dialect string

// The dialects Gatehouse supports.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// DefaultURL is the embedded default: a SQLite file in the working directory.
const DefaultURL = "sqlite:gatehouse.db"

// DB is an open database and its dialect.
type DB struct {
	*sqlx.DB
	Dialect Dialect
	// Path is the file of a SQLite database ("" for PostgreSQL and in-memory SQLite).
	Path string
}

func init() {
	// sqlx picks the placeholder style by driver name; modernc registers "sqlite".
	sqlx.BindDriver("sqlite", sqlx.QUESTION)
}

// Open opens and pings the database named by rawURL.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	dialect, dsn, path, err := parse(rawURL)
	if err != nil {
		return nil, err
	}
	var db *sqlx.DB
	switch dialect {
	case Postgres:
		db, err = sqlx.Open("postgres", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		db.SetMaxOpenConns(32)
		db.SetMaxIdleConns(32)
		db.SetConnMaxIdleTime(5 * time.Minute)
	case SQLite:
		db, err = sqlx.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		if path == "" {
			// Every connection to ":memory:" is its own database: keep exactly one.
			db.SetMaxOpenConns(1)
		} else {
			// WAL allows one writer and many readers; writers wait on busy_timeout.
			db.SetMaxOpenConns(8)
			db.SetMaxIdleConns(8)
		}
		db.SetConnMaxIdleTime(0)
		db.SetConnMaxLifetime(0)
	}
	// sqlx binds by driver name; both drivers are registered under the dialect name.
	db = sqlx.NewDb(db.DB, string(dialect))
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
	}
	return &DB{DB: db, Dialect: dialect, Path: path}, nil
}

// parse turns a Gatehouse database URL into a driver name and DSN.
func parse(rawURL string) (dialect Dialect, dsn, path string, err error) {
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		u, err := url.Parse(rawURL)
		if err != nil {
			// url's error quotes the whole URL, password included.
			return "", "", "", errors.New("database URL: not a valid postgres:// URL")
		}
		// binary_parameters lets lib/pq send parse, bind and execute in one round trip instead
		// of two for every query with arguments.
		q := u.Query()
		if q.Get("binary_parameters") == "" {
			q.Set("binary_parameters", "yes")
			u.RawQuery = q.Encode()
		}
		return Postgres, u.String(), "", nil
	case strings.HasPrefix(rawURL, "sqlite:"):
		path = strings.TrimPrefix(rawURL, "sqlite:")
		path = strings.TrimPrefix(path, "//")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			return "", "", "", fmt.Errorf("database URL %q: sqlite URLs take no options", rawURL)
		}
		if path == "" {
			return "", "", "", fmt.Errorf("database URL %q: sqlite needs a file path (sqlite:gatehouse.db)", rawURL)
		}
		pragmas := "_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_txlock=immediate"
		if path == ":memory:" {
			return SQLite, "file::memory:?" + pragmas, "", nil
		}
		pragmas += "&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
		return SQLite, "file:" + path + "?" + pragmas, path, nil
	default:
		return "", "", "", fmt.Errorf("database URL %q: want postgres://… or sqlite:PATH", Redact(rawURL))
	}
}

// Redact hides the password of a database URL so that it can be shown or logged.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return rawURL
	}
	return u.Redacted()
}

// IsUniqueViolation reports whether err is a unique or primary-key constraint failure.
func IsUniqueViolation(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == "23505"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		c := sqErr.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// IsSerializationFailure reports whether err is a transaction conflict that a retry may fix
// (PostgreSQL serialization failure or deadlock, SQLite busy or locked).
func IsSerializationFailure(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == "40001" || pqErr.Code == "40P01"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		c := sqErr.Code() & 0xff
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	return false
}

// InTx runs fn in a transaction, committed when fn returns nil and rolled back otherwise. Errors
// of begin and commit are wrapped; fn's error is returned as it is.
func (db *DB) InTx(ctx context.Context, fn func(tx *sqlx.Tx) error) (err error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if v := recover(); v != nil {
			_ = tx.Rollback()
			panic(v)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// TryLock takes the named lock if no one holds it, so that a periodic job runs on one instance at
// a time: a PostgreSQL session advisory lock, held on a connection of its own until release is
// called. On SQLite, whose file belongs to one process, it always succeeds. ok is false when
// another session holds the lock.
func (db *DB) TryLock(ctx context.Context, name string) (release func(), ok bool, err error) {
	return db.lock(ctx, name, "SELECT pg_try_advisory_lock($1)")
}

// Lock takes the named lock, waiting while another session holds it (or until ctx is done), so
// that instances starting together take turns at a one-time step such as creating the first
// signing keys. On SQLite it returns at once.
func (db *DB) Lock(ctx context.Context, name string) (release func(), err error) {
	release, _, err = db.lock(ctx, name, "SELECT true FROM pg_advisory_lock($1)")
	return release, err
}

func (db *DB) lock(ctx context.Context, name, query string) (release func(), ok bool, err error) {
	if db.Dialect != Postgres {
		return func() {}, true, nil
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", name, err)
	}
	key := lockKey(name)
	if err := conn.QueryRowContext(ctx, query, key).Scan(&ok); err != nil || !ok {
		// A canceled wait may leave the lock granted to this session after all: do not return
		// the connection to the pool.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		conn.Close()
		if err != nil {
			return nil, false, fmt.Errorf("lock %s: %w", name, err)
		}
		return nil, false, nil
	}
	return func() {
		// Unlock with a fresh context: the caller's may be done. Closing the connection would
		// release the lock too, but the pool keeps connections open.
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(c, "SELECT pg_advisory_unlock($1)", key); err != nil {
			// The session may still hold the lock: close it rather than return it to the pool.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}, true, nil
}

// lockKey maps a lock name to a PostgreSQL advisory-lock key.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("gatehouse/lock/" + name))
	return int64(h.Sum64() &^ (1 << 63))
}
