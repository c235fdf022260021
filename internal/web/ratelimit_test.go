package web_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"

	"github.com/gatehouse-id/gatehouse/internal/web"
)

func deny(w http.ResponseWriter, _ *http.Request, status int) { http.Error(w, "limited", status) }

// limited is a handler behind ClientIPs (no trusted proxies) and a limit of n per minute.
func limited(t *testing.T, n int64, store limiter.Store, log *slog.Logger) http.Handler {
	t.Helper()
	rate, err := web.ParseRate("test rate", strconv.FormatInt(n, 10)+"-M")
	if err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	return web.ClientIPs(nil)(web.NewLimit("test", store, rate, log).ByIP(deny)(ok))
}

func send(h http.Handler, remote string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/login", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestRateLimitHeaders_RL01: every counted request carries RateLimit-*; the one over the limit
// is a 429 with Retry-After in seconds.
func TestRateLimitHeaders_RL01(t *testing.T) {
	h := limited(t, 2, web.NewMemoryLimitStore(), nil)
	for i, want := range []string{"1", "0"} {
		w := send(h, "192.0.2.1:1000")
		if w.Code != http.StatusNoContent || w.Header().Get("RateLimit-Limit") != "2" || w.Header().Get("RateLimit-Remaining") != want {
			t.Fatalf("request %d: %d %v", i, w.Code, w.Header())
		}
		if reset, err := strconv.Atoi(w.Header().Get("RateLimit-Reset")); err != nil || reset < 1 || reset > 60 {
			t.Fatalf("RateLimit-Reset %q", w.Header().Get("RateLimit-Reset"))
		}
	}
	w := send(h, "192.0.2.1:1001")
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("third request: %d", w.Code)
	}
	if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
	}
	if w.Header().Get("RateLimit-Remaining") != "0" {
		t.Fatalf("RateLimit-Remaining %q", w.Header().Get("RateLimit-Remaining"))
	}
	if w := send(h, "192.0.2.2:1000"); w.Code != http.StatusNoContent {
		t.Fatalf("another address is limited too: %d", w.Code)
	}
}

// TestRateLimitSpoofedHeaders_RL02: with no trusted proxy, forwarding headers change nothing.
func TestRateLimitSpoofedHeaders_RL02(t *testing.T) {
	h := limited(t, 2, web.NewMemoryLimitStore(), nil)
	for i := range 3 {
		fake := "198.51.100." + strconv.Itoa(i+1)
		w := send(h, "192.0.2.9:4000", "X-Forwarded-For", fake, "X-Real-IP", fake, "True-Client-IP", fake,
			"CF-Connecting-IP", fake, "Forwarded", "for="+fake)
		if want := map[bool]int{true: http.StatusTooManyRequests, false: http.StatusNoContent}[i == 2]; w.Code != want {
			t.Fatalf("request %d: %d, want %d", i, w.Code, want)
		}
	}
}

// TestRateLimitIPv6_RL03: addresses in one /64 share a counter, another /64 does not, and an
// IPv4-mapped IPv6 peer is counted with its IPv4 address.
func TestRateLimitIPv6_RL03(t *testing.T) {
	h := limited(t, 3, web.NewMemoryLimitStore(), nil)
	for i, remote := range []string{"[2001:db8:1:2::1]:443", "[2001:db8:1:2:ffff:1:2:3]:443", "[2001:db8:1:2:abcd::9%eth0]:1"} {
		if w := send(h, remote); w.Code != http.StatusNoContent {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	if w := send(h, "[2001:db8:1:2:8000::42]:443"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("fourth address of the /64: %d", w.Code)
	}
	if w := send(h, "[2001:db8:1:3::1]:443"); w.Code != http.StatusNoContent {
		t.Fatalf("another /64: %d", w.Code)
	}

	for i, remote := range []string{"192.0.2.7:1", "[::ffff:192.0.2.7]:2", "[::ffff:c000:207]:3"} {
		if w := send(h, remote); w.Code != http.StatusNoContent {
			t.Fatalf("IPv4 request %d: %d", i, w.Code)
		}
	}
	if w := send(h, "[::ffff:192.0.2.7]:4"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("IPv4-mapped address counted apart from IPv4: %d", w.Code)
	}

	for in, want := range map[string]string{
		"2001:db8::1": "2001:db8::/64", "::ffff:10.0.0.1": "10.0.0.1", "10.0.0.1": "10.0.0.1", "fe80::1%eth0": "fe80::/64",
	} {
		if got := web.IPKey(in); got != want {
			t.Errorf("IPKey(%q) = %q, want %q", in, got, want)
		}
	}
}

type failingStore struct{ limiter.Store }

func (failingStore) Get(context.Context, string, limiter.Rate) (limiter.Context, error) {
	return limiter.Context{}, errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
}

type countHandler struct {
	slog.Handler
	n *atomic.Int64
}

func (c countHandler) Enabled(context.Context, slog.Level) bool { return true }

func (c countHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		c.n.Add(1)
	}
	return nil
}

// TestRateLimitStoreDown_RL04: a failing store refuses with 503 and Retry-After (fail closed),
// and the failure is logged once, not per request.
func TestRateLimitStoreDown_RL04(t *testing.T) {
	var errs atomic.Int64
	log := slog.New(countHandler{Handler: slog.DiscardHandler, n: &errs})
	h := limited(t, 100, failingStore{}, log)
	for range 3 {
		w := send(h, "192.0.2.1:1")
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Fatalf("store down: %d %v", w.Code, w.Header())
		}
	}
	if errs.Load() != 1 {
		t.Fatalf("logged %d errors, want 1", errs.Load())
	}
}

// TestRateLimitKeyCap: a long attacker-chosen key (a client_id) is counted by its hash.
func TestRateLimitKeyCap(t *testing.T) {
	store := &recordingStore{Store: web.NewMemoryLimitStore()}
	rate, _ := web.ParseRate("r", "5-M")
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	h := web.NewLimit("client", store, rate, slog.New(slog.DiscardHandler)).By(func(r *http.Request) string { return r.Header.Get("K") }, deny)(ok)
	send(h, "192.0.2.1:1", "K", strings.Repeat("x", 5000))
	if len(store.last) > 100 || !strings.HasPrefix(store.last, "client:") {
		t.Fatalf("counted key %q", store.last)
	}
	send(h, "192.0.2.1:1", "K", "web-1")
	if store.last != "client:web-1" {
		t.Fatalf("counted key %q", store.last)
	}
}

type recordingStore struct {
	limiter.Store
	last string
}

func (s *recordingStore) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	s.last = key
	return s.Store.Get(ctx, key, rate)
}

func TestParseRate(t *testing.T) {
	for _, bad := range []string{"", "10", "ten-M", "10-X", "0-M", "-1-M"} {
		if _, err := web.ParseRate("GATEHOUSE_LOGIN_RATE", bad); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_LOGIN_RATE") {
			t.Errorf("ParseRate(%q) = %v", bad, err)
		}
	}
	if r, err := web.ParseRate("x", "10-M"); err != nil || r.Limit != 10 {
		t.Fatalf("10-M: %v %v", r, err)
	}
}

// TestRateLimitWindowResets_RL01: the counter starts again after the window.
func TestRateLimitWindowResets_RL01(t *testing.T) {
	rate, _ := web.ParseRate("r", "1-S")
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	h := web.ClientIPs(nil)(web.NewLimit("w", web.NewMemoryLimitStore(), rate, slog.New(slog.DiscardHandler)).ByIP(deny)(ok))
	if w := send(h, "192.0.2.1:1"); w.Code != http.StatusOK {
		t.Fatalf("first: %d", w.Code)
	}
	if w := send(h, "192.0.2.1:1"); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("second: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	time.Sleep(1100 * time.Millisecond)
	if w := send(h, "192.0.2.1:1"); w.Code != http.StatusOK {
		t.Fatalf("after the window: %d", w.Code)
	}
}
