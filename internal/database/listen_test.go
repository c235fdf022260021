package database_test

import (
	"context"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
)

func next(t *testing.T, ch <-chan database.Notification) database.Notification {
	t.Helper()
	select {
	case n, ok := <-ch:
		if !ok {
			t.Fatal("the channel closed")
		}
		return n
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	return database.Notification{}
}

// TestListen delivers NOTIFY payloads, a Reconnected after the connection is killed, and
// closes when its context ends.
func TestListen(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		db := newDB(t)
		if db.Dialect != database.Postgres {
			if _, err := database.Listen(t.Context(), "sqlite::memory:", "c"); err == nil {
				t.Error("Listen on SQLite succeeded")
			}
			return
		}
		var name string
		if err := db.GetContext(t.Context(), &name, "SELECT current_database()"); err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(os.Getenv(dbtest.EnvDatabaseURL))
		u.Path = "/" + name
		ctx, cancel := context.WithCancel(t.Context())
		ch, err := database.Listen(ctx, u.String(), "gh_test")
		if err != nil {
			t.Fatal(err)
		}
		if n := next(t, ch); !n.Reconnected {
			t.Fatalf("first event = %+v, want Reconnected", n)
		}
		if _, err := db.ExecContext(t.Context(), "SELECT pg_notify('gh_test', '42')"); err != nil {
			t.Fatal(err)
		}
		if n := next(t, ch); n.Payload != "42" {
			t.Fatalf("event = %+v, want payload 42", n)
		}
		if _, err := db.ExecContext(t.Context(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1", database.ListenApplicationName); err != nil {
			t.Fatal(err)
		}
		if n := next(t, ch); !n.Reconnected {
			t.Fatalf("event after the kill = %+v, want Reconnected", n)
		}
		if _, err := db.ExecContext(t.Context(), "SELECT pg_notify('gh_test', '43')"); err != nil {
			t.Fatal(err)
		}
		if n := next(t, ch); n.Payload != "43" {
			t.Fatalf("event = %+v, want payload 43", n)
		}
		cancel()
		for range ch {
		}
	})
}

// TestListenUnreachable returns at once for a server that is down, and stops with its context.
func TestListenUnreachable(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	start := time.Now()
	ch, err := database.Listen(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable", "c")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Listen took %v", d)
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("an event from an unreachable server")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the channel did not close after the context ended")
	}
}
