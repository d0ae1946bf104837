package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/fakeclock"
	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// hanging returns a sink whose requests block until release is called.
func hanging(t *testing.T) (url string, got chan received, release func()) {
	t.Helper()
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	srv, got := sink(t, func(w http.ResponseWriter, _ int) {
		select {
		case <-ch:
		case <-time.After(10 * time.Second): // never hold a test server open forever
		}
	})
	t.Cleanup(release)
	return srv.URL, got, release
}

func keyOf(msg *herald.Message, ep herald.Endpoint) store.DeliveryKey {
	return store.DeliveryKey{MsgID: msg.ID, EndpointID: ep.ID}
}

func TestStopReleasesQueuedDeliveries(t *testing.T) {
	t.Parallel()
	url, got, _ := hanging(t)
	ep := endpoint("ep_stop", url)
	b := setup(t, Config{EndpointConcurrency: 1}, ep)
	var msgs []*herald.Message
	msgs = append(msgs, b.publish(t, message("a", `{}`)))
	<-got // in flight
	for range 4 {
		msgs = append(msgs, b.publish(t, message("a", `{}`)))
	}

	// A context that is already over cuts the in-flight send off at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.engine.Stop(ctx); err == nil {
		t.Errorf("Stop with an ended context = nil, want an error saying sends were cut off")
	}
	if err := b.engine.Stop(context.Background()); err != nil {
		t.Errorf("second Stop = %v, want nil", err)
	}

	b.store.mu.Lock()
	defer b.store.mu.Unlock()
	// The cut-off send may have reached the endpoint: it is logged, and
	// due again at once, but it is not the endpoint's failure.
	if len(b.store.results) != 1 {
		t.Fatalf("recorded %d results, want the cut-off send's", len(b.store.results))
	}
	cut := b.store.results[0]
	if cut.Attempt.MsgID != msgs[0].ID || cut.Attempt.ErrorClass != ErrClassInterrupted || !cut.Interrupted || cut.Attempts != 0 ||
		cut.Outcome.Status != herald.StatusSending || cut.Outcome.NextAttemptAt.After(time.Now()) || cut.Outcome.DisableEndpoint {
		t.Errorf("cut-off send recorded as %+v, want an interrupted attempt of %s, due again now, counting no attempt", cut, msgs[0].ID)
	}
	if d := b.store.deliveries[keyOf(msgs[0], ep)]; d.LeaseOwner != "" || d.Status != herald.StatusSending {
		t.Errorf("cut-off delivery: %v leased to %q, want sending and unleased", d.Status, d.LeaseOwner)
	}
	for _, m := range msgs[1:] {
		if !slices.Contains(b.store.released, keyOf(m, ep)) {
			t.Errorf("delivery of %s was not released", m.ID)
		}
		if d := b.store.deliveries[keyOf(m, ep)]; d.LeaseOwner != "" {
			t.Errorf("delivery of %s still leased to %q", m.ID, d.LeaseOwner)
		}
	}
}

func TestStopLetsInFlightFinish(t *testing.T) {
	t.Parallel()
	url, got, release := hanging(t)
	ep := endpoint("ep_graceful", url)
	b := setup(t, Config{EndpointConcurrency: 1}, ep)
	first := b.publish(t, message("a", `{}`))
	<-got
	var rest []*herald.Message
	for range 4 {
		rest = append(rest, b.publish(t, message("a", `{}`)))
	}

	stopped := make(chan error)
	go func() { stopped <- b.engine.Stop(context.Background()) }()
	release()
	if err := <-stopped; err != nil {
		t.Fatalf("Stop = %v, want nil", err)
	}

	b.store.mu.Lock()
	defer b.store.mu.Unlock()
	if res := b.store.resultsOf(first.ID); len(res) != 1 || res[0].Outcome.Status != herald.StatusSuccess {
		t.Errorf("in-flight delivery results = %+v, want one success", res)
	}
	// Whether the worker took more before it saw Stop is a race; each
	// queued delivery is either sent and recorded, or released, never both
	// and never neither.
	for _, m := range rest {
		sent := len(b.store.resultsOf(m.ID)) == 1
		released := slices.Contains(b.store.released, keyOf(m, ep))
		if sent == released {
			t.Errorf("delivery of %s: sent %v, released %v; want exactly one", m.ID, sent, released)
		}
	}
}

func TestSpillWhenEndpointQueueFull(t *testing.T) {
	t.Parallel()
	url, got, release := hanging(t)
	ep := endpoint("ep_spill", url)
	b := setup(t, Config{EndpointConcurrency: 1, EndpointQueue: 2}, ep)
	var msgs []*herald.Message
	msgs = append(msgs, b.publish(t, message("a", `{}`)))
	<-got
	for range 4 {
		msgs = append(msgs, b.publish(t, message("a", `{}`)))
	}
	b.store.mu.Lock()
	released := slices.Clone(b.store.released)
	b.store.mu.Unlock()
	want := []store.DeliveryKey{keyOf(msgs[3], ep), keyOf(msgs[4], ep)}
	if !slices.Equal(released, want) {
		t.Fatalf("released %v, want the two that did not fit: %v", released, want)
	}

	// Once the endpoint answers, the queued ones go out, and the spilled
	// ones are claimed back from the database when the engine is woken.
	release()
	for _, m := range msgs[:3] {
		b.waitFinal(t, m.ID, ep.ID)
	}
	b.engine.Wake()
	for _, m := range msgs[3:] {
		if res := b.waitFinal(t, m.ID, ep.ID); res[0].Outcome.Status != herald.StatusSuccess {
			t.Errorf("spilled delivery of %s: %v, want success", m.ID, res[0].Outcome.Status)
		}
	}
}

func TestClaimedDeliveryIsSentAfterRestart(t *testing.T) {
	t.Parallel()
	url, got, release := hanging(t)
	ep := endpoint("ep_restart", url)
	first := setup(t, Config{EndpointConcurrency: 1, NodeID: "node_a"}, ep)
	msgs := []*herald.Message{first.publish(t, message("a", `{}`))}
	<-got
	msgs = append(msgs, first.publish(t, message("a", `{}`)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = first.engine.Stop(ctx) // cut off: both deliveries go back to the database

	// A delivery leased by a node that died: its lease has expired.
	orphan := message("a", `{}`)
	if err := first.store.Publish(context.Background(), orphan,
		[]herald.Delivery{{MsgID: orphan.ID, EndpointID: ep.ID, AppID: testApp, Status: herald.StatusPending}},
		"node_dead", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	msgs = append(msgs, orphan)

	release()
	second := startEngine(t, first.store, Config{NodeID: "node_b"})
	for _, m := range msgs {
		res := second.waitFinal(t, m.ID, ep.ID)
		if last := res[len(res)-1]; last.Outcome.Status != herald.StatusSuccess {
			t.Errorf("delivery of %s after restart: %v, want success", m.ID, last.Outcome.Status)
		}
	}
}

func TestQueuedDeliveryCanceledWhenEndpointDeleted(t *testing.T) {
	t.Parallel()
	url, got, release := hanging(t)
	ep := endpoint("ep_deleted", url)
	b := setup(t, Config{EndpointConcurrency: 1}, ep)
	b.publish(t, message("a", `{}`))
	<-got
	queued := b.publish(t, message("a", `{}`))

	b.store.deleteEndpoint(ep.ID)
	b.engine.InvalidateEndpoints(testApp)
	if err := b.engine.poll.reloadApp(context.Background(), testApp); err != nil {
		t.Fatal(err)
	}
	release()
	key := keyOf(queued, ep)
	b.store.waitFor(t, "the queued delivery dropped", func() bool { return slices.Contains(b.store.released, key) })
	b.store.mu.Lock()
	d, res := *b.store.deliveries[key], b.store.resultsOf(queued.ID)
	b.store.mu.Unlock()
	if d.Status != herald.StatusCanceled || len(res) != 0 {
		t.Errorf("queued delivery: %v with %d results, want canceled with none", d.Status, len(res))
	}
	select {
	case <-got:
		t.Errorf("the deleted endpoint got a request for the queued delivery")
	default:
	}
}

func TestThrottledEndpointBacksOff(t *testing.T) {
	t.Parallel()
	srv, got := sink(t, func(w http.ResponseWriter, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	ep := endpoint("ep_throttle", srv.URL)
	b := setup(t, Config{EndpointConcurrency: 1, ThrottleBackoff: 200 * time.Millisecond,
		Policy: herald.Policy{Schedule: []time.Duration{time.Hour}}}, ep)
	throttled := b.publish(t, message("a", `{}`))
	first := <-got
	b.store.waitFor(t, "the 503 recorded", func() bool { return len(b.store.resultsOf(throttled.ID)) == 1 })
	next := b.publish(t, message("a", `{}`))
	second := <-got
	if gap := second.at.Sub(first.at); gap < 200*time.Millisecond {
		t.Errorf("next request %v after a 503, want the endpoint paused for at least 200ms", gap)
	}
	b.waitFinal(t, next.ID, ep.ID)
}

func TestEndpointThrottleRate(t *testing.T) {
	t.Parallel()
	srv, got := sink(t, ok)
	ep := endpoint("ep_rate", srv.URL)
	ep.ThrottleRate = 5 // one request every 200ms
	b := setup(t, Config{}, ep)
	start := time.Now()
	for range 3 {
		b.publish(t, message("a", `{}`))
	}
	var last time.Time
	for range 3 {
		last = (<-got).at
	}
	// The third may not be sent before two intervals have passed. Measured
	// from before the publishes, a slow machine can only make it later:
	// gaps between arrivals shrink when an earlier request arrives late.
	if span := last.Sub(start); span < 380*time.Millisecond {
		t.Errorf("three requests at 5 per second arrived within %v of their publish, want about 400ms", span)
	}
}

func TestAutoDisableUsesHealthSeenInMemory(t *testing.T) {
	t.Parallel()
	srv, _ := sink(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusInternalServerError) })
	ep := endpoint("ep_dying", srv.URL)
	clock := fakeclock.New(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	// The endpoint list is cached for longer than the test, so the engine
	// never learns FailingSince from the store: it must track it itself.
	b := setup(t, Config{Now: clock.Now, EndpointCacheTTL: 1000 * time.Hour,
		Policy: herald.Policy{Schedule: []time.Duration{}, DisableAfter: time.Hour}}, ep)

	first := b.publish(t, message("a", `{}`))
	if res := b.waitFinal(t, first.ID, ep.ID); res[0].Outcome.DisableEndpoint {
		t.Fatalf("first failure disabled the endpoint, want it only marked failing")
	}
	clock.Advance(2 * time.Hour)
	second := b.publish(t, message("a", `{}`))
	if res := b.waitFinal(t, second.ID, ep.ID); !res[0].Outcome.DisableEndpoint {
		t.Errorf("failure two hours after the first: outcome %+v, want the endpoint disabled", res[0].Outcome)
	}
}

func TestHeartbeatExtendsLeases(t *testing.T) {
	t.Parallel()
	url, got, release := hanging(t)
	ep := endpoint("ep_heartbeat", url)
	b := setup(t, Config{LeaseDuration: 30 * time.Millisecond}, ep)
	msg := b.publish(t, message("a", `{}`))
	<-got
	leased := b.store.delivery(msg.ID, ep.ID).NextAttemptAt
	b.store.waitFor(t, "the lease extended", func() bool {
		d := b.store.deliveries[keyOf(msg, ep)]
		return d.LeaseOwner == b.engine.NodeID() && d.NextAttemptAt.After(leased)
	})
	release()
}

// wakingStore is a store that tells the engine when deliveries became due
// elsewhere, as PostgreSQL does with LISTEN/NOTIFY.
type wakingStore struct {
	*memStore
	wakeups chan struct{}
}

func (s wakingStore) Wakeups() <-chan struct{} { return s.wakeups }

func TestStoreWakeupsTriggerClaim(t *testing.T) {
	t.Parallel()
	srv, got := sink(t, ok)
	ep := endpoint("ep_woken", srv.URL)
	s := wakingStore{memStore: newMemStore(), wakeups: make(chan struct{})}
	s.addEndpoint(ep)
	cfg := Config{Store: s, AllowNetworks: loopback, PollInterval: time.Hour}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })

	// After the claim at start, another node publishes a delivery without
	// a lease: it is due now, and only a wake-up makes this node look.
	s.waitFor(t, "the claim at start", func() bool { return s.claims >= 1 })
	msg := message("a", `{}`)
	if err := s.Publish(context.Background(), msg,
		[]herald.Delivery{{MsgID: msg.ID, EndpointID: ep.ID, AppID: testApp, Status: herald.StatusPending}}, "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	s.wakeups <- struct{}{}
	if req := <-got; req.header.Get("webhook-id") != msg.ID {
		t.Errorf("woken engine sent %q, want %q", req.header.Get("webhook-id"), msg.ID)
	}
}

// TestSpillingPollerWaitsForItsQueue: the store's wake-ups make the poller
// claim, except after a claim that found the queue full and released what
// it claimed. Then claiming again would take the same rows back, so it
// waits for this node's own wake (its queue drained) instead.
func TestSpillingPollerWaitsForItsQueue(t *testing.T) {
	t.Parallel()
	url, got, release := hanging(t)
	ep := endpoint("ep_full", url)
	s := wakingStore{memStore: newMemStore(), wakeups: make(chan struct{})}
	s.addEndpoint(ep)
	e := startEngine2(t, Config{Store: s, Timeout: 5 * time.Second, EndpointConcurrency: 1, EndpointQueue: 2})
	t.Cleanup(release) // runs before the engine stops
	claims := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.claims
	}
	waitClaims := func(n int) {
		t.Helper()
		s.waitFor(t, fmt.Sprintf("%d claims", n), func() bool { return s.claims >= n })
	}
	s.waitFor(t, "the first claim", func() bool { return s.claims >= 1 })

	// Not full: a wake-up from the store is a claim.
	s.wakeups <- struct{}{}
	waitClaims(2)

	// One delivery in flight, two queued, two spilled back.
	if err := e.Publish(context.Background(), message("a", `{}`)); err != nil {
		t.Fatal(err)
	}
	<-got
	for range 4 {
		if err := e.Publish(context.Background(), message("a", `{}`)); err != nil {
			t.Fatal(err)
		}
	}
	// This claim takes the spilled two back and must release them again.
	e.Wake()
	waitClaims(3)

	// Full: the store's wake-ups are not claims; this node's own wake is.
	for range 3 {
		s.wakeups <- struct{}{}
	}
	e.Wake()
	waitClaims(4)
	e.Wake()
	waitClaims(5)
	if n := claims(); n != 5 {
		t.Errorf("claims: got %d, want 5 (the store's wake-ups claimed while the queue was full)", n)
	}
}

// failingRecords is a store whose Record keeps failing, as in an outage.
type failingRecords struct {
	*memStore
	calls chan struct{} // a value per call, while there is room
}

func (s *failingRecords) Record(context.Context, []store.Result) ([]string, error) {
	select {
	case s.calls <- struct{}{}:
	default:
	}
	return nil, errors.New("database unavailable")
}

// TestStopGivesUpOnAFailingStore: with the store refusing every result,
// the recorder retries and the workers wait to hand it theirs. Stop must
// still end when its context does, not when the store comes back.
func TestStopGivesUpOnAFailingStore(t *testing.T) {
	t.Parallel()
	srv, got := sink(t, ok)
	ep := endpoint("ep_outage", srv.URL)
	mem := newMemStore()
	mem.addEndpoint(ep)
	st := &failingRecords{memStore: mem, calls: make(chan struct{}, 2)}
	e, err := New(Config{Store: st, AllowNetworks: loopback, PollInterval: time.Hour, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := e.Publish(context.Background(), message("a", `{}`)); err != nil {
			t.Fatal(err)
		}
	}
	// Both recorder loops hold a failing batch, and the result channel (two
	// places) fills: the worker soon waits to hand over a result, or is
	// sending the next message to a sink this test no longer reads.
	for range 5 {
		<-got
	}
	<-st.calls
	<-st.calls

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- e.Stop(ctx) }()
	select {
	case err := <-stopped:
		// A worker that finished its last send just before Stop lets it
		// end in time, with nothing cut off; either way it must end.
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrNotRecorded) {
			t.Errorf("Stop = %v, want the context's deadline or results not recorded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop still running 10 s after its context ended, while the store fails")
	}
}

// flakyRecords refuses the next fail Record calls, then works.
type flakyRecords struct {
	*memStore
	fail atomic.Int32
}

func (s *flakyRecords) Record(ctx context.Context, r []store.Result) ([]string, error) {
	if s.fail.Add(-1) >= 0 {
		return nil, errors.New("connection reset")
	}
	return s.memStore.Record(ctx, r)
}

// TestStopRetriesAResultUntilItsDeadline: a Stop with time left does not
// drop an attempt result over a brief store failure (the delivery would
// stay leased and be sent again); it gives up only when its context ends.
func TestStopRetriesAResultUntilItsDeadline(t *testing.T) {
	t.Parallel()
	arrived, answer := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		arrived <- struct{}{}
		<-answer
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	ep := endpoint("ep_stop", srv.URL)
	mem := newMemStore()
	mem.addEndpoint(ep)
	st := &flakyRecords{memStore: mem}
	e, err := New(Config{Store: st, AllowNetworks: loopback, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	msg := message("a", `{}`)
	if err := e.Publish(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	<-arrived
	st.fail.Store(2) // the next two writes fail
	stopped := make(chan error, 1)
	go func() { stopped <- e.Stop(context.Background()) }()
	close(answer)
	if err := <-stopped; err != nil {
		t.Errorf("Stop = %v, want nil", err)
	}
	if d := mem.delivery(msg.ID, ep.ID); d.Status != herald.StatusSuccess || d.LeaseOwner != "" {
		t.Errorf("delivery after Stop: status %v, lease %q; want the 204 recorded", d.Status, d.LeaseOwner)
	}
}

// TestReenabledEndpointFlowsAgain: this node saw the endpoint go (it
// disabled it), and an operator re-enabled it through another node, whose
// cache alone hears of it. The deliveries this node then claims carry the
// endpoint as it now is, and must be sent, not dropped as gone.
func TestReenabledEndpointFlowsAgain(t *testing.T) {
	t.Parallel()
	srv, got := sink(t, ok)
	ep := endpoint("ep_reenabled", srv.URL)
	b := setup(t, Config{EndpointCacheTTL: time.Hour}, ep)
	first := b.publish(t, message("a", `{}`))
	<-got
	b.waitFinal(t, first.ID, ep.ID)
	b.engine.disp.lookup(ep.ID).setEndpoint(nil, share{count: 1}, time.Now())

	// Published by another node: due, unleased, for the endpoint as it
	// is now, enabled again and updated since.
	b.store.mu.Lock()
	b.store.endpoints[ep.ID].UpdatedAt = time.Now().Add(time.Minute)
	b.store.mu.Unlock()
	msg := message("a", `{}`)
	msg.ID, msg.CreatedAt = herald.NewID(herald.PrefixMessage, time.Now()), time.Now()
	d := herald.Delivery{MsgID: msg.ID, EndpointID: ep.ID, AppID: testApp, Status: herald.StatusPending, NextAttemptAt: msg.CreatedAt}
	if err := b.store.Publish(context.Background(), msg, []herald.Delivery{d}, "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	b.engine.Wake()
	if res := b.waitFinal(t, msg.ID, ep.ID); res[len(res)-1].Outcome.Status != herald.StatusSuccess {
		t.Errorf("delivery after the re-enable: %+v, want a success", res[len(res)-1])
	}
}

// TestSweepPassesOverABusyQueue: a queue's lock can be held for as long
// as a circuit write to a slow store takes; the sweep, which holds the
// dispatcher's lock that every publish needs, must not wait for it.
func TestSweepPassesOverABusyQueue(t *testing.T) {
	t.Parallel()
	srv, got := sink(t, ok)
	ep := endpoint("ep_sweep_busy", srv.URL)
	b := setup(t, Config{}, ep)
	m := b.publish(t, message("a", `{}`))
	<-got
	b.waitFinal(t, m.ID, ep.ID)
	q := b.engine.disp.lookup(ep.ID)
	q.mu.Lock()
	swept := make(chan struct{})
	go func() {
		b.engine.disp.sweep()
		close(swept)
	}()
	select {
	case <-swept:
	case <-time.After(5 * time.Second):
		t.Error("the sweep waited for a queue whose lock was held")
	}
	q.mu.Unlock()
	<-swept
	if b.engine.disp.lookup(ep.ID) != q {
		t.Error("the busy queue was swept")
	}
}

// TestReenabledEndpointStartsAfresh: an operator re-enabled an endpoint
// disabled for failing; its next failure must not disable it again from
// the failures this node saw before.
func TestReenabledEndpointStartsAfresh(t *testing.T) {
	t.Parallel()
	srv, _ := sink(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusInternalServerError) })
	ep := endpoint("ep_reenabled", srv.URL)
	clock := fakeclock.New(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	b := setup(t, Config{Now: clock.Now, CircuitFailures: -1,
		Policy: herald.Policy{Schedule: []time.Duration{}, DisableAfter: time.Hour}}, ep)
	b.waitFinal(t, b.publish(t, message("a", `{}`)).ID, ep.ID)
	clock.Advance(2 * time.Hour)
	if res := b.waitFinal(t, b.publish(t, message("a", `{}`)).ID, ep.ID); !res[0].Outcome.DisableEndpoint {
		t.Fatalf("failing for two hours: outcome %+v, want the endpoint disabled", res[0].Outcome)
	}
	b.store.mu.Lock()
	e := b.store.endpoints[ep.ID]
	e.Disabled, e.FailingSince, e.UpdatedAt = false, time.Time{}, clock.Now()
	b.store.mu.Unlock()
	b.engine.InvalidateEndpoints(testApp)
	waitQueue(t, b.engine, ep.ID, func(q *epQueue) bool { return !q.gone })
	if res := b.waitFinal(t, b.publish(t, message("a", `{}`)).ID, ep.ID); res[0].Outcome.DisableEndpoint {
		t.Errorf("the first failure after re-enabling disabled the endpoint again")
	}
}

// TestSuccessElsewhereKeepsTheEndpoint: another node's success cleared the
// stored FailingSince; this node's older view must not disable the
// endpoint at its next failure.
func TestSuccessElsewhereKeepsTheEndpoint(t *testing.T) {
	t.Parallel()
	srv, _ := sink(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusInternalServerError) })
	ep := endpoint("ep_flaky", srv.URL)
	clock := fakeclock.New(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	ep.FailingSince = clock.Now().Add(-50 * time.Minute)
	b := setup(t, Config{Now: clock.Now, CircuitFailures: -1,
		Policy: herald.Policy{Schedule: []time.Duration{}, DisableAfter: time.Hour}}, ep)
	b.waitFinal(t, b.publish(t, message("a", `{}`)).ID, ep.ID)
	b.store.mu.Lock()
	b.store.endpoints[ep.ID].FailingSince = time.Time{} // another node's success
	b.store.mu.Unlock()
	clock.Advance(15 * time.Minute)
	if res := b.waitFinal(t, b.publish(t, message("a", `{}`)).ID, ep.ID); res[0].Outcome.DisableEndpoint {
		t.Errorf("disabled after another node's success, by this node's view of when it began failing")
	}
}

// TestHeldPayloadBytesAreCapped: a slow endpoint's queue holds payloads up
// to MaxHeldBytes; the rest go back to the database, and are sent once
// the queue drains.
func TestHeldPayloadBytesAreCapped(t *testing.T) {
	t.Parallel()
	url, got, release := hanging(t)
	ep := endpoint("ep_big_payloads", url)
	const budget = 8 << 10
	b := setup(t, Config{EndpointConcurrency: 1, MaxHeldBytes: budget, PollInterval: 20 * time.Millisecond}, ep)
	payload := `{"pad":"` + strings.Repeat("x", 1000) + `"}`
	var msgs []*herald.Message
	for range 30 {
		msgs = append(msgs, b.publish(t, message("a", payload)))
	}
	<-got
	if held := b.engine.disp.bytes.Load(); held > budget {
		t.Errorf("queued payload bytes: %d, want at most %d", held, budget)
	}
	b.store.mu.Lock()
	released := len(b.store.released)
	b.store.mu.Unlock()
	if released < 30-budget/len(payload)-1 {
		t.Errorf("%d deliveries given back to the database, want those past the budget", released)
	}
	release()
	for _, m := range msgs {
		b.waitFinal(t, m.ID, ep.ID)
	}
	if held := b.engine.disp.bytes.Load(); held != 0 {
		t.Errorf("queued payload bytes once all were sent: %d, want 0", held)
	}
}

// TestBytesCapDoesNotChurnClaims: with the queues near MaxHeldBytes, a
// claim takes what fits, and the poller is woken once they have drained,
// not at every send: claiming rows only to give them back costs the
// writer two updates each.
func TestBytesCapDoesNotChurnClaims(t *testing.T) {
	t.Parallel()
	srv, _ := sink(t, func(w http.ResponseWriter, _ int) { time.Sleep(2 * time.Millisecond) })
	ep := endpoint("ep_bytes_churn", srv.URL)
	b := setup(t, Config{EndpointConcurrency: 1, MaxHeldBytes: 8 << 10, PollInterval: 20 * time.Millisecond}, ep)
	payload := `{"pad":"` + strings.Repeat("x", 1000) + `"}`
	const n = 100
	var msgs []*herald.Message
	for range n {
		msgs = append(msgs, b.publish(t, message("a", payload)))
	}
	for _, m := range msgs {
		b.waitFinal(t, m.ID, ep.ID)
	}
	b.store.mu.Lock()
	released := len(b.store.released)
	b.store.mu.Unlock()
	// Each delivery the publish could not hold goes back once; a claim
	// may overshoot by a delivery or two.
	if released > 2*n {
		t.Errorf("%d deliveries given back for %d messages, want each at most about once", released, n)
	}
}

// TestBytesCapWakesClaims: claims that stopped because the queues hold
// MaxHeldBytes start again as they drain, not at the next poll.
func TestBytesCapWakesClaims(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1100, 2048} {
		srv, _ := sink(t, ok)
		ep := endpoint(fmt.Sprintf("ep_bytes_wake_%d", size), srv.URL)
		b := setup(t, Config{EndpointConcurrency: 1, MaxHeldBytes: 8 << 10, PollInterval: time.Hour}, ep)
		payload := `{"pad":"` + strings.Repeat("x", size-10) + `"}`
		var msgs []*herald.Message
		for range 60 {
			msgs = append(msgs, b.publish(t, message("a", payload)))
		}
		for _, m := range msgs {
			b.waitFinal(t, m.ID, ep.ID)
		}
	}
}
