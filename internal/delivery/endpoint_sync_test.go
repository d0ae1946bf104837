package delivery

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
)

// syncNodes is two nodes on one PostgreSQL schema: a, whose API changes
// the endpoint, and c, which holds its deliveries in memory.
type syncNodes struct {
	dbA  *postgres.DB
	a, c *Engine
	ep   herald.Endpoint
}

// startSyncNode starts an engine that polls often and reloads its busy
// applications' endpoints every 100 ms, so the test is quick.
func startSyncNode(t *testing.T, cfg Config) *Engine {
	t.Helper()
	cfg.PollInterval = 20 * time.Millisecond
	cfg.EndpointConcurrency = 1
	return startEngine2(t, cfg, func(e *Engine) { e.poll.syncEvery = 100 * time.Millisecond })
}

// newSyncNodes creates the endpoint at url and starts both nodes, c
// knowing of a.
func newSyncNodes(t *testing.T, epID, url string) *syncNodes {
	t.Helper()
	dbA, dbC, ep := twoNodes(t, epID, url)
	a := startSyncNode(t, Config{NodeID: "node_a", Store: dbA})
	waitFor(t, "node a to join the nodes", func() bool { return a.share.Load() != nil })
	c := startSyncNode(t, Config{NodeID: "node_c", Store: dbC})
	waitFor(t, "node c to see two nodes", func() bool { return c.nodeShare().count == 2 })
	return &syncNodes{dbA: dbA, a: a, c: c, ep: ep}
}

// publishHeld publishes n messages through c: the first is in flight to
// the hanging endpoint (got receives it), the rest wait in c's queue.
func (s *syncNodes) publishHeld(t *testing.T, n int, got chan received) []*herald.Message {
	t.Helper()
	var msgs []*herald.Message
	for i := range n {
		m := message("a", `{}`)
		if err := s.c.Publish(context.Background(), m); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		msgs = append(msgs, m)
		if i == 0 {
			<-got
		}
	}
	waitQueue(t, s.c, s.ep.ID, func(q *epQueue) bool { return len(q.jobs)-q.head == n-1 })
	return msgs
}

// changeOnA changes the endpoint through node a, as its API does.
func (s *syncNodes) changeOnA(t *testing.T, change func(ep *herald.Endpoint)) {
	t.Helper()
	_, err := s.dbA.UpdateEndpoint(context.Background(), testApp, s.ep.ID, func(ep *herald.Endpoint) error {
		change(ep)
		ep.UpdatedAt = time.Now()
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateEndpoint: %v", err)
	}
	s.a.InvalidateEndpoints(testApp)
}

// statuses returns the messages' delivery statuses to the endpoint.
func (s *syncNodes) statuses(t *testing.T, msgs []*herald.Message) []herald.MessageStatus {
	t.Helper()
	out := make([]herald.MessageStatus, len(msgs))
	for i, m := range msgs {
		dests, err := s.dbA.ListMessageDestinations(context.Background(), testApp, m.ID, store.Page{Limit: 10})
		if err != nil || len(dests) != 1 {
			t.Fatalf("destinations of %s: %v, %d", m.ID, err, len(dests))
		}
		out[i] = dests[0].Status
	}
	return out
}

// TestPostgresEndpointDisabledOnOtherNode disables an endpoint through
// node a while node c holds its deliveries in memory: c learns it from its
// own poll, and cancels them instead of sending them.
func TestPostgresEndpointDisabledOnOtherNode(t *testing.T) {
	t.Parallel()
	url, got, release := hanging(t)
	s := newSyncNodes(t, "ep_sync_off", url)
	msgs := s.publishHeld(t, 10, got)

	s.changeOnA(t, func(ep *herald.Endpoint) { ep.Disabled = true })
	// Node c hears nothing from a: only its poll can tell it.
	waitQueue(t, s.c, s.ep.ID, func(q *epQueue) bool { return q.gone })
	release()
	waitFor(t, "node c to let go of every delivery", func() bool { return s.c.disp.held.Load() == 0 })

	if n := len(got); n != 0 {
		t.Errorf("node c sent %d requests after it learned the endpoint was disabled, want none", n)
	}
	for i, st := range s.statuses(t, msgs[1:]) {
		if st != herald.StatusCanceled {
			t.Errorf("queued delivery %d: status %v, want canceled", i+1, st)
		}
	}
}

// TestPostgresEndpointURLChangedOnOtherNode changes an endpoint's URL
// through node a while node c holds its deliveries in memory: they go to
// the new URL.
func TestPostgresEndpointURLChangedOnOtherNode(t *testing.T) {
	t.Parallel()
	oldURL, gotOld, release := hanging(t)
	newSrv, gotNew := sink(t, ok)
	s := newSyncNodes(t, "ep_sync_url", oldURL)
	msgs := s.publishHeld(t, 5, gotOld)

	s.changeOnA(t, func(ep *herald.Endpoint) { ep.URL = newSrv.URL })
	waitQueue(t, s.c, s.ep.ID, func(q *epQueue) bool { return q.ep != nil && q.ep.URL == newSrv.URL })
	release()
	waitFor(t, "every delivery to succeed", func() bool {
		for _, st := range s.statuses(t, msgs) {
			if st != herald.StatusSuccess {
				return false
			}
		}
		return true
	})

	if n := len(gotOld); n != 0 {
		t.Errorf("old URL got %d more requests, want only the one in flight before the change", n)
	}
	if n := len(gotNew); n != len(msgs)-1 {
		t.Errorf("new URL got %d requests, want %d", n, len(msgs)-1)
	}
}

// startFakeSyncNode starts an engine on a fake store that polls every 5 ms
// and may reload a busy application's endpoints at every poll, as one of
// nodes if given. release lets the endpoint's requests go before it stops.
func startFakeSyncNode(t *testing.T, s Store, nodes *share, release func()) *Engine {
	t.Helper()
	e, err := New(Config{Store: s, AllowNetworks: loopback, PollInterval: 5 * time.Millisecond, EndpointConcurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if nodes != nil {
		e.share.Store(nodes)
	}
	e.poll.syncEvery = time.Millisecond
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		release()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	})
	return e
}

// countEndpoints counts the queries for an application's endpoints.
type countEndpoints struct {
	*memStore
	n atomic.Int64
}

func (s *countEndpoints) ActiveEndpoints(ctx context.Context, appID string) ([]herald.Endpoint, error) {
	s.n.Add(1)
	return s.memStore.ActiveEndpoints(ctx, appID)
}

// TestEndpointSyncSingleNode checks that a node alone on its database
// does not reload the endpoints of its queued deliveries: its own API
// tells it of every change.
func TestEndpointSyncSingleNode(t *testing.T) {
	t.Parallel()
	url, got, release := hanging(t)
	mem := newMemStore()
	mem.addEndpoint(endpoint("ep_alone", url))
	s := &countEndpoints{memStore: mem}
	e := startFakeSyncNode(t, s, nil, release)
	for i := range 5 {
		if err := e.Publish(context.Background(), message("a", `{}`)); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if i == 0 {
			<-got
		}
	}
	queries := s.n.Load()
	// Twenty polls with deliveries queued, each past the sync interval.
	mem.mu.Lock()
	claims := mem.claims
	mem.mu.Unlock()
	mem.waitFor(t, "twenty polls", func() bool { return mem.claims >= claims+20 })
	if n := s.n.Load() - queries; n != 0 {
		t.Errorf("a lone node queried endpoints %d times while polling, want none", n)
	}
}

// syncLog records, in order, the applications whose endpoints were
// queried, and how many had been at each claim.
type syncLog struct {
	*memStore
	mu      sync.Mutex
	queries []string
	atClaim []int
}

func (s *syncLog) ActiveEndpoints(ctx context.Context, appID string) ([]herald.Endpoint, error) {
	s.mu.Lock()
	s.queries = append(s.queries, appID)
	s.mu.Unlock()
	return s.memStore.ActiveEndpoints(ctx, appID)
}

func (s *syncLog) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.Job, error) {
	s.mu.Lock()
	s.atClaim = append(s.atClaim, len(s.queries))
	s.mu.Unlock()
	return s.memStore.Claim(ctx, owner, now, lease, limit)
}

// TestEndpointSyncBounded holds deliveries of more applications than a
// poll reloads: each poll reloads at most endpointSyncBatch of them, and
// the least recently synced go first, so every one is reloaded within two
// polls.
func TestEndpointSyncBounded(t *testing.T) {
	t.Parallel()
	const apps = endpointSyncBatch + 8
	url, got, release := hanging(t)
	mem := newMemStore()
	for i := range apps {
		ep := endpoint(fmt.Sprintf("ep_busy_%d", i), url)
		ep.AppID = fmt.Sprintf("app_busy_%d", i)
		mem.addEndpoint(ep)
	}
	s := &syncLog{memStore: mem}
	e := startFakeSyncNode(t, s, &share{index: 0, count: 2}, release) // the fake has no node list
	for i := range apps {
		for range 2 { // one in flight, one queued
			m := message("a", `{}`)
			m.AppID = fmt.Sprintf("app_busy_%d", i)
			if err := e.Publish(context.Background(), m); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
		<-got
	}
	s.mu.Lock()
	published := len(s.queries)
	s.mu.Unlock()

	var queries []string
	var atClaim []int
	mem.waitFor(t, "every application reloaded", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		queries, atClaim = slices.Clone(s.queries[published:]), slices.Clone(s.atClaim)
		seen := make(map[string]bool)
		for _, app := range queries {
			seen[app] = true
		}
		return len(seen) == apps
	})
	// The polls after the publishes, which queried for themselves.
	polls := []int{published}
	for _, n := range atClaim {
		if n >= published {
			polls = append(polls, n)
		}
	}
	for i := 1; i < len(polls); i++ {
		if n := polls[i] - polls[i-1]; n > endpointSyncBatch {
			t.Fatalf("%d endpoint queries in one poll, want at most %d", n, endpointSyncBatch)
		}
	}
	// Least recently synced first: none is reloaded a third time before
	// every one was reloaded once.
	count := make(map[string]int)
	for _, app := range queries {
		if count[app]++; count[app] > 2 {
			t.Fatalf("%s reloaded %d times before every application once", app, count[app])
		}
		if len(count) == apps {
			break
		}
	}
}
