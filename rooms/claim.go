package rooms

import (
	"context"
	"sync"
	"time"
)

// Claimer remembers keys for a while, for every node: the first Claim of a key reports
// true, later ones within ttl false. The HTTP publish endpoint claims each request's
// Idempotency-Key with it, so a retried publish is delivered once whichever node takes
// the retry. The Redis and NATS adapters implement it in their brokers;
// [NewMemoryClaimer] in the process, for one node.
type Claimer interface {
	Claim(ctx context.Context, key string, ttl time.Duration) (first bool, err error)
}

// NewMemoryClaimer returns a [Claimer] kept in this process.
func NewMemoryClaimer() Claimer { return &memClaimer{keys: make(map[string]time.Time)} }

type memClaimer struct {
	mu   sync.Mutex
	keys map[string]time.Time // key -> expiry
	n    int                  // claims since the last sweep
}

func (c *memClaimer) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n++; c.n >= 1024 { // sweep now and then: the map holds live keys only
		c.n = 0
		for k, exp := range c.keys {
			if now.After(exp) {
				delete(c.keys, k)
			}
		}
	}
	if exp, ok := c.keys[key]; ok && now.Before(exp) {
		return false, nil
	}
	c.keys[key] = now.Add(ttl)
	return true, nil
}
