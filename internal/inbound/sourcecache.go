package inbound

import (
	"context"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// sourceCache keeps looked-up sources with their built verifiers for a
// short while, so a busy source costs no database read and no verifier
// construction per request. A change to a source (a rotated secret) is
// seen within the TTL.
type sourceCache struct {
	sources Sources
	ttl     time.Duration // <= 0: no caching
	now     func() time.Time

	mu sync.Mutex
	m  map[string]cachedSource
}

type cachedSource struct {
	src *store.Source
	ver *Verifier
	cfg VerifierConfig
	at  time.Time
}

// maxCachedSources bounds the cache; past it, it starts afresh.
const maxCachedSources = 1024

func newSourceCache(sources Sources, ttl time.Duration, now func() time.Time) *sourceCache {
	return &sourceCache{sources: sources, ttl: ttl, now: now, m: make(map[string]cachedSource)}
}

// get returns the source named by id or uid with its verifier. A source
// whose verifier cannot be built returns errBadVerifier wrapped.
func (c *sourceCache) get(ctx context.Context, name string) (cachedSource, error) {
	now := c.now()
	if c.ttl > 0 {
		c.mu.Lock()
		e, ok := c.m[name]
		c.mu.Unlock()
		if ok && now.Sub(e.at) < c.ttl {
			return e, nil
		}
	}
	src, err := c.sources.GetSource(ctx, name)
	if err != nil {
		return cachedSource{}, err
	}
	ver, cfg, err := SourceVerifier(src, c.now)
	if err != nil {
		return cachedSource{src: src}, &badVerifierError{err}
	}
	e := cachedSource{src: src, ver: ver, cfg: cfg, at: now}
	if c.ttl > 0 {
		c.mu.Lock()
		if len(c.m) >= maxCachedSources {
			clear(c.m)
		}
		c.m[name] = e
		c.mu.Unlock()
	}
	return e, nil
}

// badVerifierError means a stored source's verifier cannot be built.
type badVerifierError struct{ err error }

func (e *badVerifierError) Error() string { return e.err.Error() }
func (e *badVerifierError) Unwrap() error { return e.err }
