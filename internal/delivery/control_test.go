package delivery

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/fakeclock"
	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

func TestApplicationThrottleRate(t *testing.T) {
	t.Parallel()
	srv1, got1 := sink(t, ok)
	srv2, got2 := sink(t, ok)
	ep1, ep2 := endpoint("ep_app_rate_1", srv1.URL), endpoint("ep_app_rate_2", srv2.URL)
	s := newMemStore()
	s.setApplication(herald.Application{ID: testApp, ThrottleRate: 5}) // one request every 200ms
	s.addEndpoint(ep1)
	s.addEndpoint(ep2)
	b := startEngine(t, s, Config{})
	start := time.Now()
	var msgs []*herald.Message
	for range 3 {
		msgs = append(msgs, b.publish(t, message("a", `{}`)))
	}
	var last time.Time
	for range 6 {
		var r received
		select {
		case r = <-got1:
		case r = <-got2:
		}
		last = r.at
	}
	// Six requests at 5 per second with a burst of one take a second, though
	// each endpoint alone is unlimited. Measured from before the publishes,
	// a slow machine can only make it later.
	if span := last.Sub(start); span < 950*time.Millisecond {
		t.Errorf("6 requests to the application's two endpoints took %v, want about 1s at 5 per second", span)
	}
	for _, m := range msgs {
		for _, ep := range []herald.Endpoint{ep1, ep2} {
			b.waitFinal(t, m.ID, ep.ID)
			var res []store.Result
			b.store.mu.Lock()
			for _, r := range b.store.resultsOf(m.ID) {
				if r.Attempt.EndpointID == ep.ID {
					res = append(res, r)
				}
			}
			b.store.mu.Unlock()
			if len(res) != 1 || res[0].Outcome.Status != herald.StatusSuccess {
				t.Errorf("delivery of %s to %s: %d attempts, want 1 success (throttled waits make no attempt)", m.ID, ep.ID, len(res))
			}
		}
	}
}

func TestApplicationThrottleRateRereadAfterInvalidate(t *testing.T) {
	t.Parallel()
	srv, got := sink(t, ok)
	ep := endpoint("ep_app_rate_change", srv.URL)
	clock := fakeclock.New(time.Now())
	s := newMemStore()
	s.setApplication(herald.Application{ID: testApp})
	s.addEndpoint(ep)
	b := startEngine(t, s, Config{Now: clock.Now, EndpointCacheTTL: time.Hour})
	b.publish(t, message("a", `{}`))
	<-got
	s.setApplication(herald.Application{ID: testApp, ThrottleRate: 1})
	b.engine.InvalidateApplication(testApp)
	// The clock stands still: at one per second, only the first goes.
	for range 2 {
		b.publish(t, message("a", `{}`))
	}
	<-got
	waitQueue(t, b.engine, ep.ID, func(q *epQueue) bool { return q.active == 0 && len(q.jobs)-q.head == 1 })
	select {
	case <-got:
		t.Fatalf("a second request within the same second, want the application's new rate of 1 per second")
	default:
	}
}

// waitQueue waits until cond (called with q.mu held) holds for the
// endpoint's queue.
func waitQueue(t *testing.T, e *Engine, endpointID string, cond func(q *epQueue) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if q := e.disp.lookup(endpointID); q != nil {
			q.mu.Lock()
			ok := cond(q)
			q.mu.Unlock()
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for the queue of %s", endpointID)
		}
		time.Sleep(time.Millisecond) // polling with a deadline: nothing signals queue states
	}
}

func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	var (
		healthy atomic.Bool
		hold    = make(chan struct{})
		holdOne sync.Once
	)
	srv, got := sink(t, func(w http.ResponseWriter, n int) {
		if n == 6 {
			<-hold // the first probe: keep it in flight while the test looks
		}
		if healthy.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	release := func() { holdOne.Do(func() { close(hold) }) }
	t.Cleanup(release)
	ep := endpoint("ep_circuit", srv.URL)
	clock := fakeclock.New(time.Now())
	b := setup(t, Config{Now: clock.Now, EndpointConcurrency: 4, CircuitCooldown: 30 * time.Second,
		Policy: herald.Policy{Schedule: []time.Duration{time.Hour}}}, ep)
	count := func() int {
		n := 0
		for {
			select {
			case <-got:
				n++
			default:
				return n
			}
		}
	}

	// Five consecutive failures open the circuit.
	for range 5 {
		b.publish(t, message("a", `{}`))
	}
	b.store.waitFor(t, "5 failures recorded", func() bool { return len(b.store.results) == 5 })
	c := b.store.circuit(ep.ID)
	if c.State != herald.CircuitOpen || !c.RetryAt.Equal(c.OpenedAt.Add(30*time.Second)) {
		t.Fatalf("circuit after 5 failures: %+v, want open for 30s", c)
	}
	if sent := count(); sent != 5 {
		t.Fatalf("requests before the circuit opened: %d, want 5", sent)
	}

	// While open, new deliveries wait with no attempt: the probe's in
	// memory, the other back in the store.
	waiting := []*herald.Message{b.publish(t, message("a", `{}`)), b.publish(t, message("a", `{}`))}
	waitQueue(t, b.engine, ep.ID, func(q *epQueue) bool { return q.active == 0 && len(q.jobs)-q.head == 1 })
	if n := count(); n != 0 || len(b.store.resultsOf(waiting[0].ID)) != 0 {
		t.Fatalf("%d requests while the circuit is open, want none", n)
	}

	// After the cool-down exactly one probe goes; it fails, so the circuit
	// opens again for twice as long.
	clock.Advance(30 * time.Second)
	waiting = append(waiting, b.publish(t, message("a", `{}`))) // wakes the queue
	<-got
	waitQueue(t, b.engine, ep.ID, func(q *epQueue) bool { return q.active == 1 && q.probing })
	if n := count(); n != 0 {
		t.Fatalf("%d requests beside the probe, want exactly one probe", n)
	}
	if st := b.store.circuit(ep.ID).State; st != herald.CircuitHalfOpen {
		t.Errorf("circuit during the probe: %v, want halfOpen", st)
	}
	release()
	b.store.waitFor(t, "the probe reopening the circuit", func() bool {
		c := b.store.endpoints[ep.ID].Circuit
		return c.State == herald.CircuitOpen && c.Cooldown == time.Minute
	})

	// The next probe succeeds: the circuit closes and the rest flows.
	healthy.Store(true)
	clock.Advance(time.Minute)
	waiting = append(waiting, b.publish(t, message("a", `{}`)))
	// The failed probe was one of them; it is retried in an hour.
	b.store.waitFor(t, "the rest delivered", func() bool {
		n := 0
		for _, r := range b.store.results {
			if r.Outcome.Status == herald.StatusSuccess {
				n++
			}
		}
		return n == len(waiting)-1
	})
	if c := b.store.circuit(ep.ID); c.State != herald.CircuitClosed {
		t.Errorf("circuit after a successful probe: %+v, want closed", c)
	}
	if n := count(); n != len(waiting)-1 {
		t.Errorf("requests after the circuit closed: %d, want %d", n, len(waiting)-1)
	}
}

func TestCircuitOpenedByAnotherNodeHoldsBack(t *testing.T) {
	t.Parallel()
	srv, got := sink(t, ok)
	ep := endpoint("ep_circuit_other", srv.URL)
	clock := fakeclock.New(time.Now())
	b := setup(t, Config{Now: clock.Now, EndpointCacheTTL: time.Hour}, ep)
	if _, err := b.store.OpenCircuit(context.Background(), ep.ID, herald.CircuitClosed, clock.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	// Publish reads the endpoint, open circuit and all, from the store.
	msg := b.publish(t, message("a", `{}`))
	waitQueue(t, b.engine, ep.ID, func(q *epQueue) bool { return q.active == 0 && len(q.jobs)-q.head == 1 })
	select {
	case <-got:
		t.Fatalf("a request while another node holds the circuit open")
	default:
	}
	clock.Advance(time.Minute)
	b.publish(t, message("a", `{}`))
	b.waitFinal(t, msg.ID, ep.ID)
	if c := b.store.circuit(ep.ID); c.State != herald.CircuitClosed {
		t.Errorf("circuit after the probe: %+v, want closed", c)
	}
}

func TestStrictFIFO(t *testing.T) {
	t.Parallel()
	for _, ordered := range []bool{true, false} {
		order, msgs := fifoRun(t, ordered)
		ids := make([]string, len(order))
		for i, r := range order {
			ids[i] = r.header.Get("webhook-id")
		}
		if ordered {
			want := []string{msgs[0].ID, msgs[0].ID, msgs[0].ID, msgs[1].ID, msgs[2].ID, msgs[3].ID, msgs[4].ID}
			if len(ids) != len(want) {
				t.Fatalf("FIFO: %d requests, want %d", len(ids), len(want))
			}
			for i := range want {
				if ids[i] != want[i] {
					t.Fatalf("FIFO: request %d was %s, want %s (order %v, messages %v)", i+1, ids[i], want[i], ids, msgIDs(msgs))
				}
			}
		} else if ids[1] == msgs[0].ID {
			t.Fatalf("without FIFO: the second request retried message 1, want message 2 not to wait (order %v)", ids)
		}
	}
}

func msgIDs(msgs []*herald.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

// fifoRun sends five messages to an endpoint that fails message 1 twice,
// publishing 2..5 after its first failure, and returns the requests in the
// order they arrived.
func fifoRun(t *testing.T, ordered bool) ([]received, []*herald.Message) {
	t.Helper()
	var (
		mu    sync.Mutex
		first string
		fails int
	)
	srv, got := sink(t, func(w http.ResponseWriter, _ int) {})
	srv.Config.Handler = wrapFirstFails(srv.Config.Handler, &mu, &first, &fails)
	ep := endpoint("ep_fifo", srv.URL)
	ep.Ordered = ordered
	db := openSQLite(t, ep)
	e := startSQLiteEngine(t, db, Config{Policy: herald.Policy{Schedule: []time.Duration{200 * time.Millisecond, 200 * time.Millisecond}, Jitter: -1}})
	m1 := message("a", `{"n":1}`)
	mu.Lock()
	first = m1.ID
	mu.Unlock()
	if err := e.Publish(context.Background(), m1); err != nil {
		t.Fatal(err)
	}
	var order []received
	order = append(order, <-got)
	msgs := []*herald.Message{m1}
	for i := 2; i <= 5; i++ {
		m := message("a", `{}`)
		if err := e.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	for _, m := range msgs {
		waitStatus(t, db, m.ID, ep.ID, herald.StatusSuccess)
	}
	for len(order) < 7 {
		order = append(order, <-got)
	}
	atts, err := db.ListAttempts(context.Background(), testApp, store.AttemptFilter{Page: store.Page{Limit: 50}, EndpointID: ep.ID})
	if err != nil || len(atts) != 7 {
		t.Fatalf("attempts: %d (%v), want 7", len(atts), err)
	}
	return order, msgs
}

// wrapFirstFails answers 500 to the first two requests for message first,
// and 200 to everything else.
func wrapFirstFails(next http.Handler, mu *sync.Mutex, first *string, fails *int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fail := r.Header.Get("webhook-id") == *first && *fails < 2
		if fail {
			*fails++
		}
		mu.Unlock()
		rec := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// statusWriter swallows the inner handler's status so the wrapper decides.
type statusWriter struct{ http.ResponseWriter }

func (statusWriter) WriteHeader(int) {}

// An application's limiter is forgotten once the node has not sent to it
// for three rate TTLs, and made afresh, with its rate read again, when it
// is sent to later.
func TestApplicationLimitersOfIdleApplicationsAreSwept(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(time.Now())
	s := newMemStore()
	s.setApplication(herald.Application{ID: testApp, ThrottleRate: 7})
	e, err := New(Config{Store: s, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if l := e.apps.get(ctx, testApp); l.perSec != 7 {
		t.Fatalf("rate: got %d, want 7", l.perSec)
	}
	e.apps.sweep(clock.Now())
	if len(e.apps.m) != 1 {
		t.Fatalf("after a sweep at once: %d limiters, want the active one kept", len(e.apps.m))
	}
	clock.Advance(3*e.apps.ttl + time.Second)
	e.apps.sweep(clock.Now())
	if len(e.apps.m) != 0 {
		t.Fatalf("after three idle TTLs: %d limiters, want none", len(e.apps.m))
	}
	s.setApplication(herald.Application{ID: testApp, ThrottleRate: 9})
	if l := e.apps.get(ctx, testApp); l.perSec != 9 {
		t.Errorf("rate after the sweep: got %d, want 9 read afresh", l.perSec)
	}
}

// TestCircuitResetStartsTheCountAgain: after an operator resets an open
// circuit, it takes CircuitFailures new failures to open it again, not one.
func TestCircuitResetStartsTheCountAgain(t *testing.T) {
	t.Parallel()
	srv, _ := sink(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusInternalServerError) })
	ep := endpoint("ep_circuit_reset", srv.URL)
	b := setup(t, Config{EndpointConcurrency: 1, Policy: herald.Policy{Schedule: []time.Duration{time.Hour}}}, ep)
	for range 5 {
		b.publish(t, message("a", `{}`))
	}
	b.store.waitFor(t, "5 failures recorded", func() bool { return len(b.store.results) == 5 })
	if st := b.store.circuit(ep.ID).State; st != herald.CircuitOpen {
		t.Fatalf("circuit after 5 failures: %v, want open", st)
	}
	// What POST .../circuit/reset does.
	if err := b.store.CloseCircuit(context.Background(), ep.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	b.engine.InvalidateEndpoints(testApp)
	waitQueue(t, b.engine, ep.ID, func(q *epQueue) bool { return q.circuit.State == herald.CircuitClosed })

	b.publish(t, message("a", `{}`))
	// The circuit is decided before the result is recorded.
	b.store.waitFor(t, "a sixth failure recorded", func() bool { return len(b.store.results) == 6 })
	if st := b.store.circuit(ep.ID).State; st != herald.CircuitClosed {
		t.Errorf("circuit after a reset and one failure: %v, want closed", st)
	}
}

// TestCircuitLeftOpenCloses: a node with the breaker off, or a listen URL,
// never opens a circuit, but one left open in the store (an earlier run,
// another node) is still probed, and the probe closes it whatever its
// result: otherwise the queue would wait for a close that never comes.
func TestCircuitLeftOpenCloses(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusNoContent, http.StatusInternalServerError} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			srv, got := sink(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(status) })
			ep := endpoint("ep_circuit_left", srv.URL)
			now := time.Now()
			ep.Circuit = herald.Circuit{State: herald.CircuitOpen, OpenedAt: now.Add(-time.Minute), RetryAt: now.Add(-time.Second), Cooldown: 30 * time.Second}
			b := setup(t, Config{CircuitFailures: -1, Policy: herald.Policy{Schedule: []time.Duration{time.Hour}}}, ep)
			first := b.publish(t, message("a", `{}`))
			<-got
			b.store.waitFor(t, "the probe recorded", func() bool { return len(b.store.resultsOf(first.ID)) == 1 })
			if c := b.store.circuit(ep.ID); c.State != herald.CircuitClosed {
				t.Fatalf("circuit after the probe: %+v, want closed", c)
			}
			second := b.publish(t, message("a", `{}`))
			<-got
			b.store.waitFor(t, "the next message sent", func() bool { return len(b.store.resultsOf(second.ID)) == 1 })
		})
	}
}

// The result of a delivery to an ordered endpoint says so, which makes the
// store hand the next delivery its turn, even when this node's queue still
// holds an older, unordered view of the endpoint: one last changed by a
// node whose clock was ahead looks newer than the ordered one claimed.
func TestResultIsOrderedByTheJobsEndpointToo(t *testing.T) {
	t.Parallel()
	srv, _ := sink(t, ok)
	ep := endpoint("ep_stale_order", srv.URL)
	ep.UpdatedAt = time.Now().Add(time.Hour)
	s := newMemStore()
	s.addEndpoint(ep)
	b := startEngine(t, s, Config{EndpointCacheTTL: time.Nanosecond}) // publishes read the endpoint anew
	m0 := b.publish(t, message("a", `{}`))
	b.waitFinal(t, m0.ID, ep.ID)

	ordered := ep
	ordered.Ordered, ordered.UpdatedAt = true, time.Now() // another node's API, its clock right
	s.addEndpoint(ordered)
	m1 := b.publish(t, message("a", `{}`))
	b.waitFinal(t, m1.ID, ep.ID)
	s.mu.Lock()
	res := s.resultsOf(m1.ID)
	s.mu.Unlock()
	if len(res) != 1 || !res[0].Ordered {
		t.Fatalf("results of %s: %+v, want one marked Ordered", m1.ID, res)
	}
}
