package policies_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/policies"
)

// TestMaxStaleFailsClosed_F5_RB09: a watching enforcer cut off from its policy database (its
// handle closed under it) keeps deciding until its maximum staleness, then fails closed:
// every Check is a denial with ErrStale (a resource server answers 503), and Fresh reports it
// for readiness. Measured: the time from the cut to the first ErrStale is within the bound.
func TestMaxStaleFailsClosed_F5_RB09(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		db := newDB(t)
		mustApply(t, policies.NewService(db, nil), "cli:ops", policies.Change{Add: []policies.Rule{policies.Allowing("user:u", "/api/v1/todos", "GET")}})
		const poll, maxStale = 20 * time.Millisecond, 300 * time.Millisecond
		e, err := policies.NewEnforcer(t.Context(), db, policies.WithPollInterval(poll), policies.WithMaxStale(maxStale))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { _ = e.Watch(ctx, "") })
		defer func() { cancel(); wg.Wait() }()
		time.Sleep(2 * maxStale) // polls keep it fresh
		if d, err := e.Check("user:u", "/api/v1/todos", "GET"); err != nil || !d.Allowed {
			t.Fatalf("fresh enforcer: %+v %v", d, err)
		}
		cut := time.Now()
		db.Close()
		for {
			d, err := e.Check("user:u", "/api/v1/todos", "GET")
			if errors.Is(err, policies.ErrStale) {
				if d.Allowed || !errors.Is(e.Fresh(), policies.ErrStale) {
					t.Fatalf("stale but %+v, Fresh %v", d, e.Fresh())
				}
				took := time.Since(cut)
				if took > maxStale+10*poll {
					t.Fatalf("stale after %v, limit %v", took, maxStale)
				}
				t.Logf("fails closed %v after the cut (max stale %v)", took.Truncate(time.Millisecond), maxStale)
				return
			}
			if err != nil || !d.Allowed {
				t.Fatalf("before the limit: %+v %v", d, err)
			}
			if time.Since(cut) > 5*time.Second {
				t.Fatal("never went stale")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// TestMaxStaleOptions_F5: a maximum staleness not longer than the poll interval is refused.
func TestMaxStaleOptions_F5(t *testing.T) {
	db := dbtest.NewSQLite(t)
	if _, err := policies.NewEnforcer(t.Context(), db, policies.WithPollInterval(time.Minute), policies.WithMaxStale(time.Minute)); err == nil {
		t.Fatal("max stale = poll accepted")
	}
}
