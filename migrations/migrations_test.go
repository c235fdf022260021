package migrations_test

import (
	"context"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/migrations"
)

// TestConcurrentUpPostgres starts four instances' migrations at once on an empty PostgreSQL
// database: the advisory lock makes them take turns, so all succeed and every set is applied
// once.
func TestConcurrentUpPostgres(t *testing.T) {
	admin := os.Getenv(dbtest.EnvDatabaseURL)
	if admin == "" {
		if dbtest.Required("postgres") {
			t.Fatalf("%s is not set but %s requires postgres", dbtest.EnvDatabaseURL, dbtest.EnvRequire)
		}
		t.Skipf("%s is not set: skipping the PostgreSQL test (GATEHOUSE_TEST_REQUIRE=postgres makes this fail)", dbtest.EnvDatabaseURL)
	}
	ctx := t.Context()
	adminDB, err := database.Open(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer adminDB.Close()
	name := "gh_test_migr_" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	if _, err := adminDB.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = adminDB.ExecContext(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
		_, _ = adminDB.ExecContext(c, "DROP DATABASE IF EXISTS "+name)
	})
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := database.Open(ctx, u.String())
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			errs[i] = migrations.Up(ctx, db)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	db, err := database.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := migrations.List(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if !s.Applied {
			t.Errorf("%s %d not applied", s.Set, s.Version)
		}
	}
}
