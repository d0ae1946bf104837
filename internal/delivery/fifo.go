package delivery

import (
	"github.com/heraldhq/herald/internal/store"
)

// Strict FIFO: an ordered endpoint (herald.Endpoint.Ordered) gets a message
// only after the previous one to it succeeded or failed for good. The store
// enforces it at claim time across every node: a delivery to an ordered
// endpoint is claimable only when no earlier-created delivery to it is
// unfinished. So the engine never sends such deliveries from memory at
// publish (dispatchFresh hands them to the database), and a failed one
// waits for its retry with the later ones queued behind it in the store.
//
// The cost is a claim per message: each recorded final result for an
// ordered endpoint wakes the poller so the next one goes at once.

// wakeForOrdered wakes the poller when a committed batch finished a
// delivery to an ordered endpoint, whose commit made the next one due.
func (e *Engine) wakeForOrdered(batch []store.Result) {
	for i := range batch {
		if batch[i].Ordered && batch[i].Outcome.Status.Final() {
			e.poll.wake()
			return
		}
	}
}
