package delivery

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// TestSQLiteOpenCircuitLeavesRoomForClaims: a queue whose circuit opens
// keeps only its probe's delivery in memory and hands the rest back to the
// store, held at the circuit's RetryAt. Kept in memory, they would count
// against MaxHeld for as long as the endpoint stays down, and the poller
// would claim nothing for any endpoint: here, an ordered endpoint of
// another application, which only claims feed.
func TestSQLiteOpenCircuitLeavesRoomForClaims(t *testing.T) {
	t.Parallel()
	firstIn := make(chan struct{})
	failFirst := make(chan struct{})
	dead, _ := sink(t, func(w http.ResponseWriter, n int) {
		if n == 1 {
			close(firstIn)
			<-failFirst
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	healthy, got := sink(t, ok)
	deadEP := endpoint("ep_blocked_dead", dead.URL)
	db := openSQLite(t, deadEP)
	ctx := context.Background()
	now := time.Now()
	if err := db.CreateApplication(ctx, &herald.Application{ID: "app_blocked_other", Name: "other", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatalf("create application: %v", err)
	}
	ordered := endpoint("ep_blocked_ordered", healthy.URL)
	ordered.AppID, ordered.Ordered, ordered.CreatedAt, ordered.UpdatedAt = "app_blocked_other", true, now, now
	if err := db.CreateEndpoint(ctx, &ordered); err != nil {
		t.Fatalf("create endpoint: %v", err)
	}
	e := startSQLiteEngine(t, db, Config{MaxHeld: 4, EndpointQueue: 10, EndpointConcurrency: 1,
		CircuitFailures: 1, CircuitCooldown: time.Hour, Policy: herald.Policy{Schedule: []time.Duration{time.Hour}, Jitter: -1}})
	publish := func(m *herald.Message) *herald.Message {
		t.Helper()
		if err := e.Publish(ctx, m); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		return m
	}

	// The first attempt hangs while six more queue behind it: more than
	// MaxHeld. Its failure opens the circuit for an hour.
	first := publish(message("a", `{}`))
	<-firstIn
	var queued []*herald.Message
	for range 6 {
		queued = append(queued, publish(message("a", `{}`)))
	}
	close(failFirst)
	waitStatus(t, db, first.ID, deadEP.ID, herald.StatusSending)
	stored, err := db.GetEndpoint(ctx, testApp, deadEP.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Circuit.State != herald.CircuitOpen {
		t.Fatalf("circuit after the failure: %+v, want open", stored.Circuit)
	}

	// The ordered endpoint's delivery goes through the database: only a
	// claim sends it.
	m := message("b", `{}`)
	m.AppID = ordered.AppID
	publish(m)
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatalf("ordered endpoint of another application got nothing: claims stopped with %d deliveries held (MaxHeld 4)",
			e.disp.held.Load())
	}

	// The room came from the blocked queue handing back all but its
	// probe's delivery, to wait at the circuit's RetryAt.
	next := nextAttempts(t, db, deadEP.ID)
	atRetry := 0
	for _, q := range queued {
		if next[q.ID].Equal(stored.Circuit.RetryAt) {
			atRetry++
		}
	}
	if atRetry != len(queued)-1 {
		t.Errorf("deliveries held at the circuit's RetryAt: %d, want %d (all but the probe's)", atRetry, len(queued)-1)
	}
}

// TestConcurrencyShareShrinksWhileServing: when more nodes join, this node
// falls back to its share of the endpoint's concurrency cap, even with its
// workers already serving the queue with the whole cap.
func TestConcurrencyShareShrinksWhileServing(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	arrived := make(chan struct{}, 100)
	var inFlight, most atomic.Int64
	srv, _ := sink(t, func(w http.ResponseWriter, _ int) {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		arrived <- struct{}{}
		<-gate
		inFlight.Add(-1)
		w.WriteHeader(http.StatusNoContent)
	})
	ep := endpoint("ep_share_shrinks", srv.URL)
	b := setup(t, Config{EndpointConcurrency: 4, Workers: 16}, ep)
	defer close(gate) // before Stop (a cleanup): let the last requests go
	var msgs []*herald.Message
	for range 20 {
		msgs = append(msgs, b.publish(t, message("a", `{}`)))
	}
	for range 4 {
		<-arrived
	}

	// A second node joins (as beatNode learns it): this node's share of
	// the cap of 4 is now 2.
	b.engine.share.Store(&share{index: 0, count: 2})
	for range 4 {
		gate <- struct{}{}
	}
	// The first two workers to finish give their tokens back; the other
	// two go on, so two more requests arrive only once the queue is down
	// to its share.
	for range 2 {
		<-arrived
	}
	q := b.engine.disp.lookup(ep.ID)
	q.mu.Lock()
	active := q.active
	q.mu.Unlock()
	if active != 2 {
		t.Fatalf("workers serving the endpoint after the share dropped: %d, want 2 (cap 4 over 2 nodes)", active)
	}

	// And it stays there to the end of the backlog.
	most.Store(inFlight.Load())
	for range len(msgs) - 4 { // the two in flight, and the rest
		gate <- struct{}{}
	}
	for _, m := range msgs {
		b.waitFinal(t, m.ID, ep.ID)
	}
	if n := most.Load(); n > 2 {
		t.Errorf("requests in flight at once after the share dropped: %d, want at most 2", n)
	}
}
