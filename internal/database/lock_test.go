package database_test

import (
	"testing"

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
