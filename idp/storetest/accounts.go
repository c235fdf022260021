package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/idp"
)

// testLoginThrottle pins the per-account throttle (RL-05): Free attempts at once, then one
// attempt per delay, doubling to the cap; a reset forgets the count; keys are apart.
func testLoginThrottle(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()
	p := idp.ThrottlePolicy{Free: 3, Base: time.Second, Max: 4 * time.Second}
	take := func(key string) (bool, time.Time) {
		t.Helper()
		ok, at, err := st.TakeLoginAttempt(ctx, key, p)
		if err != nil {
			t.Fatalf("TakeLoginAttempt(%s) = %v", key, err)
		}
		return ok, at
	}
	for i := range 3 {
		if ok, _ := take("k"); !ok {
			t.Fatalf("free attempt %d refused", i+1)
		}
	}
	ok, at := take("k")
	if ok || !at.Equal(clk.Now().Add(time.Second)) {
		t.Fatalf("4th attempt at once = %v, retry at %v; want refused until now+1s (%v)", ok, at, clk.Now().Add(time.Second))
	}
	if ok, _ := take("other"); !ok {
		t.Fatalf("another key was throttled")
	}
	// The delay doubles per admitted attempt up to the cap: 1s, 2s, 4s, 4s.
	for _, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		clk.Advance(d - time.Millisecond)
		if ok, _ := take("k"); ok {
			t.Fatalf("admitted %s before the delay %s passed", d-time.Millisecond, d)
		}
		clk.Advance(time.Millisecond)
		if ok, _ := take("k"); !ok {
			t.Fatalf("refused after the delay %s passed", d)
		}
	}
	if err := st.ResetLoginAttempts(ctx, "k"); err != nil {
		t.Fatalf("ResetLoginAttempts = %v", err)
	}
	if err := st.ResetLoginAttempts(ctx, "never-seen"); err != nil {
		t.Fatalf("ResetLoginAttempts(unknown) = %v", err)
	}
	for i := range 3 {
		if ok, _ := take("k"); !ok {
			t.Fatalf("after reset: free attempt %d refused", i+1)
		}
	}
	// A policy whose first delay is already the cap (a CASE with a single step).
	flat := idp.ThrottlePolicy{Free: 1, Base: time.Minute, Max: time.Minute}
	for i, want := range []bool{true, false} {
		if ok, _, err := st.TakeLoginAttempt(ctx, "flat", flat); err != nil || ok != want {
			t.Fatalf("flat policy, attempt %d = %v, %v; want %v", i+1, ok, err, want)
		}
	}
	// A quiet key is forgotten by DeleteExpired after idp.ThrottleMemory.
	clk.Advance(idp.ThrottleMemory + time.Minute)
	if _, err := st.DeleteExpired(ctx, clk.Now()); err != nil {
		t.Fatalf("DeleteExpired = %v", err)
	}
	for i := range 3 {
		if ok, _ := take("k"); !ok {
			t.Fatalf("after DeleteExpired: free attempt %d refused", i+1)
		}
	}
}

// testRaceLoginThrottle: 100 concurrent attempts on one key at one instant admit exactly Free
// (RL-05: parallel guesses cannot get past the policy).
func testRaceLoginThrottle(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	p := idp.ThrottlePolicy{Free: 5, Base: time.Minute, Max: 15 * time.Minute}
	var admitted, failed atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 100 {
		wg.Go(func() {
			<-start
			ok, _, err := st.TakeLoginAttempt(t.Context(), "alice", p)
			switch {
			case err != nil:
				t.Errorf("TakeLoginAttempt = %v", err)
				failed.Add(1)
			case ok:
				admitted.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if admitted.Load() != 5 || failed.Load() != 0 {
		t.Fatalf("%d of 100 concurrent attempts admitted (%d errors), want exactly 5", admitted.Load(), failed.Load())
	}
	clk.Advance(time.Minute)
	admitted.Store(0)
	for range 20 {
		wg.Go(func() {
			if ok, _, err := st.TakeLoginAttempt(t.Context(), "alice", p); err == nil && ok {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if admitted.Load() != 1 {
		t.Fatalf("after the first delay %d concurrent attempts admitted, want 1", admitted.Load())
	}
}

// testUserTokens pins the single-use links: stored by hash, read without use, consumed once,
// refused when expired or for another purpose, deleted per user and purpose and with the user.
func testUserTokens(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()
	alice := createUser(t, st, "alice@example.com")
	now := clk.Now()
	mk := func(hash, purpose string, ttl time.Duration) {
		t.Helper()
		if err := st.CreateUserToken(ctx, &idp.UserToken{Hash: hash, UserID: alice.ID, Purpose: purpose, ExpiresAt: now.Add(ttl)}); err != nil {
			t.Fatalf("CreateUserToken(%s) = %v", hash, err)
		}
	}
	mk("v1", idp.PurposeVerifyEmail, time.Hour)
	mk("r1", idp.PurposeResetPassword, time.Minute)
	mk("r2", idp.PurposeResetPassword, time.Hour)
	if err := st.CreateUserToken(ctx, &idp.UserToken{Hash: "v1", UserID: alice.ID, Purpose: idp.PurposeVerifyEmail, ExpiresAt: now.Add(time.Hour)}); !errors.Is(err, idp.ErrConflict) {
		t.Fatalf("CreateUserToken(duplicate) = %v, want ErrConflict", err)
	}
	if _, err := st.GetUserToken(ctx, "v1", idp.PurposeResetPassword); !errors.Is(err, idp.ErrNotFound) {
		t.Fatalf("GetUserToken(other purpose) = %v, want ErrNotFound", err)
	}
	got, err := st.GetUserToken(ctx, "v1", idp.PurposeVerifyEmail)
	if err != nil || got.UserID != alice.ID || !got.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("GetUserToken = %+v, %v", got, err)
	}
	if _, err := st.ConsumeUserToken(ctx, "v1", idp.PurposeResetPassword); !errors.Is(err, idp.ErrNotFound) {
		t.Fatalf("ConsumeUserToken(other purpose) = %v, want ErrNotFound", err)
	}
	if got, err := st.ConsumeUserToken(ctx, "v1", idp.PurposeVerifyEmail); err != nil || got.UserID != alice.ID {
		t.Fatalf("ConsumeUserToken = %+v, %v", got, err)
	}
	if _, err := st.ConsumeUserToken(ctx, "v1", idp.PurposeVerifyEmail); !errors.Is(err, idp.ErrNotFound) {
		t.Fatalf("ConsumeUserToken(again) = %v, want ErrNotFound", err)
	}
	clk.Advance(2 * time.Minute)
	if _, err := st.ConsumeUserToken(ctx, "r1", idp.PurposeResetPassword); !errors.Is(err, idp.ErrNotFound) {
		t.Fatalf("ConsumeUserToken(expired) = %v, want ErrNotFound", err)
	}
	if _, err := st.GetUserToken(ctx, "r1", idp.PurposeResetPassword); !errors.Is(err, idp.ErrNotFound) {
		t.Fatalf("GetUserToken(expired) = %v, want ErrNotFound", err)
	}
	// Concurrent redemptions: exactly one wins.
	mk("r3", idp.PurposeResetPassword, time.Hour)
	var wins atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := st.ConsumeUserToken(t.Context(), "r3", idp.PurposeResetPassword); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, idp.ErrNotFound) {
				t.Errorf("ConsumeUserToken(concurrent) = %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent redemptions of one token succeeded, want 1", wins.Load())
	}
	mk("v2", idp.PurposeVerifyEmail, time.Hour)
	if err := st.DeleteUserTokens(ctx, alice.ID, idp.PurposeResetPassword); err != nil {
		t.Fatalf("DeleteUserTokens = %v", err)
	}
	if _, err := st.GetUserToken(ctx, "r2", idp.PurposeResetPassword); !errors.Is(err, idp.ErrNotFound) {
		t.Fatalf("reset token survived DeleteUserTokens: %v", err)
	}
	if _, err := st.GetUserToken(ctx, "v2", idp.PurposeVerifyEmail); err != nil {
		t.Fatalf("DeleteUserTokens(reset) removed a verification token: %v", err)
	}
	clk.Advance(2 * time.Hour)
	if _, err := st.DeleteExpired(ctx, clk.Now()); err != nil {
		t.Fatalf("DeleteExpired = %v", err)
	}
}
