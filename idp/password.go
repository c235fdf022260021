package idp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Argon2Params are argon2id cost parameters.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultArgon2 is one of the OWASP Password Storage Cheat Sheet's argon2id configurations,
// which it calls equally strong (m=47104 t=1, m=19456 t=2, m=12288 t=3, m=9216 t=4, m=7168
// t=5): the smallest memory, 7 MiB with 5 passes. It costs as much CPU as 19 MiB with 2
// passes (measured: 19 ms against 26 ms per hash here), but each hash a login flood forces
// allocates, clears and streams through less than half the memory, so the peak RSS while
// people sign in falls from 183 MB to 117 MB and a flood evicts less of the cache the other
// requests use. Hashes made under other parameters still verify and are rehashed at the next
// sign-in.
var DefaultArgon2 = Argon2Params{Memory: 7 * 1024, Time: 5, Threads: 1}

// ErrHasherBusy is returned when every hashing slot is taken and the queue is full.
var ErrHasherBusy = errors.New("password hashing is saturated")

// PasswordHasher hashes and verifies passwords with argon2id, under a concurrency bound so that a
// flood of logins cannot starve the rest of the server.
type PasswordHasher struct {
	params Argon2Params
	slots  chan struct{}
	queue  chan struct{}
	dummy  string
	// verified counts Verify calls that reached the hash (RL-01: a limited login costs none).
	verified atomic.Int64
	// beforeHash, when set, runs in a hashing slot before each Hash and Verify: tests hold
	// slots with it to fill the queue deterministically (export_test.go).
	beforeHash func()
}

// Pending is how many hashes are running or waiting for a slot.
func (h *PasswordHasher) Pending() int { return len(h.queue) }

// Saturated reports whether the queue is full, so that a login can be refused (503) before any
// other work is done for it: under a flood, most attempts end here without a database write.
// Verify still decides: this is only a shortcut, and racy by nature.
func (h *PasswordHasher) Saturated() bool { return len(h.queue) == cap(h.queue) }

// Verifications is how many passwords Verify has checked.
func (h *PasswordHasher) Verifications() int64 { return h.verified.Load() }

// NewPasswordHasher returns a hasher running at most `workers` hashes at once (default: the
// number of CPUs) with at most `queue` waiting (default 4 × workers).
func NewPasswordHasher(p Argon2Params, workers, queue int) *PasswordHasher {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if queue <= 0 {
		queue = 4 * workers
	}
	h := &PasswordHasher{params: p, slots: make(chan struct{}, workers), queue: make(chan struct{}, queue+workers)}
	h.dummy = h.hash([]byte("gatehouse dummy password for unknown users"))
	return h
}

func (h *PasswordHasher) acquire(ctx context.Context) (func(), error) {
	select {
	case h.queue <- struct{}{}:
	default:
		return nil, ErrHasherBusy
	}
	select {
	case h.slots <- struct{}{}:
		return func() { <-h.slots; <-h.queue }, nil
	case <-ctx.Done():
		<-h.queue
		return nil, ctx.Err()
	}
}

// Hash returns a PHC-format argon2id hash of the password.
func (h *PasswordHasher) Hash(ctx context.Context, password string) (string, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	if h.beforeHash != nil {
		h.beforeHash()
	}
	var out string
	background(func() { out = h.hash(normalizePassword(password)) })
	return out, nil
}

// background runs fn on a new goroutine locked to an OS thread of its own whose scheduling
// priority is lowered (SCHED_IDLE on Linux, see lowerThreadPriority), and waits for it.
// Password hashes are the one CPU-heavy thing a caller can trigger at will: at low priority a
// flood of logins gets only the CPU that token requests and API calls leave idle, instead of
// starving them, while hashing at full speed on an idle machine. The other side of the trade:
// while requests keep every core busy, hashes wait, and logins get 503 once the queue is full;
// plan capacity with headroom. The goroutine exits still locked, so the thread (and its
// priority) ends with it; a thread start costs microseconds against a hash's tens of
// milliseconds. The priority only helps when the OS has more runnable threads than cores:
// `gatehouse serve` gives the Go runtime a P per hashing worker on top of one per core, so a
// hash never holds a P that requests need.
func background(fn func()) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		lowerThreadPriority()
		fn()
		close(done)
	}()
	<-done
}

func (h *PasswordHasher) hash(pw []byte) string {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		panic(err)
	}
	p := h.params
	key := argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Verify reports whether password matches encoded (argon2id, or bcrypt for imported users) and
// whether the hash should be replaced with one under the current parameters. An empty encoded
// hash (unknown user) costs the same as a real one and never matches (AN-02).
func (h *PasswordHasher) Verify(ctx context.Context, encoded, password string) (ok, rehash bool, err error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer release()
	if h.beforeHash != nil {
		h.beforeHash()
	}
	h.verified.Add(1)
	background(func() { ok, rehash = h.verify(encoded, password) })
	return ok, rehash, nil
}

// verify is Verify's work, on the hashing thread.
func (h *PasswordHasher) verify(encoded, password string) (ok, rehash bool) {
	pw := normalizePassword(password)
	if encoded == "" {
		_, _ = h.verifyArgon2(h.dummy, pw)
		return false, false
	}
	if strings.HasPrefix(encoded, "$2a$") || strings.HasPrefix(encoded, "$2b$") || strings.HasPrefix(encoded, "$2y$") {
		if len(pw) > 72 {
			return false, false // bcrypt would compare a truncation (AN-05)
		}
		return bcrypt.CompareHashAndPassword([]byte(encoded), pw) == nil, true
	}
	ok, params := h.verifyArgon2(encoded, pw)
	if !ok {
		// Hashes made before NFKC used NFC; the two differ only for compatibility characters
		// (fullwidth forms, ligatures), so this second hash is rare. A match is rehashed.
		if legacy := legacyNormalizePassword(password); !bytes.Equal(legacy, pw) {
			ok, _ = h.verifyArgon2(encoded, legacy)
			return ok, ok
		}
	}
	return ok, ok && params != h.params
}

func (h *PasswordHasher) verifyArgon2(encoded string, pw []byte) (bool, Argon2Params) {
	var p Argon2Params
	var version int
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, p
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, p
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false, p
	}
	if p.Memory > 1<<21 || p.Time > 64 || p.Threads == 0 { // refuse absurd costs from a bad row
		return false, p
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false, p
	}
	got := argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, p
}
