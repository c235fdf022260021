package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/idp"
)

// racers is how many goroutines race in each race test.
const racers = 50

// race runs fn(i) for i in [0, n) in n goroutines released at once, and returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func testRaceInvalidateAuthorizeCode(t *testing.T, f Factory) {
	for _, tt := range []struct {
		name string
		tx   bool // as fosite's token endpoint does: in a transaction, committed on success
	}{
		{"autocommit", false},
		{"in transaction", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, clk := newStore(t, f, defaultGrace)
			ctx := t.Context()
			c := createClient(t, st, "web")
			req := newRequest(c, "req-1", newSession("alice", "web", clk.Now()), clk.Now())
			if err := st.CreateAuthorizeCodeSession(ctx, "code-1", req); err != nil {
				t.Fatalf("CreateAuthorizeCodeSession = %v", err)
			}

			errs := race(racers, func(int) error {
				if !tt.tx {
					return st.InvalidateAuthorizeCodeSession(ctx, "code-1")
				}
				txCtx, err := st.BeginTX(ctx)
				if err != nil {
					return err
				}
				if err := st.InvalidateAuthorizeCodeSession(txCtx, "code-1"); err != nil {
					return errors.Join(err, st.Rollback(txCtx))
				}
				return st.Commit(txCtx)
			})
			wins := 0
			for i, err := range errs {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode):
					t.Errorf("redemption %d: InvalidateAuthorizeCodeSession = %v, want nil or ErrInvalidatedAuthorizeCode", i, err)
				}
			}
			if wins != 1 {
				t.Errorf("%d of %d concurrent redemptions of one code succeeded, want exactly 1", wins, racers)
			}
			got, err := st.GetAuthorizeCodeSession(ctx, "code-1", idp.NewSession())
			wantErr(t, "GetAuthorizeCodeSession(redeemed)", err, fosite.ErrInvalidatedAuthorizeCode)
			checkRequest(t, got, req)
		})
	}
}

func testRaceRefreshRotation(t *testing.T, f Factory) {
	for _, tt := range []struct {
		name  string
		grace time.Duration
	}{
		{"grace window", 10 * time.Second},
		{"no grace window", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, clk := newStore(t, f, tt.grace)
			ctx := t.Context()
			issueGrant(t, st, clk)

			errs := race(racers, func(i int) error {
				return refresh(ctx, st, "rt-0", fmt.Sprintf("at-%d", i+1), fmt.Sprintf("rt-%d", i+1), clk.Now())
			})
			ok := 0
			for i, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, fosite.ErrInactiveToken), errors.Is(err, fosite.ErrNotFound),
					errors.Is(err, fosite.ErrSerializationFailure):
					// fosite answers these with invalid_grant or invalid_request ("retry").
				default:
					t.Errorf("refresh %d = %v, want nil or a fosite sentinel error", i+1, err)
				}
			}
			t.Logf("%d of %d refreshes succeeded", ok, racers)
			// Without a grace window only the first rotation succeeds; with one, every refresh
			// that sees the token within the window may succeed, each superseding the last.
			if ok == 0 || tt.grace == 0 && ok != 1 {
				t.Errorf("%d of %d concurrent refreshes succeeded, want 1 (no grace) or at least 1 (grace)", ok, racers)
			}

			// Past the grace window, only tokens that are still active are accepted.
			clk.Advance(tt.grace + time.Second)
			wantRefresh(t, st, "rt-0", fosite.ErrInactiveToken, "req-1")
			wantAccess(t, st, "at-0", fosite.ErrNotFound)
			var activeRT, activeAT []int
			for i := 1; i <= racers; i++ {
				_, err := st.GetRefreshTokenSession(ctx, fmt.Sprintf("rt-%d", i), idp.NewSession())
				switch {
				case err == nil:
					activeRT = append(activeRT, i)
				case !errors.Is(err, fosite.ErrInactiveToken) && !errors.Is(err, fosite.ErrNotFound):
					t.Errorf("GetRefreshTokenSession(rt-%d) = %v", i, err)
				}
				_, err = st.GetAccessTokenSession(ctx, fmt.Sprintf("at-%d", i), idp.NewSession())
				switch {
				case err == nil:
					activeAT = append(activeAT, i)
				case !errors.Is(err, fosite.ErrNotFound):
					t.Errorf("GetAccessTokenSession(at-%d) = %v", i, err)
				}
			}
			if len(activeRT) != 1 {
				t.Fatalf("active refresh tokens of the grant after %d concurrent refreshes: %v, want exactly one", racers, activeRT)
			}
			if len(activeAT) != 1 || activeAT[0] != activeRT[0] {
				t.Errorf("access tokens of the grant: %v, want only the one issued with refresh token %d", activeAT, activeRT[0])
			}
		})
	}
}

func testRaceClientAssertionJTI(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()
	errs := race(racers, func(int) error {
		return st.SetClientAssertionJWT(ctx, "jti-race", clk.Now().Add(time.Minute))
	})
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, fosite.ErrJTIKnown):
			t.Errorf("SetClientAssertionJWT %d = %v, want nil or ErrJTIKnown", i, err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent uses of one jti were accepted, want exactly 1", ok, racers)
	}
}
