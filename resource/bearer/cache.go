package bearer

import (
	"crypto/sha256"
	"slices"
	"sync"
	"time"
)

// DefaultCacheSize is how many verified tokens a Verifier remembers when Config.CacheSize is 0.
const DefaultCacheSize = 10000

// tokenCache remembers tokens that passed verification, keyed by the SHA-256 of the compact
// token, so that a client sending the same token again costs a hash and a lookup instead of a
// signature check (ES256 verification is ~100 µs, most of a request). An entry is used only
// while the token has not expired (exp with the leeway, as Verify) and while the key that
// verified it is still in the usable key set: a key removed from the issuer's JWKS, or a key
// set past MaxStale, stops its cached tokens at once; so does a kid republished with other key
// material (the entry remembers the key's RFC 7638 thumbprint, review F14). The cache holds at most size entries;
// when full, an insert evicts an arbitrary entry (Go's map order) so that a flood of distinct
// valid tokens cannot grow it. Entries and the Principals handed out share no memory: the
// slices are copied on the way in and on the way out, so a handler that edits its Principal's
// Scopes or Audience in place changes no other request's (review F14).
type tokenCache struct {
	mu      sync.RWMutex
	size    int
	entries map[[sha256.Size]byte]cachedToken
}

type cachedToken struct {
	p       Principal
	kid     string
	thumb   string    // the verifying key's thumbprint
	expires time.Time // exp plus the leeway
}

func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	return &tokenCache{size: size, entries: make(map[[sha256.Size]byte]cachedToken, min(size, 1024))}
}

// get returns the cached principal of the token hashed to key, if it may still be used.
func (c *tokenCache) get(key [sha256.Size]byte, now time.Time, ks *keySet) (*Principal, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok {
		return nil, false
	}
	if now.After(e.expires) {
		c.mu.Lock()
		delete(c.entries, key)
		c.mu.Unlock()
		return nil, false
	}
	if k, ok := ks.lookup(e.kid, now); !ok || k.thumb != e.thumb {
		return nil, false
	}
	return e.p.clone(), true // a deep copy: a handler that changes its Principal changes no one else's
}

// clone returns a copy of p that shares no memory with it.
func (p *Principal) clone() *Principal {
	c := *p
	c.Scopes = slices.Clone(p.Scopes)
	c.Audience = slices.Clone(p.Audience)
	return &c
}

func (c *tokenCache) put(key [sha256.Size]byte, p *Principal, k publicKey, kid string, expires time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.size {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = cachedToken{p: *p.clone(), kid: kid, thumb: k.thumb, expires: expires}
}

// len returns the number of cached tokens (tests).
func (c *tokenCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
