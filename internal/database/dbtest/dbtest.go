package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/migrations"
)

// Environment variables that configure the PostgreSQL tests.
const (
	// EnvDatabaseURL is the admin URL of a PostgreSQL server the tests may create databases on.
	EnvDatabaseURL = "GATEHOUSE_TEST_DATABASE_URL"
	// EnvRequire lists, comma-separated, the services whose tests must not skip ("postgres").
	EnvRequire = "GATEHOUSE_TEST_REQUIRE"
)

// NewSQLite returns a migrated SQLite database in a file under t.TempDir(), closed at cleanup.
// It is a file, not ":memory:", so that it has a connection pool and WAL like production.
func NewSQLite(t testing.TB) *database.DB {
	t.Helper()
	db, err := database.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := migrations.Up(t.Context(), db); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}
	return db
}

// NewPostgres returns a migrated, empty PostgreSQL database of its own: it creates
// gh_test_<random> through the admin URL in GATEHOUSE_TEST_DATABASE_URL and drops it at cleanup,
// after terminating its connections. It skips the test when the variable is unset, or fails it if
// GATEHOUSE_TEST_REQUIRE names postgres.
func NewPostgres(t testing.TB) *database.DB {
	t.Helper()
	adminURL := postgresURL(t)

	name := "gh_test_" + randomHex(t, 8)
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatalf("%s: %v", EnvDatabaseURL, err)
	}
	u.Path = "/" + name

	// name is our own [a-z0-9_] string: identifiers cannot be bound as parameters.
	adminExec(t, t.Context(), adminURL, "CREATE DATABASE "+name)
	t.Cleanup(func() {
		// t.Context() is already canceled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		adminExec(t, ctx, adminURL,
			"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"+name+"' AND pid <> pg_backend_pid()",
			"DROP DATABASE IF EXISTS "+name)
	})

	db, err := database.Open(t.Context(), u.String())
	if err != nil {
		t.Fatalf("open postgres test database: %v", err)
	}
	// Registered after the DROP, so it runs before it (cleanups run last in, first out).
	t.Cleanup(func() { db.Close() })
	if err := migrations.Up(t.Context(), db); err != nil {
		t.Fatalf("migrate postgres: %v", err)
	}
	return db
}

// Each runs fn once per backend, in the subtests "sqlite" and "postgres". fn receives the
// constructor for its backend, to call once per fresh database it needs. The postgres subtest
// skips (or fails, see NewPostgres) before calling fn when no server is configured.
func Each(t *testing.T, fn func(t *testing.T, newDB func(t *testing.T) *database.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, func(t *testing.T) *database.DB { return NewSQLite(t) })
	})
	t.Run("postgres", func(t *testing.T) {
		postgresURL(t)
		fn(t, func(t *testing.T) *database.DB { return NewPostgres(t) })
	})
}

// postgresURL returns the admin URL, or skips or fails the test when there is none.
func postgresURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvDatabaseURL); u != "" {
		return u
	}
	if Required("postgres") {
		t.Fatalf("%s is unset but %s=%q requires postgres", EnvDatabaseURL, EnvRequire, os.Getenv(EnvRequire))
	}
	t.Skipf("%s is unset: skipping PostgreSQL", EnvDatabaseURL)
	return ""
}

// Required reports whether GATEHOUSE_TEST_REQUIRE (a comma-separated list) names service: a
// test that cannot run without it then fails instead of skipping.
func Required(service string) bool {
	for s := range strings.SplitSeq(os.Getenv(EnvRequire), ",") {
		if strings.EqualFold(strings.TrimSpace(s), service) {
			return true
		}
	}
	return false
}

// adminExec runs statements, in order and outside any transaction, on the admin database.
func adminExec(t testing.TB, ctx context.Context, adminURL string, stmts ...string) {
	t.Helper()
	db, err := database.Open(ctx, adminURL)
	if err != nil {
		t.Fatalf("open postgres admin database: %v", err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("postgres admin: %s: %v", q, err)
		}
	}
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
