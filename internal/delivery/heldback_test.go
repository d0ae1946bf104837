package delivery

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/fakeclock"
	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// TestSQLiteHeldBacklogDrainsOnceTheProbeSucceeds follows a down
// endpoint's backlog through a real store: while the circuit is open the
// deliveries that do not fit in memory wait at the circuit's RetryAt, out
// of the claims' way, and the successful probe makes them due at once.
func TestSQLiteHeldBacklogDrainsOnceTheProbeSucceeds(t *testing.T) {
	t.Parallel()
	var healthy atomic.Bool
	srv, got := sink(t, func(w http.ResponseWriter, _ int) {
		if healthy.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	ep := endpoint("ep_held", srv.URL)
	db := openSQLite(t, ep)
	clock := fakeclock.New(time.Now().Truncate(time.Millisecond))
	e := startSQLiteEngine(t, db, Config{Now: clock.Now, EndpointQueue: 4, EndpointConcurrency: 1,
		CircuitCooldown: 30 * time.Second, Policy: herald.Policy{Schedule: []time.Duration{time.Hour}, Jitter: -1}})
	ctx := context.Background()
	publish := func() *herald.Message {
		t.Helper()
		m := message("a", `{}`)
		if err := e.Publish(ctx, m); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		return m
	}

	// Five failures open the circuit; each waits an hour for its retry.
	var failed []*herald.Message
	for range 5 {
		failed = append(failed, publish())
	}
	for _, m := range failed {
		waitStatus(t, db, m.ID, ep.ID, herald.StatusSending)
	}
	stored, err := db.GetEndpoint(ctx, testApp, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	retryAt := stored.Circuit.RetryAt
	if stored.Circuit.State != herald.CircuitOpen {
		t.Fatalf("circuit after 5 failures: %+v, want open", stored.Circuit)
	}

	// One waits in memory for the probe, the rest go back to the
	// database: at RetryAt, not due now where every claim would walk past
	// them.
	var backlog []*herald.Message
	for range 20 {
		backlog = append(backlog, publish())
	}
	next := nextAttempts(t, db, ep.ID)
	spilled := 0
	for _, m := range backlog {
		switch at := next[m.ID]; {
		case at.Equal(retryAt):
			spilled++
		case !at.After(clock.Now()):
			t.Errorf("delivery of %s due at once while the circuit is open", m.ID)
		}
	}
	if spilled != 19 {
		t.Errorf("deliveries held until the circuit's RetryAt: %d, want 19, all but the probe's", spilled)
	}

	// The endpoint recovers; at the cool-down's end the probe succeeds
	// and the whole backlog is delivered, with no clock advance beyond.
	healthy.Store(true)
	clock.Advance(30 * time.Second)
	e.disp.resume(e.disp.lookup(ep.ID))
	for _, m := range backlog {
		waitStatus(t, db, m.ID, ep.ID, herald.StatusSuccess)
	}
	if n := len(got); n != len(failed)+len(backlog) {
		t.Errorf("requests: %d, want %d (the failures' own retries are not due yet)", n, len(failed)+len(backlog))
	}
	next = nextAttempts(t, db, ep.ID)
	for _, m := range failed {
		if want := m.CreatedAt.Add(time.Hour); next[m.ID].Before(want.Add(-time.Second)) {
			t.Errorf("retry of %s: at %v, want its own, an hour after its failure", m.ID, next[m.ID])
		}
	}
}

// nextAttempts maps the endpoint's messages to when their delivery is
// next due.
func nextAttempts(t *testing.T, db *sqlite.DB, endpointID string) map[string]time.Time {
	t.Helper()
	ems, err := db.ListEndpointMessages(context.Background(), testApp, endpointID, store.MessageFilter{Page: store.Page{Limit: 250}})
	if err != nil {
		t.Fatalf("list endpoint messages: %v", err)
	}
	next := make(map[string]time.Time, len(ems))
	for _, em := range ems {
		next[em.Message.ID] = em.NextAttemptAt
	}
	return next
}
