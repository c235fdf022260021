package policies

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
)

// TestStaleRecovers_F5_RB09: with a fake clock, an enforcer past its maximum staleness refuses
// (ErrStale) and decides again as soon as a Refresh reaches the database, even when there is no
// newer revision (the read of the latest revision confirms the held one).
func TestStaleRecovers_F5_RB09(t *testing.T) {
	db := dbtest.NewSQLite(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	e, err := NewEnforcer(t.Context(), db, WithMaxStale(time.Minute), WithPollInterval(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	e.now = func() time.Time { return time.Unix(0, now.Load()) }
	e.confirm()
	if _, err := e.Check("user:u", "/api/v1/todos", "GET"); err != nil {
		t.Fatal(err)
	}
	now.Add(int64(61 * time.Second))
	if _, err := e.Check("user:u", "/api/v1/todos", "GET"); !errors.Is(err, ErrStale) {
		t.Fatalf("past the limit: %v", err)
	}
	if err := e.Refresh(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Check("user:u", "/api/v1/todos", "GET"); err != nil {
		t.Fatalf("after a refresh: %v", err)
	}
}
