package database_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
)

// TestTryLock lets one holder at a time take a named lock on PostgreSQL; SQLite always grants it.
func TestTryLock(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		db := newDB(t)
		release, ok, err := db.TryLock(t.Context(), "job")
		if err != nil || !ok {
			t.Fatalf("first TryLock = %v %v, want the lock", ok, err)
		}
		_, ok2, err := db.TryLock(t.Context(), "job")
		if err != nil {
			t.Fatal(err)
		}
		if want := db.Dialect != database.Postgres; ok2 != want {
			t.Errorf("second TryLock while held = %v, want %v", ok2, want)
		}
		if _, ok3, _ := db.TryLock(t.Context(), "other job"); !ok3 {
			t.Error("another name's lock is not free")
		}
		release()
		release4, ok4, err := db.TryLock(t.Context(), "job")
		if err != nil || !ok4 {
			t.Fatalf("TryLock after release = %v %v, want the lock", ok4, err)
		}
		release4()
	})
}

// TestLockWaits: Lock waits for the holder on PostgreSQL, and gives up when its context ends.
func TestLockWaits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		db := newDB(t)
		release, err := db.Lock(t.Context(), "init")
		if err != nil {
			t.Fatal(err)
		}
		if db.Dialect != database.Postgres {
			release()
			return
		}
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		if _, err := db.Lock(ctx, "init"); err == nil {
			t.Fatal("Lock while held returned before its context ended")
		}
		got := make(chan error, 1)
		go func() {
			r, err := db.Lock(t.Context(), "init")
			if err == nil {
				r()
			}
			got <- err
		}()
		select {
		case err := <-got:
			t.Fatalf("second Lock returned %v while the first holds it", err)
		case <-time.After(300 * time.Millisecond):
		}
		release()
		select {
		case err := <-got:
			if err != nil {
				t.Fatalf("second Lock after release: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("second Lock did not get the lock after release")
		}
	})
}
