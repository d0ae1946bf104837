package delivery

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// TestPacedTimesFollowTheRate: whatever the rate, fractional or above
// what a queue holds, what queues held by it give back comes due no
// faster than the rate (beyond one batch), not much slower, and never at
// once; an application's rate is one for all its queues, which split
// what they hold of it.
func TestPacedTimesFollowTheRate(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{EndpointQueue: 1000, EndpointConcurrency: 1})
	d := b.engine.disp
	for _, c := range []struct {
		perSec, nodes int
		app           bool // the application's rate, shared by two queues
	}{
		{perSec: 1, nodes: 2},
		{perSec: 3, nodes: 2},
		{perSec: 7, nodes: 1},
		{perSec: 1000, nodes: 1},
		{perSec: 5000, nodes: 3},
		{perSec: 4, nodes: 1, app: true},
		{perSec: 2000, nodes: 1, app: true},
	} {
		t.Run(fmt.Sprintf("%d/s over %d nodes, app %v", c.perSec, c.nodes, c.app), func(t *testing.T) {
			b.engine.share.Store(&share{count: c.nodes})
			defer b.engine.share.Store(nil)
			now := time.Now()
			app := &appLimit{}
			queues := make([]*epQueue, 1)
			if c.app {
				app.perSec = c.perSec
				queues = append(queues, nil)
			}
			for i := range queues {
				q := &epQueue{id: fmt.Sprint("ep_", i), ep: &herald.Endpoint{}, throttledAt: now}
				if !c.app {
					q.ep.ThrottleRate = c.perSec
				}
				q.app = app
				app.joined(1)
				queues[i] = q
			}
			r := float64(c.perSec) / float64(c.nodes)
			limit := d.holdLimit(queues[0], now)
			want := min(1000, int(math.Ceil(2*r/float64(len(queues)))))
			if limit != max(1, want) {
				t.Fatalf("hold limit %d, want %d", limit, max(1, want))
			}
			var times []time.Time
			for i := range 3000 {
				q := queues[i%len(queues)]
				q.jobs = make([]store.Job, limit) // full
				times = append(times, d.notBefore(q, now))
			}
			slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
			if !times[0].After(now) {
				t.Fatalf("first paced at %v, want after now", times[0].Sub(now))
			}
			batch := max(1, limit/2)
			for i, at := range times {
				if float64(i+1) > float64(len(queues)*batch)+r*at.Sub(times[0]).Seconds()+1e-3 { // steps are whole nanoseconds
					t.Fatalf("%d due within %v: faster than %.2f/s", i+1, at.Sub(times[0]), r)
				}
			}
			if span, most := times[len(times)-1].Sub(times[0]), seconds(float64(len(times))/r)+seconds(float64(batch)/r); span > most {
				t.Errorf("3000 paced over %v, want at most %v at %.2f/s", span, most, r)
			}
		})
	}
}

// TestSpedComparesLimitsNotShares: a node leaving raises this node's
// share, not the endpoint's limit: what was paced keeps its times. A
// raised limit has it expedited, once.
func TestSpedComparesLimitsNotShares(t *testing.T) {
	t.Parallel()
	now := time.Now()
	q := &epQueue{ep: &herald.Endpoint{ThrottleRate: 2}, pacedUntil: now.Add(time.Minute), pacedPerSec: 2}
	if q.sped(share{count: 1}, now) {
		t.Fatal("sped after a node left, want the paced times kept")
	}
	q.ep = &herald.Endpoint{ThrottleRate: 4}
	if !q.sped(share{count: 1}, now) {
		t.Fatal("not sped after the limit was raised")
	}
	if q.sped(share{count: 1}, now) {
		t.Error("sped again, want once")
	}
}

// TestBackOffStaysOutOfTheApplicationsPacer: an endpoint backed off for
// an hour gives its backlog back due when the back-off ends, not placed
// in the pacer its application's queues share, where the other endpoints'
// deliveries would queue behind it.
func TestBackOffStaysOutOfTheApplicationsPacer(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{EndpointQueue: 1000, EndpointConcurrency: 1})
	d := b.engine.disp
	now := time.Now()
	app := &appLimit{perSec: 4}
	backedOff := &epQueue{ep: &herald.Endpoint{}, app: app, throttledAt: now, pausedUntil: now.Add(time.Hour), backoffUntil: now.Add(time.Hour)}
	other := &epQueue{ep: &herald.Endpoint{}, app: app, throttledAt: now}
	for _, q := range []*epQueue{backedOff, other} {
		q.jobs = make([]store.Job, 100)
		if at := d.notBefore(q, now); q == backedOff && !at.Equal(now.Add(time.Hour)) {
			t.Errorf("backed-off queue: due in %v, want when its back-off ends", at.Sub(now))
		}
	}
	if at := d.notBefore(other, now); at.Sub(now) > time.Minute {
		t.Errorf("the other endpoint's delivery due in %v, behind the back-off", at.Sub(now))
	}
}

// TestApplicationRateIsSplitBetweenBusyQueues: only the queues the
// application's rate holds with deliveries to send split what they hold
// of it; endpoints that sent lately and have nothing left do not.
func TestApplicationRateIsSplitBetweenBusyQueues(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{EndpointQueue: 1000, EndpointConcurrency: 1})
	d := b.engine.disp
	now := time.Now()
	app := &appLimit{perSec: 1000}
	var busy *epQueue
	for i := range 100 {
		q := &epQueue{ep: &herald.Endpoint{}, app: app, throttledAt: now}
		if i == 0 {
			q.jobs, busy = make([]store.Job, 10), q
		}
		q.noteSharing(share{count: 1}, now)
	}
	if n := app.queues.Load(); n != 1 {
		t.Fatalf("queues sharing the rate: %d, want the busy one", n)
	}
	if limit := d.holdLimit(busy, now); limit != 1000 {
		t.Errorf("hold limit: %d, want two seconds' worth of 1000/s, up to the queue's 1000", limit)
	}
	busy.jobs = nil
	busy.noteSharing(share{count: 1}, now)
	if n := app.queues.Load(); n != 0 {
		t.Errorf("queues sharing the rate once empty: %d, want 0", n)
	}
}

// TestSweepKeepsALimiterQueuesShare: an application's limiter whose rate
// holds queues is kept by the sweep even when stale (invalidated): a
// second one would pace the same application again, twice as fast.
func TestSweepKeepsALimiterQueuesShare(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	a := b.engine.apps
	l := &appLimit{ready: make(chan struct{}), perSec: 5}
	close(l.ready)
	l.joined(1)
	a.mu.Lock()
	a.m["app_shared"] = l
	a.mu.Unlock()
	a.invalidate("app_shared")
	a.sweep(time.Now())
	a.mu.RLock()
	kept := a.m["app_shared"] == l
	a.mu.RUnlock()
	if !kept {
		t.Error("the sweep dropped a limiter that queues still share")
	}
}

// TestCircuitResetEndsTheBackOff: an operator's reset of the circuit
// makes the queue flow at once, back-off included: it holds its whole
// queue again, and what it turns away is due at once, not at the old
// back-off's end.
func TestCircuitResetEndsTheBackOff(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{EndpointQueue: 1000, EndpointConcurrency: 2})
	d := b.engine.disp
	now := time.Now()
	q := &epQueue{id: "ep", ep: &herald.Endpoint{},
		circuit:      herald.Circuit{State: herald.CircuitOpen, RetryAt: now.Add(30 * time.Second)},
		pausedUntil:  now.Add(time.Minute),
		backoffUntil: now.Add(time.Minute)}
	resume, _ := q.setEndpoint(&herald.Endpoint{Circuit: herald.Circuit{State: herald.CircuitClosed}}, share{count: 1}, now)
	if !resume || q.paused(now) {
		t.Fatalf("after the reset: resume %v, paused %v; want it to flow", resume, q.paused(now))
	}
	q.jobs = make([]store.Job, 2)
	if l := d.holdLimit(q, now); l != 1000 {
		t.Errorf("hold limit after the reset: %d, want the queue's 1000", l)
	}
	if at := d.notBefore(q, now); !at.IsZero() {
		t.Errorf("a delivery turned away after the reset is due in %v, want at once", at.Sub(now))
	}
}

// TestBackedOffQueueLeavesTheSplit: a queue the application's rate held
// that then backs off sends nothing: it stops counting among the queues
// that split the rate, so the others hold their two seconds' worth.
func TestBackedOffQueueLeavesTheSplit(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{EndpointQueue: 1000, EndpointConcurrency: 1})
	d := b.engine.disp
	now := time.Now()
	app := &appLimit{perSec: 100}
	backedOff := &epQueue{ep: &herald.Endpoint{}, app: app, throttledAt: now, jobs: make([]store.Job, 10)}
	other := &epQueue{ep: &herald.Endpoint{}, app: app, throttledAt: now, jobs: make([]store.Job, 10)}
	backedOff.noteSharing(share{count: 1}, now)
	other.noteSharing(share{count: 1}, now)
	// A 429 with Retry-After: 60; serve notes the sharing again before it
	// sheds and leaves the queue to its back-off.
	backedOff.pausedUntil, backedOff.backoffUntil = now.Add(time.Minute), now.Add(time.Minute)
	backedOff.noteSharing(share{count: 1}, now)
	if n := app.queues.Load(); n != 1 {
		t.Errorf("queues splitting the rate during the back-off: %d, want 1", n)
	}
	if l := d.holdLimit(other, now); l != 200 {
		t.Errorf("the other queue's hold limit: %d, want two seconds of 100/s", l)
	}
}
