package delivery

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// What a queue holds in memory counts against MaxHeld, which every claim
// needs room in. A queue that cannot send for a while (its circuit is
// open, its endpoint asked it to back off, or it is held to a rate) and
// kept its whole EndpointQueue would keep that room for as long: a few
// such endpoints would stop the claims for every other. So such a queue
// holds only what it can send soon, and gives the rest back to the
// database, due when it can take them:
//
//   - behind an open circuit, at the circuit's RetryAt (the store knows
//     it);
//   - behind a back-off, when the back-off ends;
//   - at a rate, a second's worth at a time (paceStep), one after the
//     other, so they come due no faster than the queue sends them and
//     claims never meet them early.
//
// Given back due at once instead, they would sit at the head of the due
// index, and every claim would take them again before anything due later.

// paceStep is how far apart the batches of a rate-limited queue's
// deferred deliveries come due, each a paceStep's worth of its rate. The
// queue holds two: one to send while the poller claims the next.
const paceStep = time.Second

// drainRate is how many requests a second this node may send to q's
// endpoint: its share of the endpoint's ThrottleRate and of the
// application's, the lower of them; 0 when neither is set. q.mu is held.
func (q *epQueue) drainRate(nodes share) float64 {
	r := math.Inf(1)
	if q.ep != nil && q.ep.ThrottleRate > 0 {
		r = float64(nodes.rate(q.ep.ThrottleRate))
	}
	if q.appPerSec > 0 {
		r = min(r, float64(nodes.rate(q.appPerSec)))
	}
	if math.IsInf(r, 1) {
		return 0
	}
	return r
}

// holdLimit is how many deliveries q may hold in memory now: the probe's
// alone while its circuit blocks it, its share of the endpoint's
// concurrency during a back-off longer than paceStep, two paceSteps' worth
// at a rate, and queueCap otherwise. q.mu is held.
func (d *dispatcher) holdLimit(q *epQueue, now time.Time) int {
	if q.circuit.State != herald.CircuitClosed {
		return 1
	}
	nodes := d.e.nodeShare()
	limit := d.queueCap
	conc := nodes.concurrency(d.perEP)
	if r := q.drainRate(nodes); r > 0 {
		limit = min(limit, max(conc, int(math.Ceil(2*r*paceStep.Seconds()))))
	}
	if q.pausedUntil.Sub(now) > paceStep {
		limit = min(limit, conc)
	}
	return max(1, limit)
}

// notBefore is when a delivery q turns away is due: zero for at once, or
// while a circuit blocks (the store holds it at the circuit's RetryAt);
// the end of a back-off; or, at a rate, the next free place in the
// batches q gives back, after what q holds. q.mu is held.
func (q *epQueue) notBefore(nodes share, now time.Time) time.Time {
	if q.circuit.State != herald.CircuitClosed {
		return time.Time{}
	}
	start := now
	if q.paused(now) {
		start = q.pausedUntil
	}
	r := q.drainRate(nodes)
	if r <= 0 {
		if start.Equal(now) {
			return time.Time{}
		}
		return start
	}
	// The first batch is due when q has sent all but paceStep's worth of
	// what it holds: room for a batch.
	queued := float64(len(q.jobs) - q.head)
	earliest := start.Add(time.Duration(queued/r*float64(time.Second)) - paceStep)
	if earliest.Before(start) {
		earliest = start
	}
	batch := max(1, int(r*paceStep.Seconds()))
	if q.paceAt.Before(start) {
		// The batches given back before are all due: start afresh.
		q.paceAt, q.paceLeft, q.paceRate = earliest, batch, r
	}
	if q.paceLeft <= 0 {
		q.paceAt, q.paceLeft = q.paceAt.Add(paceStep), batch
	}
	q.paceLeft--
	return q.paceAt
}

// sped reports whether q may now send faster than the deliveries it gave
// back are paced (its rate was raised or lifted), and then forgets the
// pacing: the caller has the poller expedite the endpoint, or they would
// keep the old rate's times. q.mu is held.
func (q *epQueue) sped(nodes share, now time.Time) bool {
	if !q.paceAt.After(now) {
		return false
	}
	if r := q.drainRate(nodes); r > 0 && r <= q.paceRate {
		return false
	}
	q.paceAt, q.paceLeft, q.paceRate = time.Time{}, 0, 0
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
	nodes := d.e.nodeShare()
	for _, j := range extra {
		g.add(j, q.notBefore(nodes, now))
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
// and has the poller claim when the deferred ones come due.
func (e *Engine) giveBack(ctx context.Context, g givenBack, what string) {
	e.release(ctx, g.released, what)
	if len(g.deferred) == 0 {
		return
	}
	if err := e.store.DeferLeases(ctx, e.cfg.NodeID, g.deferred); err != nil && e.errLimit.allow("defer", e.now()) {
		e.log.Error("defer "+what+"; they are due when their lease runs out",
			slog.Int("deliveries", len(g.deferred)), slog.Any("error", err))
	}
	var last time.Time
	for _, d := range g.deferred {
		if !d.NotBefore.Equal(last) {
			e.poll.hint(d.NotBefore)
			last = d.NotBefore
		}
	}
}
