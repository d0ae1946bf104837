package delivery

import (
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/webhook"
)

// epQueue is one endpoint's deliveries waiting in memory.
type epQueue struct {
	id    string
	appID string // fixed at creation

	mu     sync.Mutex
	jobs   []store.Job // FIFO from head
	head   int
	bytes  int64 // the payload bytes of jobs[head:] (MaxHeldBytes)
	active int   // workers serving this queue, or tokens for it in the run queue
	ep     *herald.Endpoint
	gone   bool // disabled or deleted: cancel instead of sending
	dead   bool // removed from the dispatcher's map; look it up again

	// spilled is set when deliveries were turned away for lack of room;
	// once the queue has drained to half, the poller is woken to claim
	// them back.
	spilled bool

	pausedUntil time.Time
	timer       *time.Timer
	// backoffUntil is when the back-off the endpoint asked for (429 and
	// the like, Retry-After) ends; pausedUntil also covers the waits for
	// its rate and its circuit.
	backoffUntil time.Time

	signerKeys []string
	signer     *webhook.Signer
	signerErr  error

	// limiter enforces the endpoint's ThrottleRate; nil when unlimited.
	limiter     *rate.Limiter
	limiterRate rate.Limit
	// app is the application's limiter, as the last worker found it;
	// nil until one did. sharing is set while q counts among the queues
	// its rate holds (appLimit.queues).
	app     *appLimit
	sharing bool

	// What the queue gives back while its rate holds it (hold.go): when
	// it last waited for its rate, the batches it places at its own
	// rate, and the last time it handed out with the limit it paced at
	// (requests a second across the nodes).
	throttledAt time.Time
	pace        pacer
	pacedUntil  time.Time
	pacedPerSec int
	pacedApp    bool // some were paced by the application's pacer

	// What this node saw of the endpoint's health since its snapshot was
	// taken: the last success, and the first failure after it.
	okAt      time.Time
	failStart time.Time

	// The endpoint's circuit breaker as this node knows it (circuit.go),
	// and the consecutive failed attempts this node saw.
	circuit      herald.Circuit
	fails        int
	probing      bool // this node's probe is in flight
	probeGranted bool // this node won the probe but has not sent it yet
}

// sendPlan is what a worker needs, besides the job, to make an attempt.
type sendPlan struct {
	ep           *herald.Endpoint // the endpoint's latest known settings
	signer       *webhook.Signer  // nil: no usable key
	signerErr    error
	failingSince time.Time
	probe        bool // the circuit's half-open probe
}

// throttle applies this node's share of the endpoint's ThrottleRate and
// returns how long to wait before the next request (0: go now). q.mu is
// held.
func (q *epQueue) throttle(ep *herald.Endpoint, nodes share, now time.Time) time.Duration {
	if ep.ThrottleRate <= 0 {
		q.limiter, q.limiterRate = nil, 0
		return 0
	}
	if limit := nodes.rate(ep.ThrottleRate); q.limiter == nil || q.limiterRate != limit {
		// A tenth of a second's worth may go at once, at least one.
		q.limiter = rate.NewLimiter(limit, max(1, int(limit/10)))
		q.limiterRate = limit
	}
	r := q.limiter.ReserveN(now, 1)
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return wait
	}
	return 0
}

// throttle applies this node's share of the application's ThrottleRate
// (app nil: unknown, so unlimited) and of the endpoint's, and returns how
// long to wait before the next request (0: go now, both taken). q.mu is
// held.
func throttle(q *epQueue, app *appLimit, ep *herald.Endpoint, nodes share, now time.Time) time.Duration {
	var appRes *rate.Reservation
	if app != nil {
		var wait time.Duration
		if appRes, wait = app.reserve(nodes, now); wait > 0 {
			return wait
		}
	}
	wait := q.throttle(ep, nodes, now)
	if wait > 0 && appRes != nil {
		appRes.CancelAt(now) // the request does not go: give the token back
	}
	return wait
}

// failingSince is when the endpoint began failing without a success, as
// best this node knows: the stored value from the job's snapshot, unless
// this node has seen a success since, and the first failure it saw
// otherwise. q.mu is held.
func (q *epQueue) failingSince(snapshot, latest *herald.Endpoint) time.Time {
	fs := latest.FailingSince
	if snapshot != nil && !snapshot.FailingSince.IsZero() && (fs.IsZero() || snapshot.FailingSince.Before(fs)) {
		fs = snapshot.FailingSince
	}
	if !fs.IsZero() && q.okAt.After(fs) {
		fs = time.Time{}
	}
	if fs.IsZero() || (!q.failStart.IsZero() && q.failStart.Before(fs)) {
		fs = q.failStart
	}
	return fs
}

// adoptFailingSince takes the store's word (asked at) for when the
// endpoint began failing, zero for not: another node's success, or an
// operator's re-enabling, makes this node's older view wrong, and it would
// ask the store again at every failure. q.mu is held.
func (q *epQueue) adoptFailingSince(since, at time.Time) {
	if q.okAt.After(at) {
		return // another worker saw a success since: it says more
	}
	if since.IsZero() {
		q.okAt, q.failStart = at, time.Time{}
		return
	}
	q.okAt, q.failStart = since.Add(-time.Nanosecond), since
}

// noteHealth remembers what an attempt says about the endpoint's health.
// q.mu is held.
func (q *epQueue) noteHealth(res store.Result) {
	if res.Outcome.Status == herald.StatusSuccess {
		q.okAt, q.failStart = res.Attempt.CreatedAt, time.Time{}
		return
	}
	// A failure of an attempt begun before the last success (a slow one,
	// recorded after it) does not start a failing spell.
	if q.failStart.IsZero() && res.Attempt.CreatedAt.After(q.okAt) {
		q.failStart = res.Attempt.CreatedAt
	}
}

// revive marks q's endpoint active. Re-enabled after it was disabled, it
// starts afresh: the failures this node saw before would count towards
// disabling it again. q.mu is held.
func (q *epQueue) revive() {
	if q.gone {
		q.gone, q.okAt, q.failStart, q.fails = false, time.Time{}, time.Time{}, 0
	}
}

// takeAll empties q and returns the keys of what it held. q.mu is held.
func (q *epQueue) takeAll() []store.DeliveryKey {
	keys := make([]store.DeliveryKey, 0, len(q.jobs)-q.head)
	for _, j := range q.jobs[q.head:] {
		keys = append(keys, store.DeliveryKey{MsgID: j.Delivery.MsgID, EndpointID: j.Delivery.EndpointID})
	}
	clear(q.jobs)
	q.jobs, q.head = q.jobs[:0], 0
	return keys
}

// paused reports whether the endpoint asked us to back off. q.mu is held.
func (q *epQueue) paused(now time.Time) bool {
	return !q.pausedUntil.IsZero() && now.Before(q.pausedUntil)
}

// signerFor returns the cached signer for ep's current keys. q.mu is held.
func (q *epQueue) signerFor(ep *herald.Endpoint, now time.Time) (*webhook.Signer, error) {
	keys := ep.SigningKeys(now)
	if q.signerKeys != nil && slices.Equal(keys, q.signerKeys) {
		return q.signer, q.signerErr
	}
	q.signerKeys = keys
	q.signer, q.signerErr = nil, nil
	if len(keys) > 0 {
		q.signer, q.signerErr = webhook.NewSigner(keys...)
	}
	return q.signer, q.signerErr
}

// setEndpoint updates q after the endpoint changed: ep nil means it is
// disabled or deleted, so its queued deliveries get canceled. It reports
// whether q's circuit was closed, so the caller resumes the queue, and
// whether its rate was raised past what it paced deliveries at, so the
// caller expedites them (sped).
func (q *epQueue) setEndpoint(ep *herald.Endpoint, nodes share, now time.Time) (resume, expedite bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if ep == nil || ep.Disabled {
		q.gone = true
		return false, false
	}
	q.revive()
	q.ep = ep
	expedite = q.sped(nodes, now)
	if ep.Circuit.State == herald.CircuitClosed && q.circuit.State != herald.CircuitClosed && !q.probing {
		// Closed in the store (an operator reset it): flow again.
		q.closeCircuit()
		return true, expedite
	}
	q.learnCircuit(ep.Circuit)
	return false, expedite
}
