package delivery

import (
	"context"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// The circuit breaker stops Herald hammering an endpoint that keeps
// failing. After CircuitFailures consecutive failed attempts seen by a
// node, that node opens the endpoint's circuit in the store: every node's
// queue for it pauses, and claims skip its deliveries, with no attempt
// made. When the cool-down ends, the one node that wins the store's probe
// sends a single delivery: success closes the circuit and the queue flows
// again, failure re-opens it for twice as long (up to CircuitMaxCooldown).
//
// Transitions write to the store while the queue's lock is held: they are
// rare (one per cool-down) and keep the queue's view and the store's in
// step.

// circuitCallTimeout bounds one circuit write.
const circuitCallTimeout = 10 * time.Second

// circuitGate decides whether q may send now as far as its circuit goes:
// wait > 0 pauses the queue, probe reports that the next delivery is the
// circuit's probe. q.mu is held.
func (d *dispatcher) circuitGate(q *epQueue, now time.Time) (wait time.Duration, probe bool) {
	c := q.circuit
	switch {
	case c.State == herald.CircuitClosed:
		return 0, false
	case q.probeGranted:
		q.probeGranted, q.probing = false, true
		return 0, true
	case q.probing:
		// This node's probe is out: its result resumes the queue.
		return max(c.RetryAt.Sub(now), d.e.cfg.Timeout), false
	case c.State == herald.CircuitOpen && now.Before(c.RetryAt):
		return c.RetryAt.Sub(now), false
	}
	// The cool-down ended, or another node's probe is out: ask the store.
	ctx, cancel := context.WithTimeout(context.Background(), circuitCallTimeout)
	c, won, err := d.e.store.ProbeCircuit(ctx, q.id, now, d.e.probeHold())
	cancel()
	if err != nil {
		d.e.circuitError("probe circuit", q.id, err)
		return time.Second, false
	}
	q.circuit = c
	switch {
	case won:
		q.probing = true
		d.e.log.Info("circuit half-open: sending a probe", slog.String("endpoint_id", q.id))
		return 0, true
	case c.State == herald.CircuitClosed:
		q.closeCircuit() // another node's probe succeeded
		return 0, false
	case c.State == herald.CircuitHalfOpen:
		// Another node's probe is out: look again soon rather than at
		// the end of its hold, to flow as soon as it closes the circuit.
		return min(max(c.RetryAt.Sub(now), 10*time.Millisecond), time.Second), false
	}
	return max(c.RetryAt.Sub(now), 10*time.Millisecond), false
}

// noteCircuit applies an attempt's result to q's circuit, and reports
// whether the circuit closed (the caller resumes the queue). q.mu is held.
func (d *dispatcher) noteCircuit(q *epQueue, res store.Result, probe bool) (closed bool) {
	e := d.e
	// With the breaker off, and for a herald listen session (its hub knows
	// when it is back, and makes its backlog due at once then), no result
	// opens a circuit. One opened before (by a node with the breaker on,
	// or while the endpoint had another URL) is still learned and probed:
	// whatever the probe's result, it closes, or the queue would wait for
	// a close that never comes.
	breaker := e.cfg.CircuitFailures >= 0 && !IsListenURL(res.Attempt.URL)
	ctx, cancel := context.WithTimeout(context.Background(), circuitCallTimeout)
	defer cancel()
	if res.Outcome.Status == herald.StatusSuccess || !breaker {
		if res.Outcome.Status == herald.StatusSuccess {
			q.fails = 0
		}
		if q.circuit.State == herald.CircuitClosed {
			return false
		}
		if err := e.store.CloseCircuit(ctx, q.id, e.now()); err != nil {
			// Stays as it is: the next probe closes it.
			e.circuitError("close circuit", q.id, err)
			q.probing = false
			return false
		}
		q.closeCircuit()
		e.log.Info("circuit closed", slog.String("endpoint_id", q.id))
		e.endpts.invalidate(res.Attempt.AppID)
		return true
	}
	q.fails++
	now := e.now()
	var (
		from     herald.CircuitState
		cooldown time.Duration
	)
	switch {
	case probe:
		q.probing = false
		from, cooldown = herald.CircuitHalfOpen, min(max(2*q.circuit.Cooldown, e.cfg.CircuitCooldown), e.cfg.CircuitMaxCooldown)
	case q.circuit.State == herald.CircuitClosed && q.fails >= e.cfg.CircuitFailures:
		from, cooldown = herald.CircuitClosed, e.cfg.CircuitCooldown
	default:
		return false
	}
	c, err := e.store.OpenCircuit(ctx, q.id, from, now, cooldown)
	if err != nil {
		// Hold this node back all the same.
		e.circuitError("open circuit", q.id, err)
		c = herald.Circuit{State: herald.CircuitOpen, OpenedAt: now, RetryAt: now.Add(cooldown), Cooldown: cooldown}
	}
	q.circuit = c
	if c.RetryAt.After(q.pausedUntil) {
		q.pausedUntil = c.RetryAt
	}
	e.log.Warn("circuit open", slog.String("app_id", res.Attempt.AppID), slog.String("endpoint_id", q.id),
		slog.Int("failures", q.fails), slog.Time("retry_at", c.RetryAt))
	e.endpts.invalidate(res.Attempt.AppID)
	return false
}

// closeCircuit forgets q's circuit and its failures, and ends its pause
// and back-off: however it closed (a probe, an operator's reset, another
// node's probe), opening it again takes CircuitFailures new failures.
// q.mu is held.
func (q *epQueue) closeCircuit() {
	q.circuit, q.probing, q.probeGranted, q.pausedUntil = herald.Circuit{}, false, false, time.Time{}
	q.backoffUntil, q.fails = time.Time{}, 0
}

// learnCircuit adopts what a snapshot of the endpoint says about its
// circuit: a circuit another node opened holds this node back too, and one
// whose cool-down ended sends this node to the store for the probe, so
// only one node sends it. A closed snapshot is not trusted (it may be
// older than this node's view): closing is learned from the store when
// probing. q.mu is held.
func (q *epQueue) learnCircuit(c herald.Circuit) {
	if q.circuit.State == herald.CircuitClosed && c.State != herald.CircuitClosed {
		q.circuit = c
	}
}

// probeHold is how long a probe keeps the circuit half-open before another
// node may send one: longer than a send may last (a wait for a connection
// and for the response headers, connWaitLimit+1 timeouts, then one for the
// body), and its recording.
func (e *Engine) probeHold() time.Duration {
	return (connWaitLimit+2)*e.cfg.Timeout + 5*time.Second
}

func (e *Engine) circuitError(what, endpointID string, err error) {
	if e.errLimit.allow(what, e.now()) {
		e.log.Error(what, slog.String("endpoint_id", endpointID), slog.Any("error", err))
	}
}

// openCircuits counts the endpoints whose circuit this node sees open or
// half-open, for the herald_circuits_open gauge.
func (d *dispatcher) openCircuits() int {
	n := 0
	for _, q := range d.all() {
		q.mu.Lock()
		if q.circuit.State != herald.CircuitClosed {
			n++
		}
		q.mu.Unlock()
	}
	return n
}
