package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/store"
)

// Strict FIFO without walking the queue. A delivery to an ordered endpoint
// waits until every earlier one to it has finished. Left due, the waiting
// ones would sit at the head of deliveries_due, and every claim would walk
// past all of them (40,000 waiting cost each claim 168 ms). So a waiting
// delivery is parked: its next_attempt_at is store.ParkedMS, past the range
// any claim reads. Releasing, resending or recovering a delivery parks it
// unless it is its endpoint's head; a final result for an ordered endpoint
// makes the next one due in its own transaction; and every
// store.UnparkSweep a claim makes due the parked heads of all ordered
// endpoints (one index lookup each), for turns that came another way.
// Turning ordering on parks an endpoint's pending deliveries behind its
// head (not those waiting for a retry of their own, which keep its time);
// turning it off makes them due. The claim's own head check stays as the
// safety net for rows that were never parked.
//
// A statement parks a row only for an endpoint whose row it holds
// share-locked and found ordered under that lock (the ordered CTE), and
// UpdateEndpoint, which unparks them all when ordering is turned off,
// locks that row first: so no row can be parked, unseen, behind an
// unparking that has already run. The transaction share-locks the ordered
// endpoints first (lockOrdered), endpoints before deliveries as
// everywhere; the CTE finds them again under its own lock, since a
// later statement's snapshot may differ, and skips an endpoint locked
// otherwise rather than wait for it out of order: such a delivery is left
// due, for claims to pass over, but never parked unseen. Record locks the
// endpoint of every result for update before it makes the next delivery
// due (lockEndpoints), so a release cannot park a delivery behind a final
// result whose unparking missed it; that lock must stay for every
// endpoint, not only those whose health changes.

const (
	// parked is store.ParkedMS as SQL (TestParkedIsTheStoreConstant).
	parked = `253402300799999`

	// headFrom + x + headEnd is the key of the first unfinished delivery
	// to endpoint x, through deliveries_endpoint_open.
	headFrom = `(SELECT head.created_at, head.msg_id FROM deliveries head
		WHERE head.status IN (1, 3) AND head.endpoint_id = `
	headEnd = ` ORDER BY head.created_at, head.msg_id LIMIT 1)`

	// waitingHead is store.ParkedMS when delivery d waits behind an
	// earlier delivery to its endpoint, and NULL (which GREATEST ignores)
	// otherwise.
	waitingHead = `(SELECT ` + parked + `::bigint WHERE (d.created_at, d.msg_id) <> ` + headFrom + `d.endpoint_id` + headEnd + `)`

	// waitingOrdered is waitingHead for a delivery to an endpoint of the
	// orderedLocked CTE, and NULL for any other.
	waitingOrdered = `(SELECT ` + parked + `::bigint WHERE d.endpoint_id IN (SELECT id FROM ordered)
		AND (d.created_at, d.msg_id) <> ` + headFrom + `d.endpoint_id` + headEnd + `)`

	// lockOrdered share-locks the ordered ones among endpoints $1, by ID.
	lockOrdered = `SELECT count(*) FROM (SELECT DISTINCT id FROM unnest($1::text[]) AS k(id) ORDER BY 1) AS k,
		LATERAL (SELECT 1 FROM endpoints e WHERE e.id = k.id AND e.ordered FOR SHARE) AS l`

	// orderedFrom + ids + orderedEnd is a CTE, ordered, of the ordered
	// ones among the endpoints of the text array ids, share-locked.
	orderedFrom = `WITH ordered AS MATERIALIZED (SELECT l.id FROM (SELECT DISTINCT id FROM unnest(`
	orderedEnd  = `::text[]) AS k(id) ORDER BY 1) AS k,
		LATERAL (SELECT e.id FROM endpoints e WHERE e.id = k.id AND e.ordered FOR SHARE SKIP LOCKED) AS l) `

	// unparkFrom + endpoints + unparkEnd makes the parked heads of the
	// endpoints (a FROM item e of IDs) due at $1, or as of when each was
	// last published or claimed if that is earlier (this node's clock may
	// be ahead of another's that would claim it), or at their circuit's
	// RetryAt. A head another transaction holds is skipped: that one is
	// finishing or moving it.
	unparkFrom = `UPDATE deliveries d SET next_attempt_at = GREATEST(LEAST($1::bigint, d.updated_at), ` + circuitRetry + `) FROM `
	unparkEnd  = `,
			LATERAL (SELECT head.msg_id FROM deliveries head
				WHERE head.status IN (1, 3) AND head.endpoint_id = e.id
				ORDER BY head.created_at, head.msg_id LIMIT 1) AS h,
			LATERAL (SELECT x.ctid FROM deliveries x
				WHERE x.msg_id = h.msg_id AND x.endpoint_id = e.id AND x.next_attempt_at = ` + parked + `
				OFFSET 0 FOR UPDATE SKIP LOCKED) AS x
		WHERE d.ctid = x.ctid`

	// unparkHeads is the claims' sweep over every ordered endpoint. It runs
	// one-shot (oneShot), planned for the endpoints table as it is: a
	// generic plan made while the table was small would scan it whole
	// rather than read the ordered ones through endpoints_ordered.
	unparkHeads = unparkFrom + `(SELECT id FROM endpoints WHERE ordered ORDER BY id) AS e` + unparkEnd

	// unparkNext makes the next deliveries of endpoints $2 due, as their
	// ordered deliveries' final results are recorded.
	unparkNext = unparkFrom + `(SELECT DISTINCT id FROM unnest($2::text[]) AS k(id) ORDER BY 1) AS e` + unparkEnd

	// parkWaiting parks the unleased deliveries behind endpoint $1's head.
	parkWaiting = `UPDATE deliveries SET next_attempt_at = ` + parked + `
		WHERE endpoint_id = $1 AND status IN (1, 3) AND status = 1 AND lease_owner IS NULL
			AND next_attempt_at <> ` + parked + ` AND (created_at, msg_id) > ` + headFrom + `$1` + headEnd

	// unparkEndpoint makes endpoint $2's parked deliveries due at $1.
	unparkEndpoint = `UPDATE deliveries d SET next_attempt_at = GREATEST(LEAST($1::bigint, d.updated_at), ` + circuitRetry + `)
		WHERE d.endpoint_id = $2 AND d.status IN (1, 3) AND d.next_attempt_at = ` + parked
)

// sweepDue reports whether a claim at now should make the parked heads of
// ordered endpoints due: the last sweep is store.UnparkSweep old, or the
// clock went back. The claim notes its sweep (swept) only once committed.
// Two claims at once may both sweep, which changes nothing the second time.
func (db *DB) sweepDue(now time.Time) bool {
	t, last := ms(now), db.lastUnpark.Load()
	return t < last || t >= last+store.UnparkSweep.Milliseconds()
}

func (db *DB) swept(now time.Time) { db.lastUnpark.Store(ms(now)) }

// endpointOrdered locks endpoint id's row (FOR SHARE or FOR UPDATE) and
// tells whether it is ordered (false if there is no such endpoint).
func endpointOrdered(ctx context.Context, tx pgx.Tx, id, lock string) (bool, error) {
	var ordered bool
	err := tx.QueryRow(ctx, `SELECT ordered FROM endpoints WHERE id = $1 `+lock, id).Scan(&ordered)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return ordered, err
}

// reorder parks or unparks an endpoint's waiting deliveries after its
// ordering changed from was to ordered.
func reorder(ctx context.Context, tx pgx.Tx, endpointID string, was, ordered bool, now time.Time) error {
	var err error
	switch {
	case ordered && !was:
		_, err = tx.Exec(ctx, parkWaiting, endpointID)
	case was && !ordered:
		_, err = tx.Exec(ctx, unparkEndpoint, ms(now), endpointID)
	}
	return err
}
