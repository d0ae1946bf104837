package delivery

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// dispatcher holds deliveries in memory, one queue per endpoint, and runs
// them on a shared pool of workers. Each queue has its own in-flight cap
// and back-off, and a worker only ever waits on the endpoint it is sending
// to, so a slow endpoint holds at most its own cap of workers and never
// delays another endpoint's deliveries.
type dispatcher struct {
	e        *Engine
	perEP    int // EndpointConcurrency
	queueCap int // EndpointQueue

	mu     sync.RWMutex
	queues map[string]*epQueue

	run   runQueue
	held  atomic.Int64 // deliveries in memory, queued or in flight
	bytes atomic.Int64 // their payloads' bytes while queued (MaxHeldBytes)
	// avgPayload is a running average of payload sizes, to size claims
	// by the bytes left; bytesFull is set when a delivery was turned
	// away for bytes, until the queues have drained to half of them.
	avgPayload atomic.Int64
	bytesFull  atomic.Bool
	stopping   atomic.Bool
	workers    sync.WaitGroup

	inflight inflight // taken from the queues, not recorded yet (release.go)
}

// fairnessBatch is how many deliveries a worker sends for one endpoint
// before letting other endpoints' waiting work go first.
const fairnessBatch = 32

func newDispatcher(e *Engine) *dispatcher {
	d := &dispatcher{
		e:        e,
		perEP:    e.cfg.EndpointConcurrency,
		queueCap: e.cfg.EndpointQueue,
		queues:   make(map[string]*epQueue),
	}
	d.run.init()
	return d
}

func (d *dispatcher) start() {
	for range d.e.cfg.Workers {
		d.workers.Add(1)
		go d.worker()
	}
}

// enqueue hands jobs to their endpoints' queues and returns those that
// did not fit (a full queue, or a stopping engine), for the caller to give
// back (giveBack).
func (d *dispatcher) enqueue(jobs []store.Job) (spilled givenBack) {
	for i := range jobs {
		if fits, notBefore := d.enqueueOne(jobs[i]); !fits {
			spilled.add(jobs[i], notBefore)
		}
	}
	return spilled
}

// enqueueOne queues job, or reports when it is due if it does not fit
// (zero: at once).
func (d *dispatcher) enqueueOne(job store.Job) (fits bool, notBefore time.Time) {
	if d.stopping.Load() {
		return false, time.Time{}
	}
	for {
		q := d.queue(job.Delivery.EndpointID, job.Delivery.AppID)
		q.mu.Lock()
		if q.dead {
			q.mu.Unlock()
			continue
		}
		if d.stopping.Load() {
			// Stop may already have emptied this queue: do not strand
			// the job in it.
			q.mu.Unlock()
			return false, time.Time{}
		}
		if job.Endpoint != nil {
			if q.ep == nil || job.Endpoint.UpdatedAt.After(q.ep.UpdatedAt) {
				q.ep = job.Endpoint
				// Re-enabled since this node saw it go (through another
				// node's API, which only that node's cache hears of).
				if !job.Endpoint.Disabled {
					q.revive()
				}
			}
			q.learnCircuit(job.Endpoint.Circuit)
		}
		now := d.e.now()
		if q.sped(d.e.nodeShare(), now) {
			d.e.poll.expedite(q.appID, q.id)
		}
		size := payloadSize(job)
		roomy := len(q.jobs)-q.head < d.holdLimit(q, now)
		fits = roomy && (len(q.jobs) == q.head || d.bytes.Load()+size <= int64(d.e.cfg.MaxHeldBytes))
		d.notePayload(size)
		if fits {
			q.jobs = append(q.jobs, job)
			q.bytes += size
			d.bytes.Add(size)
			d.held.Add(1)
			q.noteSharing(d.e.nodeShare(), now)
		} else {
			if roomy {
				// Over MaxHeldBytes: claimed back once the node's
				// queues have drained (dropBytes), not this queue.
				d.bytesFull.Store(true)
			} else {
				q.spilled = true
			}
			d.e.metrics.spilled.Inc()
			notBefore = d.notBefore(q, now)
		}
		// Even a delivery turned away wakes the queue: one whose circuit
		// holds it back may be due for its probe.
		push := q.active < d.e.nodeShare().concurrency(d.perEP) && q.active < len(q.jobs)-q.head && !q.paused(now)
		if push {
			q.active++
		} else if q.paused(now) {
			d.armResume(q, now)
		}
		q.mu.Unlock()
		if push {
			d.run.push(q)
		}
		return fits, notBefore
	}
}

// queue returns the endpoint's queue, creating it.
func (d *dispatcher) queue(endpointID, appID string) *epQueue {
	d.mu.RLock()
	q := d.queues[endpointID]
	d.mu.RUnlock()
	if q != nil {
		return q
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if q = d.queues[endpointID]; q == nil {
		q = &epQueue{id: endpointID, appID: appID}
		d.queues[endpointID] = q
	}
	return q
}

// lookup returns the endpoint's queue if it exists.
func (d *dispatcher) lookup(endpointID string) *epQueue {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.queues[endpointID]
}

// queuesOf returns the queues of an application's endpoints.
func (d *dispatcher) queuesOf(appID string) []*epQueue {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []*epQueue
	for _, q := range d.queues {
		if q.appID == appID {
			out = append(out, q)
		}
	}
	return out
}

// all returns the queues. Each is then read under its own lock only:
// waiting for one with d.mu held (its holder may be waiting on the store,
// for a circuit write) would stall every publish that looks up a queue.
func (d *dispatcher) all() []*epQueue {
	d.mu.RLock()
	defer d.mu.RUnlock()
	queues := make([]*epQueue, 0, len(d.queues))
	for _, q := range d.queues {
		queues = append(queues, q)
	}
	return queues
}

// sweep forgets idle queues so the map does not grow with every endpoint
// ever seen.
func (d *dispatcher) sweep() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, q := range d.queues {
		// A queue whose lock is held is not idle, and its holder may be
		// waiting on the store (a circuit write): waiting for it here,
		// with d.mu held, would stall every publish.
		if !q.mu.TryLock() {
			continue
		}
		// A queue whose circuit is open keeps it (and its failure count).
		if q.active == 0 && len(q.jobs) == q.head && q.timer == nil && (q.circuit.State == herald.CircuitClosed || q.gone) {
			q.dead = true
			delete(d.queues, id)
			q.leaveApp()
		}
		q.mu.Unlock()
	}
}

// worker serves queues from the run queue until the dispatcher stops.
func (d *dispatcher) worker() {
	defer d.workers.Done()
	for {
		q := d.run.pop()
		if q == nil {
			return
		}
		d.serve(q)
	}
}

// serve sends q's deliveries one after another while it has some, then
// gives up its token.
func (d *dispatcher) serve(q *epQueue) {
	for n := 0; ; n++ {
		// The application's limiter may read the store: before the lock.
		app := d.e.apps.get(d.e.sendCtx, q.appID)
		q.mu.Lock()
		now := d.e.now()
		if q.app != app {
			q.leaveApp()
			q.app = app
		}
		q.noteSharing(d.e.nodeShare(), now)
		if q.sped(d.e.nodeShare(), now) {
			d.e.poll.expedite(q.appID, q.id)
		}
		if q.active > d.e.nodeShare().concurrency(d.perEP) {
			// More nodes share the endpoint's cap than when this token
			// was handed out: give it back. The other tokens, at least
			// one, keep serving the queue.
			q.active--
			q.mu.Unlock()
			return
		}
		if d.stopping.Load() || len(q.jobs) == q.head || q.paused(now) {
			q.active--
			var shed givenBack
			if q.paused(now) && len(q.jobs) > q.head {
				if !d.stopping.Load() {
					shed = d.shed(q, now)
				}
				d.armResume(q, now)
			}
			q.mu.Unlock()
			if n := shed.len(); n > 0 {
				d.held.Add(-int64(n))
				d.e.shedBack(shed)
			}
			return
		}
		if n >= fairnessBatch && d.run.waiting() {
			// Keep the token but go to the back of the line.
			q.mu.Unlock()
			d.run.push(q)
			return
		}
		if q.gone || (q.ep == nil && q.jobs[q.head].Endpoint == nil) {
			keys := d.takeAll(q)
			q.mu.Unlock()
			d.e.dropGone(keys)
			continue
		}
		job := q.jobs[q.head]
		ep := q.ep
		if ep == nil {
			ep = job.Endpoint
		}
		wait, probe := d.circuitGate(q, now)
		if wait == 0 {
			if wait = throttle(q, app, ep, d.e.nodeShare(), now); wait > 0 {
				q.throttledAt = now
			}
		}
		if wait > 0 {
			// Held back by the circuit, or over the endpoint's or the
			// application's rate: leave the job queued and pause, with
			// no attempt made.
			if probe {
				q.probing, q.probeGranted = false, true // it goes next
			}
			q.pausedUntil = now.Add(wait)
			q.mu.Unlock()
			continue
		}
		size := payloadSize(job)
		q.bytes -= size
		d.dropBytes(size)
		q.jobs[q.head] = store.Job{}
		q.head++
		d.inflight.add(store.DeliveryKey{MsgID: job.Delivery.MsgID, EndpointID: job.Delivery.EndpointID})
		if q.spilled && len(q.jobs)-q.head <= d.holdLimit(q, now)/2 {
			q.spilled = false
			d.e.poll.wake()
		}
		if q.head == len(q.jobs) {
			q.jobs, q.head = q.jobs[:0], 0
		} else if q.head >= 1024 && q.head*2 >= len(q.jobs) {
			q.jobs, q.head = slices.Clone(q.jobs[q.head:]), 0
		}
		plan := sendPlan{ep: ep, failingSince: q.failingSince(job.Endpoint, ep), probe: probe}
		plan.signer, plan.signerErr = q.signerFor(ep, now)
		q.mu.Unlock()

		res, pause, stored := d.e.attempt(job, plan)
		if !res.Interrupted {
			q.mu.Lock()
			if stored != nil {
				q.adoptFailingSince(*stored, res.Attempt.CreatedAt)
			}
			q.noteHealth(res)
			closed := d.noteCircuit(q, res, plan.probe)
			q.mu.Unlock()
			if closed {
				d.resume(q)
				// Closing made the backlog the store held at the
				// circuit's RetryAt due: claim it.
				d.e.poll.wake()
			}
		}
		if pause > 0 {
			// Pause before the result is out, so nothing sent after it
			// was recorded can slip past the back-off.
			q.mu.Lock()
			until := d.e.now().Add(pause)
			if until.After(q.pausedUntil) {
				q.pausedUntil = until
			}
			if until.After(q.backoffUntil) {
				q.backoffUntil = until
			}
			q.mu.Unlock()
		}
		d.e.rec.add(res)
		d.held.Add(-1)
	}
}

// armResume makes sure a paused queue restarts when its back-off ends.
// q.mu is held.
func (d *dispatcher) armResume(q *epQueue, now time.Time) {
	if q.timer == nil && !d.stopping.Load() {
		q.timer = time.AfterFunc(q.pausedUntil.Sub(now), func() { d.resume(q) })
	}
}

// resume restarts a paused queue when its back-off ends.
func (d *dispatcher) resume(q *epQueue) {
	q.mu.Lock()
	q.timer = nil
	if now := d.e.now(); q.paused(now) {
		// The back-off was extended while the timer ran.
		d.armResume(q, now)
		q.mu.Unlock()
		return
	}
	q.pausedUntil = time.Time{}
	n, limit := 0, d.e.nodeShare().concurrency(d.perEP)
	for !d.stopping.Load() && q.active < limit && q.active < len(q.jobs)-q.head {
		q.active++
		n++
	}
	q.mu.Unlock()
	for range n {
		d.run.push(q)
	}
}

// beginStop makes workers stop taking deliveries; the ones they are
// sending finish.
func (d *dispatcher) beginStop() {
	d.stopping.Store(true)
	d.run.close()
}

// waitWorkers waits for every worker to return, or for ctx to end; it
// reports whether they all returned.
func (d *dispatcher) waitWorkers(ctx context.Context) bool {
	done := make(chan struct{})
	go func() {
		d.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// takeQueued empties every queue after the workers stopped and returns the
// keys of the deliveries that were never sent.
func (d *dispatcher) takeQueued() []store.DeliveryKey {
	d.mu.Lock()
	defer d.mu.Unlock()
	var keys []store.DeliveryKey
	for _, q := range d.queues {
		q.mu.Lock()
		if q.timer != nil {
			q.timer.Stop()
			q.timer = nil
		}
		keys = append(keys, d.takeAll(q)...)
		q.mu.Unlock()
	}
	return keys
}

// takeAll empties q, takes what it held off the dispatcher's counts, and
// returns the keys. q.mu is held.
func (d *dispatcher) takeAll(q *epQueue) []store.DeliveryKey {
	keys := q.takeAll()
	d.held.Add(-int64(len(keys)))
	d.dropBytes(q.bytes)
	q.bytes = 0
	return keys
}

// dropBytes takes size bytes off the count, and wakes the poller once the
// queues hold half of MaxHeldBytes or less after deliveries were turned
// away for bytes. Waking sooner would claim rows only to give them back.
func (d *dispatcher) dropBytes(size int64) {
	if d.bytes.Add(-size) <= int64(d.e.cfg.MaxHeldBytes)/2 && d.bytesFull.CompareAndSwap(true, false) {
		d.e.poll.wake()
	}
}

// notePayload adds size to the running average of payload sizes.
func (d *dispatcher) notePayload(size int64) {
	avg := d.avgPayload.Load()
	d.avgPayload.Store(avg + (size-avg)/16)
}

// claimLimit bounds a claim of limit deliveries by the payload bytes the
// queues may still take: 0 when they hold MaxHeldBytes.
func (d *dispatcher) claimLimit(limit int) int {
	left := int64(d.e.cfg.MaxHeldBytes) - d.bytes.Load()
	if left <= 0 {
		// Claimed back once the queues have drained, as for deliveries
		// turned away (dropBytes); a drain before the flag was set
		// would not wake the poller, so look again.
		d.bytesFull.Store(true)
		d.dropBytes(0)
		return 0
	}
	if avg := d.avgPayload.Load(); avg > 0 {
		limit = int(min(int64(limit), max(1, left/avg)))
	}
	return limit
}

// payloadSize is what job counts against MaxHeldBytes.
func payloadSize(job store.Job) int64 {
	if job.Message == nil {
		return 0
	}
	return int64(len(job.Message.Payload))
}
