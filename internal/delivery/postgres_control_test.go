package delivery

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// TestPostgresCircuitAcrossNodes runs two nodes on one database: the
// circuit node A opens holds node B back too, and after the cool-down the
// two nodes send one probe between them. The clock is real: the engines'
// pauses run on timers.
func TestPostgresCircuitAcrossNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var (
		healthy atomic.Bool
		hold    = make(chan struct{})
		once    sync.Once
	)
	srv, got := sink(t, func(w http.ResponseWriter, n int) {
		if n == 6 {
			<-hold // the probe: keep it out while the test looks
		}
		if healthy.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	release := func() { once.Do(func() { close(hold) }) }
	t.Cleanup(release)
	dbA, dbB, ep := twoNodes(t, "ep_pg_circuit", srv.URL)
	const cooldown = time.Second
	cfg := func(node string, db Store) Config {
		return Config{NodeID: node, Store: db, EndpointConcurrency: 2, CircuitCooldown: cooldown,
			Policy: herald.Policy{Schedule: []time.Duration{time.Hour}}}
	}
	nodeA := startEngine2(t, cfg("node_a", dbA))
	nodeB := startEngine2(t, cfg("node_b", dbB))
	publish := func(e *Engine) *herald.Message {
		t.Helper()
		m := message("a", `{}`)
		if err := e.Publish(ctx, m); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		return m
	}

	for range 5 {
		publish(nodeA)
	}
	for range 5 {
		<-got
	}
	var opened herald.Circuit
	waitFor(t, "node a to open the circuit", func() bool {
		stored, err := dbB.GetEndpoint(ctx, testApp, ep.ID)
		opened = stored.Circuit
		return err == nil && opened.State == herald.CircuitOpen
	})

	// Node B has never sent to the endpoint, yet it holds back; node A has
	// work waiting too.
	later := []*herald.Message{publish(nodeB), publish(nodeA), publish(nodeB)}
	for _, e := range []*Engine{nodeA, nodeB} {
		waitQueue(t, e, ep.ID, func(q *epQueue) bool { return q.probing || (q.active == 0 && len(q.jobs)-q.head > 0) })
	}
	if time.Now().Before(opened.RetryAt) {
		select {
		case <-got:
			t.Fatalf("a request while the circuit is open")
		default:
		}
	}

	// After the cool-down one probe goes, from either node.
	<-got
	probing := func(e *Engine) bool {
		q := e.disp.lookup(ep.ID)
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.probing
	}
	waitFor(t, "one node probing, the other waiting", func() bool {
		a, b := probing(nodeA), probing(nodeB)
		if a == b {
			return false
		}
		other := nodeA
		if a {
			other = nodeB
		}
		q := other.disp.lookup(ep.ID)
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.active == 0 && len(q.jobs)-q.head > 0
	})
	select {
	case <-got:
		t.Fatalf("a second request while the probe is out, want exactly one probe")
	default:
	}
	healthy.Store(true)
	release()

	// The probe closes the circuit and both nodes send the rest.
	waitFor(t, "the rest delivered", func() bool {
		for _, m := range later {
			dests, err := dbA.ListMessageDestinations(ctx, testApp, m.ID, store.Page{Limit: 10})
			if err != nil || len(dests) != 1 || dests[0].Status != herald.StatusSuccess {
				return false
			}
		}
		return true
	})
	if stored, _ := dbA.GetEndpoint(ctx, testApp, ep.ID); stored.Circuit.State != herald.CircuitClosed {
		t.Errorf("circuit after the probe: %v, want closed", stored.Circuit.State)
	}
}

// waitFor polls cond until it holds, for state nothing signals.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
