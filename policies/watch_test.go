package policies_test

import (
	"context"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/policies"
)

// urlOf returns the URL of the PostgreSQL test database db.
func urlOf(t *testing.T, db *database.DB) string {
	t.Helper()
	var name string
	if err := db.GetContext(t.Context(), &name, "SELECT current_database()"); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(os.Getenv(dbtest.EnvDatabaseURL))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// watching starts an enforcer of its own database handle watching url, as a resource server
// would; its poll is an hour, so only notifications (and reconnections) move it.
func watching(t *testing.T, dbURL string) *policies.Enforcer {
	t.Helper()
	db, err := database.Open(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	e, err := policies.NewEnforcer(t.Context(), db, policies.WithPollInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := e.Watch(ctx, dbURL); err != nil {
			t.Errorf("Watch: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait(); db.Close() })
	return e
}

// listeners counts the LISTEN connections on the database.
func listeners(t *testing.T, db *database.DB) int {
	t.Helper()
	var n int
	if err := db.GetContext(t.Context(), &n, "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND query ILIKE 'LISTEN%'", database.ListenApplicationName); err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// TestPropagationPostgres_RB09: a change through the Service reaches two enforcers on other
// database handles within a second, by NOTIFY; again after their listening connections were
// killed, including a change made while they were down (the reload after reconnecting).
func TestPropagationPostgres_RB09(t *testing.T) {
	db := dbtest.NewPostgres(t) // skips without PostgreSQL, fails when CI requires it
	dbURL := urlOf(t, db)
	s := policies.NewService(db, nil)
	a, b := watching(t, dbURL), watching(t, dbURL)
	waitFor(t, "two listeners", 5*time.Second, func() bool { return listeners(t, db) == 2 })

	user := "user:alice"
	var committed time.Time
	change := func(add bool) int64 {
		t.Helper()
		defer func() { committed = time.Now() }()
		ch := policies.Change{Add: []policies.Rule{policies.Assigning(user, "role:user")}}
		if !add {
			ch = policies.Change{Remove: ch.Add}
		}
		return mustApply(t, s, "user:root", ch).Number
	}
	seen := func(name string, rev int64, want bool) {
		t.Helper()
		for i, e := range []*policies.Enforcer{a, b} {
			waitFor(t, name, time.Second, func() bool { return e.Revision() >= rev })
			d := time.Since(committed)
			if d > time.Second {
				t.Errorf("%s: enforcer %d took %v", name, i, d)
			}
			if ok, _ := e.Enforce(user, "/api/v1/todos", "GET"); ok != want {
				t.Errorf("%s: enforcer %d decides %v at revision %d, want %v", name, i, ok, e.Revision(), want)
			}
			t.Logf("%s: enforcer %d at revision %d %v after the commit", name, i, rev, d)
		}
	}

	seen("notified grant", change(true), true)
	seen("notified revoke", change(false), false)

	// Kill the listening connections, then change at once, while they are down.
	res, err := db.ExecContext(t.Context(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 2 {
		t.Fatalf("terminated %d listeners, want 2", n)
	}
	seen("grant while the listeners were down", change(true), true)
	waitFor(t, "listeners back", 5*time.Second, func() bool { return listeners(t, db) == 2 })
	seen("revoke after reconnection", change(false), false)
}

// TestPollPropagation: without notifications (SQLite, or no listen URL) the periodic revision
// poll moves an enforcer.
func TestPollPropagation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		db := newDB(t)
		e, err := policies.NewEnforcer(t.Context(), db, policies.WithPollInterval(20*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- e.Watch(ctx, "") }()
		rev := mustApply(t, policies.NewService(db, nil), "cli:ops", policies.Change{Add: []policies.Rule{policies.Assigning("user:1", "role:user")}})
		waitFor(t, "poll", 2*time.Second, func() bool { return e.Revision() == rev.Number })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
