package api

import (
	"context"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// appCacheMax bounds the cache; past it the cache starts over.
const appCacheMax = 10000

// appCache keeps looked-up applications for a short time, so the publish
// path usually costs no store round trip before the publish itself. This
// node forgets an application as soon as it changes; other nodes see the
// change within the TTL.
type appCache struct {
	ttl time.Duration // <= 0: no caching
	now func() time.Time

	mu      sync.Mutex
	entries map[string]appEntry // by the ID or UID it was looked up with
	// gen counts forgets. A lookup caches its result only if no forget ran
	// since its read began: that read may predate the change forgotten.
	gen uint64
}

type appEntry struct {
	app     *herald.Application
	expires time.Time
}

func newAppCache(ttl time.Duration, now func() time.Time) *appCache {
	return &appCache{ttl: ttl, now: now, entries: make(map[string]appEntry)}
}

// get returns the application with the given ID or UID. The result is
// shared: callers must not modify it.
func (c *appCache) get(ctx context.Context, st store.Applications, idOrUID string) (*herald.Application, error) {
	if c.ttl <= 0 {
		return st.GetApplication(ctx, idOrUID)
	}
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[idOrUID]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.app, nil
	}
	app, err := st.GetApplication(ctx, idOrUID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(c.entries) >= appCacheMax {
			clear(c.entries)
		}
		c.entries[idOrUID] = appEntry{app: app, expires: now.Add(c.ttl)}
	}
	c.mu.Unlock()
	return app, nil
}

// forget drops every entry of the application.
func (c *appCache) forget(appID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if e.app.ID == appID {
			delete(c.entries, k)
		}
	}
}
