package delivery

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// What a queue holds in memory counts against MaxHeld, which every claim
// needs room in. A queue that cannot send for a while (its circuit is
// open, its endpoint asked it to back off, or its rate holds it) and kept
// its whole EndpointQueue would keep that room for as long: a few such
// endpoints would stop the claims for every other. So such a queue holds
// only what it can send soon, and gives the rest back to the database,
// due when it can take them:
//
//   - behind an open circuit, at the circuit's RetryAt (the store knows
//     it);
//   - behind a back-off, when the back-off ends;
//   - held by a rate, paced at it: in batches of half what the queue
//     holds, each due as the queue has sent the one before, so claims
//     meet them no faster than the queue takes them, and never early.
//
// Given back due at once instead, they would sit at the head of the due
// index, and every claim would take them again before anything due later.
// A queue slower than its rate (slow answers, its concurrency cap) is not
// held by it, and keeps its EndpointQueue like any other.

// paceStep is how recently a queue must have waited for its rate to be
// held by it (twice this), and how long a back-off must be for the queue
// to give back what it holds.
const paceStep = time.Second

// binding returns the rate that holds q on this node: its share of the
// endpoint's or the application's ThrottleRate, whichever is lower, with
// that limit as set (across the nodes) and the pacer for it, the
// application's one shared by all its queues. r is 0 when neither is set.
// q.mu is held.
func (q *epQueue) binding(nodes share) (r float64, perSec int, p *pacer) {
	r, perSec, p, _ = q.bindingOf(nodes)
	return r, perSec, p
}

// bindingOf is binding, and how many of this node's queues share the rate
// r: those of the application when its rate binds, else q alone.
func (q *epQueue) bindingOf(nodes share) (r float64, perSec int, p *pacer, sharing int) {
	if q.ep != nil && q.ep.ThrottleRate > 0 {
		r, perSec, p, sharing = float64(nodes.rate(q.ep.ThrottleRate)), q.ep.ThrottleRate, &q.pace, 1
	}
	if n := q.app.perSecond(); n > 0 {
		if ar := float64(nodes.rate(n)); r == 0 || ar < r {
			r, perSec, p, sharing = ar, n, &q.app.pace, max(1, int(q.app.queues.Load()))
		}
	}
	return r, perSec, p, sharing
}

// noteSharing counts q among the queues its application's rate holds
// while it does, with deliveries to send: they split what they hold of
// it (bindingOf). A queue behind its circuit or a back-off does not,
// since it sends nothing. q.mu is held.
func (q *epQueue) noteSharing(nodes share, now time.Time) {
	busy := false
	if q.app != nil && len(q.jobs) > q.head && q.rateBound(now) &&
		q.circuit.State == herald.CircuitClosed && q.backoffUntil.Sub(now) <= paceStep {
		_, _, p := q.binding(nodes)
		busy = p == &q.app.pace
	}
	if busy != q.sharing {
		q.sharing = busy
		if busy {
			q.app.joined(1)
		} else {
			q.app.joined(-1)
		}
	}
}

// leaveApp takes q out of its application's count. q.mu is held.
func (q *epQueue) leaveApp() {
	if q.sharing {
		q.sharing = false
		q.app.joined(-1)
	}
}

// rateBound reports whether q's rate is what holds it now: it waited for
// it lately. q.mu is held.
func (q *epQueue) rateBound(now time.Time) bool {
	return !q.throttledAt.IsZero() && now.Sub(q.throttledAt) < 2*paceStep
}

// holdLimit is how many deliveries q may hold in memory now: the probe's
// alone while its circuit blocks it, its share of the endpoint's
// concurrency during a back-off longer than paceStep, two seconds' worth
// (at least that share; its part of it when the application's rate binds
// its queues) while its rate holds it, and queueCap otherwise. q.mu is
// held.
func (d *dispatcher) holdLimit(q *epQueue, now time.Time) int {
	if q.circuit.State != herald.CircuitClosed {
		return 1
	}
	nodes := d.e.nodeShare()
	limit := d.queueCap
	conc := nodes.concurrency(d.perEP)
	if q.rateBound(now) { // first: binding reads the application's rate under its lock
		if r, _, _, sharing := q.bindingOf(nodes); r > 0 {
			limit = min(limit, max(conc, int(math.Ceil(2*r/float64(sharing)))))
		}
	}
	if q.backoffUntil.Sub(now) > paceStep {
		limit = min(limit, conc)
	}
	return max(1, limit)
}

// notBefore is when a delivery q turns away is due: zero for at once, or
// while a circuit blocks (the store holds it at the circuit's RetryAt);
// the end of a back-off; or, while a rate holds q, its place in the
// batches given back at that rate, after what q holds. q.mu is held.
func (d *dispatcher) notBefore(q *epQueue, now time.Time) time.Time {
	if q.circuit.State != herald.CircuitClosed {
		return time.Time{}
	}
	if q.backoffUntil.Sub(now) > paceStep {
		// Due when the back-off ends, and not placed among the batches
		// of a pacer the application's other queues share: they would
		// all wait for it.
		return q.backoffUntil
	}
	start := now
	if q.paused(now) {
		start = q.pausedUntil
	}
	r, perSec, p := q.binding(d.e.nodeShare())
	if r <= 0 || !q.rateBound(now) {
		if start.Equal(now) {
			return time.Time{}
		}
		return start
	}
	batch := max(1, d.holdLimit(q, now)/2)
	step := seconds(float64(batch) / r)
	// The first batch is due when what q holds is down to a batch, and
	// never sooner than a step: never at once.
	first := start.Add(max(step, seconds(float64(len(q.jobs)-q.head-batch)/r)))
	at := p.next(start, first, batch, step)
	if at.After(q.pacedUntil) {
		q.pacedUntil = at
	}
	q.pacedPerSec = perSec
	q.pacedApp = q.pacedApp || p != &q.pace
	return at
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// pacer places deliveries given back at a rate: batch of them at at, the
// next batch a step later.
type pacer struct {
	mu   sync.Mutex
	at   time.Time
	left int
}

// next places one delivery: in the batch being filled, or the next one.
// Once every batch placed is due (at is before start), it starts afresh at
// first.
func (p *pacer) next(start, first time.Time, batch int, step time.Duration) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.at.Before(start) {
		p.at, p.left = first, batch
	}
	if p.left <= 0 {
		p.at, p.left = p.at.Add(step), batch
	}
	p.left--
	return p.at
}

func (p *pacer) reset() {
	p.mu.Lock()
	p.at, p.left = time.Time{}, 0
	p.mu.Unlock()
}

// sped reports whether q may now go faster than what it gave back was
// paced at (its rate, or its application's, was raised or lifted): the
// caller has the poller expedite the endpoint's paced deliveries
// (ExpeditePaced), or they would keep the old rate's times. Limits are
// compared as set, across the nodes: a node joining or leaving changes
// only the shares. q.mu is held.
func (q *epQueue) sped(nodes share, now time.Time) bool {
	if !q.pacedUntil.After(now) {
		return false
	}
	if _, perSec, _ := q.binding(nodes); perSec > 0 && perSec <= q.pacedPerSec {
		return false
	}
	q.pace.reset()
	if q.pacedApp && q.app != nil {
		q.app.pace.reset()
	}
	q.pacedUntil, q.pacedPerSec, q.pacedApp = time.Time{}, 0, false
	return true
}

// givenBack is what a queue turned away: deliveries due at once, and
// deliveries deferred.
type givenBack struct {
	released []store.DeliveryKey
	deferred []store.Deferral
}

func (g *givenBack) add(job store.Job, notBefore time.Time) {
	k := store.DeliveryKey{MsgID: job.Delivery.MsgID, EndpointID: job.Delivery.EndpointID}
	if notBefore.IsZero() {
		g.released = append(g.released, k)
		return
	}
	g.deferred = append(g.deferred, store.Deferral{DeliveryKey: k, NotBefore: notBefore})
}

func (g *givenBack) len() int { return len(g.released) + len(g.deferred) }

// dueSoon reports whether any of g is due again within paceStep of now:
// a claim now, or soon, would take it back.
func (g *givenBack) dueSoon(now time.Time) bool {
	if len(g.released) > 0 {
		return true
	}
	for _, d := range g.deferred {
		if d.NotBefore.Sub(now) < paceStep {
			return true
		}
	}
	return false
}

// shed takes from q the deliveries beyond its holdLimit, for the caller to
// give back (giveBack) and take off the dispatcher's count. The first
// stay: they go first. q.mu is held.
func (d *dispatcher) shed(q *epQueue, now time.Time) givenBack {
	var g givenBack
	keep := q.head + d.holdLimit(q, now)
	if keep >= len(q.jobs) {
		return g
	}
	extra := q.jobs[keep:]
	// A fresh slice, so the queue does not keep its cap's backing array.
	q.jobs, q.head = slices.Clone(q.jobs[q.head:keep]), 0
	for _, j := range extra {
		g.add(j, d.notBefore(q, now))
		size := payloadSize(j)
		q.bytes -= size
		d.dropBytes(size)
	}
	// Claim them back once the queue drains, as with a spill.
	q.spilled = true
	return g
}

// shedBack gives back what a queue shed, and wakes the poller: a claim it
// gave up for lack of room may go now.
func (e *Engine) shedBack(g givenBack) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.metrics.spilled.Add(float64(g.len()))
	e.giveBack(ctx, g, "deliveries held back")
	e.poll.wake()
}

// giveBack hands deliveries the queues turned away back to the database,
// and has the poller claim when the first deferred ones come due, if
// soon; the queues' own wake-ups (spilled) and the regular poll find the
// rest. Hints of times far ahead would crowd out those of retries.
func (e *Engine) giveBack(ctx context.Context, g givenBack, what string) {
	e.release(ctx, g.released, what)
	if len(g.deferred) == 0 {
		return
	}
	if err := e.store.DeferLeases(ctx, e.cfg.NodeID, g.deferred); err != nil && e.errLimit.allow("defer", e.now()) {
		e.log.Error("defer "+what+"; they are due when their lease runs out",
			slog.Int("deliveries", len(g.deferred)), slog.Any("error", err))
	}
	first := g.deferred[0].NotBefore
	for _, d := range g.deferred[1:] {
		if d.NotBefore.Before(first) {
			first = d.NotBefore
		}
	}
	if first.Sub(e.now()) <= maxHintAhead {
		e.poll.hint(first)
	}
}

// maxHintAhead is how far ahead a deferral is hinted to the poller.
const maxHintAhead = 10 * time.Second
