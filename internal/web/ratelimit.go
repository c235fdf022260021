package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"
	redisstore "github.com/ulule/limiter/v3/drivers/store/redis"
)

// DenyFunc writes the body of a refused request. The status (429 over the limit, 503 when the
// limit store fails) and the Retry-After and RateLimit-* headers are already set.
type DenyFunc func(w http.ResponseWriter, r *http.Request, status int)

// Limit counts requests per key in a ulule/limiter store. Keys are prefixed with the limit's
// name, so limits sharing a store never share counters.
type Limit struct {
	name    string
	lim     *limiter.Limiter
	log     *slog.Logger
	failing atomic.Bool // the store failed on the last request: log the failure once
}

// NewLimit is a limit named name (the key prefix) allowing rate requests per key.
func NewLimit(name string, store limiter.Store, rate limiter.Rate, log *slog.Logger) *Limit {
	return &Limit{name: name, lim: limiter.New(store, rate), log: log}
}

// Rate is the limit's rate.
func (l *Limit) Rate() limiter.Rate { return l.lim.Rate }

// ByIP counts every request per client IP as ClientIPs resolved it (never from a header read
// here, RL-02), IPv6 per /64 and IPv4-mapped IPv6 as IPv4 (RL-03).
func (l *Limit) ByIP(deny DenyFunc) func(http.Handler) http.Handler {
	return l.By(func(r *http.Request) string { return IPKey(ClientIP(r.Context())) }, deny)
}

// By counts every request per key(r); a request whose key is "" is not counted. Keys longer
// than 64 bytes are counted by their SHA-256, so a caller cannot grow the store's keys.
func (l *Limit) By(key func(*http.Request) string, deny DenyFunc) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := key(r)
			if k == "" {
				next.ServeHTTP(w, r)
				return
			}
			if len(k) > 64 {
				sum := sha256.Sum256([]byte(k))
				k = "sha256:" + hex.EncodeToString(sum[:16])
			}
			c, err := l.lim.Get(r.Context(), l.name+":"+k)
			if err != nil {
				// Fail closed (RL-04): without a count, nothing is guessed or hashed.
				if !l.failing.Swap(true) {
					l.log.Error("rate limit store failed: refusing limited requests", "limit", l.name, "err", err)
				}
				w.Header().Set("Retry-After", "5")
				w.Header().Set("Cache-Control", "no-store")
				deny(w, r, http.StatusServiceUnavailable)
				return
			}
			if l.failing.Swap(false) {
				l.log.Info("rate limit store recovered", "limit", l.name)
			}
			h := w.Header()
			reset := max(c.Reset-time.Now().Unix(), 1)
			h.Set("RateLimit-Limit", strconv.FormatInt(c.Limit, 10))
			h.Set("RateLimit-Remaining", strconv.FormatInt(c.Remaining, 10))
			h.Set("RateLimit-Reset", strconv.FormatInt(reset, 10))
			if c.Reached {
				h.Set("Retry-After", strconv.FormatInt(reset, 10))
				h.Set("Cache-Control", "no-store")
				deny(w, r, http.StatusTooManyRequests)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// IPKey is the counting key of a client address: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by
// its /64, which is what one subscriber usually holds (RFC 6177). Anything else is used as is.
func IPKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// ParseRate parses a rate in ulule's "N-P" format (P is S, M, H or D, e.g. "10-M"); setting
// names the setting in the error.
func ParseRate(setting, v string) (limiter.Rate, error) {
	r, err := limiter.NewRateFromFormatted(v)
	if err != nil || r.Limit <= 0 {
		return limiter.Rate{}, fmt.Errorf("%s %q: want requests-period such as 10-M (period S, M, H or D)", setting, v)
	}
	return r, nil
}

// NewMemoryLimitStore is a per-process limit store.
func NewMemoryLimitStore() limiter.Store {
	return memory.NewStoreWithOptions(limiter.StoreOptions{Prefix: "gatehouse", CleanUpInterval: time.Minute})
}

// NewRedisLimitStore is a limit store in Redis, shared by every instance that uses the same
// URL and prefix. It connects lazily: while Redis cannot be reached every call fails, and the
// limits fail closed. Close the returned client on shutdown.
func NewRedisLimitStore(rawURL, prefix string) (limiter.Store, *redis.Client, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("GATEHOUSE_REDIS_URL: %v", redactRedisErr(err))
	}
	// Short timeouts: a limited request waits on Redis, and a dead Redis must fail fast.
	if opt.DialTimeout == 0 {
		opt.DialTimeout = 2 * time.Second
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = time.Second
	}
	if opt.WriteTimeout == 0 {
		opt.WriteTimeout = time.Second
	}
	opt.MaxRetries = 1
	quietRedisOnce.Do(func() { redis.SetLogger(quietRedis{}) })
	client := redis.NewClient(opt)
	if prefix == "" {
		prefix = "gatehouse"
	}
	return &lazyRedisStore{client: client, prefix: prefix}, client, nil
}

// go-redis logs every failed dial to stderr; the limits log a store failure once instead.
var quietRedisOnce sync.Once

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// redactRedisErr drops the URL (and any password in it) from a parse error.
func redactRedisErr(err error) string {
	return "not a valid redis:// or rediss:// URL (" + fmt.Sprintf("%T", err) + ")"
}

// lazyRedisStore builds ulule's Redis store (which loads its Lua scripts when built) on first
// use, and again after a failure, so that Redis being down at start is a runtime failure.
type lazyRedisStore struct {
	client *redis.Client
	prefix string
	mu     sync.Mutex
	store  limiter.Store
}

func (s *lazyRedisStore) get() (limiter.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store != nil {
		return s.store, nil
	}
	st, err := redisstore.NewStoreWithOptions(s.client, limiter.StoreOptions{Prefix: s.prefix})
	if err != nil {
		return nil, err
	}
	s.store = st
	return st, nil
}

func (s *lazyRedisStore) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	st, err := s.get()
	if err != nil {
		return limiter.Context{}, err
	}
	return st.Get(ctx, key, rate)
}

func (s *lazyRedisStore) Peek(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	st, err := s.get()
	if err != nil {
		return limiter.Context{}, err
	}
	return st.Peek(ctx, key, rate)
}

func (s *lazyRedisStore) Reset(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	st, err := s.get()
	if err != nil {
		return limiter.Context{}, err
	}
	return st.Reset(ctx, key, rate)
}

func (s *lazyRedisStore) Increment(ctx context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	st, err := s.get()
	if err != nil {
		return limiter.Context{}, err
	}
	return st.Increment(ctx, key, count, rate)
}
