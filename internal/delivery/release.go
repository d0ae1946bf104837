package delivery

import (
	"context"
	"log/slog"
	"sync"

	"github.com/heraldhq/herald/internal/store"
)

// Leases: a node extends, at each heartbeat, only the leases of what it
// holds in memory: the deliveries in its queues, and those it has taken
// from them and not yet seen recorded (in flight). A delivery leased to
// it in the database alone, because a release failed or because a
// publish or claim committed while the node heard an error, is then not
// kept from the others: its lease runs out, and any node claims it, this
// one included. Extending every lease of the node instead (by owner) kept
// such deliveries unsent for as long as the node ran.

// inflight counts the sends taken from the queues whose result is not
// recorded yet, per delivery: a delivery's next attempt may be taken
// before the result of the one before is acknowledged, and that
// acknowledgement must not make the new send look unheld.
type inflight struct {
	mu   sync.Mutex
	keys map[store.DeliveryKey]int
}

func (f *inflight) add(k store.DeliveryKey) {
	f.mu.Lock()
	if f.keys == nil {
		f.keys = make(map[store.DeliveryKey]int)
	}
	f.keys[k]++
	f.mu.Unlock()
}

// done forgets a send for each recorded result.
func (f *inflight) done(results []store.Result) {
	f.mu.Lock()
	for i := range results {
		a := &results[i].Attempt
		k := store.DeliveryKey{MsgID: a.MsgID, EndpointID: a.EndpointID}
		if f.keys[k]--; f.keys[k] <= 0 {
			delete(f.keys, k)
		}
	}
	f.mu.Unlock()
}

// appendTo appends the keys to keys.
func (f *inflight) appendTo(keys []store.DeliveryKey) []store.DeliveryKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.keys {
		keys = append(keys, k)
	}
	return keys
}

// heldKeys returns the deliveries this node holds: queued or in flight.
// Each queue is read under its own lock only, so publishes wait on none
// but the one being read. A job moves from its queue to inflight under
// the queue's lock, and inflight is read last, so none is missed.
func (d *dispatcher) heldKeys() []store.DeliveryKey {
	keys := make([]store.DeliveryKey, 0, max(d.held.Load(), 0))
	for _, q := range d.all() {
		q.mu.Lock()
		for _, j := range q.jobs[q.head:] {
			keys = append(keys, store.DeliveryKey{MsgID: j.Delivery.MsgID, EndpointID: j.Delivery.EndpointID})
		}
		q.mu.Unlock()
	}
	return d.inflight.appendTo(keys)
}

// release hands the leases of keys, which this node does not hold in
// memory, back to the database. If the store refuses, the leases run out
// instead, since the heartbeat does not extend them.
func (e *Engine) release(ctx context.Context, keys []store.DeliveryKey, what string) {
	if len(keys) == 0 {
		return // a nil list would release every lease of this node
	}
	if err := e.store.ReleaseLeases(ctx, e.cfg.NodeID, keys); err != nil && e.errLimit.allow("release", e.now()) {
		e.log.Error("release "+what+"; they are due when their lease runs out",
			slog.Int("deliveries", len(keys)), slog.Any("error", err))
	}
}
