package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Strict FIFO without walking the queue. A delivery to an ordered endpoint
// waits until every earlier one to it has finished. Left due, the waiting
// ones would sit at the head of deliveries_due, and every claim would walk
// past all of them (40,000 waiting cost each claim 186 ms). So a waiting
// delivery is parked: its next_attempt_at is store.ParkedMS, past the range
// any claim reads. Releasing a delivery parks it unless it is its
// endpoint's head, and each claim first makes the parked heads of ordered
// endpoints due: one index lookup per ordered endpoint. Turning ordering on
// parks an endpoint's waiting deliveries; turning it off makes them due.
// The claim's own head check stays as the safety net for rows that were
// never parked.
//
// A transaction that parks a row because its endpoint is ordered first
// share-locks the endpoint's row, and UpdateEndpoint, which unparks them
// all when ordering is turned off, updates that row first: so no row can
// be parked, unseen, behind an unparking that has already run.

const (
	// parked is store.ParkedMS as SQL (TestParkedIsTheStoreConstant).
	parked = `253402300799999`

	// headFrom + x + headEnd is the key of the first unfinished delivery
	// to endpoint x, through deliveries_endpoint_open.
	headFrom = `(SELECT head.created_at, head.msg_id FROM deliveries head
		WHERE head.status IN (1, 3) AND head.endpoint_id = `
	headEnd = ` ORDER BY head.created_at, head.msg_id LIMIT 1)`

	// parkedIfWaiting is store.ParkedMS when delivery d waits behind an
	// earlier one to its ordered endpoint, and NULL (which GREATEST
	// ignores) otherwise.
	parkedIfWaiting = `(SELECT ` + parked + `::bigint FROM endpoints e
		WHERE e.id = d.endpoint_id AND e.ordered
			AND (d.created_at, d.msg_id) <> ` + headFrom + `d.endpoint_id` + headEnd + `)`

	// lockOrdered share-locks the ordered ones among endpoints $1, by ID.
	lockOrdered = `SELECT count(*) FROM (SELECT DISTINCT id FROM unnest($1::text[]) AS k(id) ORDER BY 1) AS k,
		LATERAL (SELECT 1 FROM endpoints e WHERE e.id = k.id AND e.ordered FOR SHARE) AS l`

	// unparkHeads makes the parked heads of ordered endpoints due at $1
	// (or their circuit's RetryAt). A head another transaction holds is
	// skipped: that one is finishing or moving it. It runs one-shot
	// (oneShot), planned for the endpoints table as it is: a generic plan
	// made while the table was small would scan it whole at every claim
	// rather than read the few ordered ones through endpoints_ordered.
	unparkHeads = `UPDATE deliveries d SET next_attempt_at = GREATEST($1::bigint, ` + circuitRetry + `)
		FROM (SELECT id FROM endpoints WHERE ordered ORDER BY id) AS e,
			LATERAL (SELECT head.msg_id FROM deliveries head
				WHERE head.status IN (1, 3) AND head.endpoint_id = e.id
				ORDER BY head.created_at, head.msg_id LIMIT 1) AS h,
			LATERAL (SELECT x.ctid FROM deliveries x
				WHERE x.msg_id = h.msg_id AND x.endpoint_id = e.id AND x.next_attempt_at = ` + parked + `
				OFFSET 0 FOR UPDATE SKIP LOCKED) AS x
		WHERE d.ctid = x.ctid`

	// parkWaiting parks the unleased deliveries behind endpoint $1's head.
	parkWaiting = `UPDATE deliveries SET next_attempt_at = ` + parked + `
		WHERE endpoint_id = $1 AND status IN (1, 3) AND lease_owner IS NULL
			AND next_attempt_at <> ` + parked + ` AND (created_at, msg_id) > ` + headFrom + `$1` + headEnd

	// unparkEndpoint makes endpoint $2's parked deliveries due at $1.
	unparkEndpoint = `UPDATE deliveries d SET next_attempt_at = GREATEST($1::bigint, ` + circuitRetry + `)
		WHERE d.endpoint_id = $2 AND d.status IN (1, 3) AND d.next_attempt_at = ` + parked
)

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
