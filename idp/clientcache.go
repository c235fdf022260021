package idp

import (
	"context"
	"sync"
	"time"

	"github.com/ory/fosite"
)

// clientCacheTTL bounds how long a client read from storage is reused. Every token, introspection
// and revocation request authenticates a client, and the hot ones (machines, resource servers)
// repeat thousands of times a second; a second of reuse removes that round trip. A client that is
// disabled, deleted or given a new secret stops being served the old way within this time, on
// every instance.
const clientCacheTTL = time.Second

// maxCachedClients caps the cache; it is cleared when full (only known clients are cached, so
// only registered clients can fill it).
const maxCachedClients = 10000

// cachingStore is the Store handed to fosite: GetClient answers from a short-lived cache.
type cachingStore struct {
	Store
	mu      sync.RWMutex
	clients map[string]cachedClient
}

type cachedClient struct {
	client fosite.Client
	at     time.Time
}

func newCachingStore(s Store) *cachingStore {
	return &cachingStore{Store: s, clients: map[string]cachedClient{}}
}

// GetClient returns a client read at most clientCacheTTL ago. Errors are not cached.
func (s *cachingStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	now := time.Now()
	s.mu.RLock()
	c, ok := s.clients[id]
	s.mu.RUnlock()
	if ok && now.Sub(c.at) < clientCacheTTL {
		return c.client, nil
	}
	cl, err := s.Store.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.clients) >= maxCachedClients {
		clear(s.clients)
	}
	s.clients[id] = cachedClient{client: cl, at: now}
	s.mu.Unlock()
	return cl, nil
}
