package dbtest

import (
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/database"
)

// TestEach checks that every backend's database is fresh and migrated.
func TestEach(t *testing.T) {
	Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		for i := range 2 {
			db := newDB(t)
			if _, err := db.ExecContext(t.Context(), "INSERT INTO oauth2_jtis (jti_hash, expires_at) VALUES ('j', 1)"); err != nil {
				t.Fatalf("database %d: insert into a migrated table: %v", i, err)
			}
			var n int
			if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM oauth2_jtis").Scan(&n); err != nil || n != 1 {
				t.Fatalf("database %d: %d rows, %v; want 1 row: each database is fresh", i, n, err)
			}
		}
	})
}

// TestNewPostgresDrops checks that the database NewPostgres created is gone after the test.
func TestNewPostgresDrops(t *testing.T) {
	adminURL := postgresURL(t)
	var name string
	t.Run("create", func(t *testing.T) {
		db := NewPostgres(t)
		if err := db.QueryRowContext(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "gh_test_") {
			t.Errorf("database name %q, want gh_test_…", name)
		}
	})
	admin, err := database.Open(t.Context(), adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRowContext(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d databases named %q after the test, %v; want 0", n, name, err)
	}
}
