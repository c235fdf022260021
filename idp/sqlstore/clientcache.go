package sqlstore

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/idp"
)

// maxCachedClients caps the client cache; it is cleared when full. Only clients that exist are
// cached, so only registered clients can fill it.
const maxCachedClients = 10000

// clientCache keeps clients read from the database for a short time (see WithClientCache).
type clientCache struct {
	ttl     time.Duration
	mu      sync.RWMutex
	clients map[string]cachedClient
}

type cachedClient struct {
	client *idp.Client
	at     time.Time
}

func newClientCache(ttl time.Duration) *clientCache {
	return &clientCache{ttl: ttl, clients: map[string]cachedClient{}}
}

// get returns the client, disabled or not, from the cache or through read. Errors are not cached.
func (c *clientCache) get(ctx context.Context, id string, read func(ctx context.Context, id string) (*idp.Client, error)) (*idp.Client, error) {
	if c.ttl <= 0 {
		return read(ctx, id)
	}
	now := time.Now()
	c.mu.RLock()
	e, ok := c.clients[id]
	c.mu.RUnlock()
	if ok && now.Sub(e.at) < c.ttl {
		return e.client, nil
	}
	cl, err := read(ctx, id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.clients) >= maxCachedClients {
		clear(c.clients)
	}
	c.clients[id] = cachedClient{client: cl, at: now}
	c.mu.Unlock()
	return cl, nil
}
