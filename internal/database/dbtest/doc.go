// Package dbtest gives tests a fresh, migrated database on each backend Gatehouse supports.
//
// NewSQLite opens a SQLite file in t.TempDir(); NewPostgres creates a uniquely named database on
// the server named by GATEHOUSE_TEST_DATABASE_URL and drops it when the test ends. Both apply
// every migration set, and take a testing.TB so that benchmarks can use them too. Each runs a test
// once per backend, as subtests "sqlite" and "postgres".
//
// Without GATEHOUSE_TEST_DATABASE_URL the PostgreSQL tests skip, unless GATEHOUSE_TEST_REQUIRE
// names postgres (CI sets both), in which case they fail: PostgreSQL never skips silently.
package dbtest
