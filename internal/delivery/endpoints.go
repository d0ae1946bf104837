package delivery

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// endpointCache keeps each application's active endpoints for a short
// while, so publishing under load does not query them for every message.
// Concurrent misses for one application share a single query.
type endpointCache struct {
	store interface {
		ActiveEndpoints(ctx context.Context, appID string) ([]herald.Endpoint, error)
	}
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]*endpointEntry
}

type endpointEntry struct {
	done chan struct{} // closed when loaded
	eps  []herald.Endpoint
	err  error
	at   time.Time
}

func newEndpointCache(s Store, ttl time.Duration, now func() time.Time) *endpointCache {
	return &endpointCache{store: s, ttl: ttl, now: now, m: make(map[string]*endpointEntry)}
}

// get returns the application's active endpoints. The slice is shared:
// callers must not modify it.
func (c *endpointCache) get(ctx context.Context, appID string) ([]herald.Endpoint, error) {
	c.mu.Lock()
	ent := c.m[appID]
	if ent != nil {
		select {
		case <-ent.done:
			if ent.err != nil || c.now().Sub(ent.at) >= c.ttl {
				ent = nil
			}
		default: // loading: wait for it
		}
	}
	if ent == nil {
		ent = &endpointEntry{done: make(chan struct{})}
		c.m[appID] = ent
		c.mu.Unlock()
		c.load(ctx, appID, ent)
	} else {
		c.mu.Unlock()
	}
	select {
	case <-ent.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if ent.err != nil {
		return nil, ent.err
	}
	return ent.eps, nil
}

// reload queries the application's endpoints now and caches them.
func (c *endpointCache) reload(ctx context.Context, appID string) ([]herald.Endpoint, error) {
	ent := &endpointEntry{done: make(chan struct{})}
	c.mu.Lock()
	c.m[appID] = ent
	c.mu.Unlock()
	c.load(ctx, appID, ent)
	return ent.eps, ent.err
}

func (c *endpointCache) load(ctx context.Context, appID string, ent *endpointEntry) {
	eps, err := c.store.ActiveEndpoints(ctx, appID)
	if err != nil {
		err = fmt.Errorf("active endpoints: %w", err)
	}
	ent.eps, ent.err, ent.at = eps, err, c.now()
	close(ent.done)
	if err != nil {
		c.mu.Lock()
		if c.m[appID] == ent {
			delete(c.m, appID)
		}
		c.mu.Unlock()
	}
}

// invalidate forgets the application's endpoints.
func (c *endpointCache) invalidate(appID string) {
	c.mu.Lock()
	delete(c.m, appID)
	c.mu.Unlock()
}
