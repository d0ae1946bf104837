package api

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// pausingStore holds the next GetApplication or GetEventType, once armed,
// after the store has answered it, until release is closed: the request
// has read the row and not yet used it.
type pausingStore struct {
	store.Store
	mu      sync.Mutex
	armed   bool
	read    chan struct{}
	release chan struct{}
}

func newPausingStore(st store.Store) *pausingStore {
	return &pausingStore{Store: st, read: make(chan struct{}), release: make(chan struct{})}
}

func (s *pausingStore) arm() {
	s.mu.Lock()
	s.armed = true
	s.mu.Unlock()
}

func (s *pausingStore) pause() {
	s.mu.Lock()
	hold := s.armed
	s.armed = false
	s.mu.Unlock()
	if hold {
		close(s.read)
		<-s.release
	}
}

func (s *pausingStore) GetApplication(ctx context.Context, idOrUID string) (*herald.Application, error) {
	app, err := s.Store.GetApplication(ctx, idOrUID)
	s.pause()
	return app, err
}

func (s *pausingStore) GetEventType(ctx context.Context, name string) (*herald.EventType, error) {
	et, err := s.Store.GetEventType(ctx, name)
	s.pause()
	return et, err
}

// A lookup that read the application before this node changed or deleted
// it must not cache what it read: the node would serve the old row for
// the whole TTL.
func TestAppCacheForgetDuringLookup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(b *bundle)
		check  func(t *testing.T, b *bundle)
	}{
		{"delete", func(b *bundle) { b.call(t, "DELETE", "/api/v1/app/acme", nil).want(t, 204) }, func(t *testing.T, b *bundle) {
			b.call(t, "GET", "/api/v1/app/acme", nil).want(t, 404)
			b.call(t, "POST", "/api/v1/app/acme/msg", map[string]any{"eventType": "a", "payload": map[string]any{}}).want(t, 404)
		}},
		{"patch", func(b *bundle) {
			b.call(t, "PATCH", "/api/v1/app/acme", map[string]any{"name": "Renamed"}).want(t, 200)
		}, func(t *testing.T, b *bundle) {
			if got := b.call(t, "GET", "/api/v1/app/acme", nil).want(t, 200).obj(t)["name"]; got != "Renamed" {
				t.Errorf("got name %v after PATCH, want Renamed", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var st *pausingStore
			b := setup(t, func(c *Config) {
				st = newPausingStore(c.Store)
				c.Store = st
				c.AppCacheTTL = time.Minute
			})
			b.createApp(t, "Acme", "acme")
			st.arm()
			done := make(chan response)
			go func() { done <- b.callAs(t, b.token, "GET", "/api/v1/app/acme", nil, nil) }()
			<-st.read // the GET has read the row and not cached it yet
			tc.change(b)
			close(st.release)
			(<-done).want(t, 200) // it began before the change
			tc.check(t, b)
		})
	}
}
