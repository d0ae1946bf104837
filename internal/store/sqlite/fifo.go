package sqlite

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// Strict FIFO without walking the queue. A delivery to an ordered endpoint
// waits until every earlier one to it has finished. Left due, the waiting
// ones would sit at the head of deliveries_due, and every claim would walk
// past all of them (10,000 waiting cost each claim 21 ms, in the single
// writer). So a waiting delivery is parked: its next_attempt_at is
// store.ParkedMS, past the range any claim reads. Releasing, resending or
// recovering a delivery parks it unless it is its endpoint's head; a final
// result for an ordered endpoint makes the next one due in its own
// transaction; and every store.UnparkSweep a claim makes due the parked
// heads of all ordered endpoints (one index lookup each), for turns that
// came another way. Turning ordering on parks an endpoint's pending
// deliveries behind its head (not those waiting for a retry of their own,
// which keep its time); turning it off makes them due. The claim's own
// head check stays as the safety net for rows that were never parked.

const (
	// parked is store.ParkedMS as SQL (TestParkedIsTheStoreConstant).
	parked = `253402300799999`

	// headFrom + x + headEnd is the key of the first unfinished delivery
	// to endpoint x, through deliveries_endpoint_open.
	headFrom = `(SELECT p.created_at, p.msg_id FROM deliveries p
		WHERE p.status IN (1, 3) AND p.endpoint_id = `
	headEnd = ` ORDER BY p.created_at, p.msg_id LIMIT 1)`

	// parkedIfWaiting is store.ParkedMS when the deliveries row being
	// updated is unfinished and waits behind an earlier delivery to its
	// ordered endpoint, and 0 otherwise: a term of the MAX that computes a
	// released row's due time.
	parkedIfWaiting = `COALESCE((SELECT ` + parked + ` FROM endpoints e
		WHERE e.id = deliveries.endpoint_id AND e.ordered = 1
			AND (deliveries.created_at, deliveries.msg_id) <> ` + headFrom + `deliveries.endpoint_id` + headEnd + `), 0)`

	// circuitDue is when a parked delivery in the row being updated that
	// has its turn at ?1 is due: then, or as of when it was last published
	// or claimed if that is earlier (this node's clock may be ahead of
	// another's that would claim it), or at its open circuit's RetryAt
	// (hold.go).
	circuitDue = `MAX(MIN(?1, updated_at), COALESCE((SELECT e.circuit_retry_at FROM endpoints e
		WHERE e.id = deliveries.endpoint_id AND e.circuit_state <> 0), 0))`

	// sqlUnparkHeads makes the parked heads of ordered endpoints due at ?1.
	sqlUnparkHeads = `UPDATE deliveries SET next_attempt_at = ` + circuitDue + `
		WHERE next_attempt_at = ` + parked + ` AND (msg_id, endpoint_id) IN (
			SELECT (SELECT p.msg_id FROM deliveries p
				WHERE p.status IN (1, 3) AND p.endpoint_id = e.id
				ORDER BY p.created_at, p.msg_id LIMIT 1), e.id
			FROM endpoints e WHERE e.ordered = 1)`

	// sqlUnparkNext makes endpoint ?2's head due at ?1 if it is parked.
	sqlUnparkNext = `UPDATE deliveries SET next_attempt_at = ` + circuitDue + `
		WHERE next_attempt_at = ` + parked + ` AND (msg_id, endpoint_id) = (SELECT p.msg_id, p.endpoint_id
			FROM deliveries p WHERE p.status IN (1, 3) AND p.endpoint_id = ?2
			ORDER BY p.created_at, p.msg_id LIMIT 1)`

	// sqlParkWaiting parks the unleased pending deliveries behind endpoint
	// ?1's head.
	sqlParkWaiting = `UPDATE deliveries SET next_attempt_at = ` + parked + `
		WHERE endpoint_id = ?1 AND status IN (1, 3) AND status = 1 AND lease_owner IS NULL
			AND next_attempt_at <> ` + parked + ` AND (created_at, msg_id) > ` + headFrom + `?1` + headEnd

	// sqlUnparkEndpoint makes endpoint ?2's parked deliveries due at ?1.
	sqlUnparkEndpoint = `UPDATE deliveries SET next_attempt_at = ` + circuitDue + `
		WHERE endpoint_id = ?2 AND status IN (1, 3) AND next_attempt_at = ` + parked
)

// sweepDue reports whether a claim at now should make the parked heads of
// ordered endpoints due: the last sweep is store.UnparkSweep old, or the
// clock went back. The claim notes its sweep (swept) only once committed,
// since a batch that fails is rolled back and run again.
func (db *DB) sweepDue(now time.Time) bool {
	t, last := ms(now), db.lastUnpark.Load()
	return t < last || t >= last+store.UnparkSweep.Milliseconds()
}

func (db *DB) swept(now time.Time) { db.lastUnpark.Store(ms(now)) }

// reorder parks or unparks an endpoint's waiting deliveries after its
// ordering changed from was to ordered.
func reorder(ctx context.Context, w *wtx, endpointID string, was, ordered bool, now time.Time) error {
	switch {
	case ordered && !was:
		_, err := w.tx.ExecContext(ctx, sqlParkWaiting, endpointID)
		return mapErr("park waiting deliveries", err)
	case was && !ordered:
		_, err := w.tx.ExecContext(ctx, sqlUnparkEndpoint, ms(now), endpointID)
		return mapErr("unpark deliveries", err)
	}
	return nil
}
