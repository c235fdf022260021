package web

import (
	"context"
	"time"
)

// Tarpit holds refused answers (over a rate limit, an account throttled, no password-check
// budget left) for a while before they are written. A person over a limit waits a second
// longer for a page that tells them to wait anyway; a bot that keeps a fixed number of
// connections busy, as credential-stuffing tools do, is slowed to that many attempts per delay
// instead of as many as the server can refuse, and the CPU it would have spent on refusals
// stays with the token endpoint and the API. A held request costs a parked goroutine and its
// connection; at most hold are held at once, and the rest are answered at once, so an attacker
// opening connections without bound pins a bounded amount of memory.
type Tarpit struct {
	delay time.Duration
	slots chan struct{}
}

// NewTarpit holds up to hold answers for delay each; a delay or hold of zero or less holds none.
func NewTarpit(delay time.Duration, hold int) *Tarpit {
	if delay <= 0 || hold <= 0 {
		return nil
	}
	return &Tarpit{delay: delay, slots: make(chan struct{}, hold)}
}

// Hold waits the delay unless every slot is taken or ctx ends first (the client went away, or
// the server is shutting down). A nil Tarpit returns at once.
func (t *Tarpit) Hold(ctx context.Context) {
	if t == nil {
		return
	}
	select {
	case t.slots <- struct{}{}:
	default:
		return
	}
	defer func() { <-t.slots }()
	timer := time.NewTimer(t.delay)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

// Held is how many answers are being held now.
func (t *Tarpit) Held() int {
	if t == nil {
		return 0
	}
	return len(t.slots)
}
