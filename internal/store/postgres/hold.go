package postgres

import (
	"context"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
)

// While an endpoint's circuit is open its deliveries wait, and Claim skips
// them. Left due, they would sit at the head of deliveries_due and every
// claim would walk past all of them. So a circuit change moves them in
// next_attempt_at instead: opening (or granting a probe) pushes the
// endpoint's waiting deliveries to the circuit's RetryAt, and closing makes
// them due at once. The claim's circuit filter stays as the safety net for
// rows that arrive between moves, or that a move skipped because another
// transaction held them.

// holdChunk bounds the rows one move statement visits, so a large backlog
// is moved in many short transactions rather than one long one. A
// variable so a test can cross chunk boundaries with a few rows.
var holdChunk = 4000

const (
	// chunkKeys lists the next chunk of the endpoint's unfinished
	// deliveries in deliveries_endpoint_open order.
	chunkKeys = `SELECT created_at, msg_id FROM deliveries
		WHERE endpoint_id = $1 AND status IN (1, 3) AND (created_at, msg_id) > ($2, $3)
		ORDER BY created_at, msg_id LIMIT $4`
	// moveChunk sets next_attempt_at to $2 for the unleased deliveries of
	// a chunk ($5) that are due within [$3, $4]. Rows another transaction
	// holds are skipped, never waited for. Each row is found by its key
	// alone and checked outside: joined with the endpoint's open
	// deliveries instead, a chunk of 4,000 against 200,000 held rows was
	// planned, on a table without statistics, as a nested loop over all
	// their pairs (115 s).
	moveChunk = `UPDATE deliveries d SET next_attempt_at = $2
		FROM (SELECT * FROM unnest($5::text[]) AS k(msg_id) ORDER BY 1) AS k,
			LATERAL (SELECT x.ctid, x.status, x.lease_owner, x.next_attempt_at FROM deliveries x
				WHERE x.msg_id = k.msg_id AND x.endpoint_id = $1 OFFSET 0 FOR UPDATE SKIP LOCKED) AS x
		WHERE d.ctid = x.ctid AND x.status IN (1, 3) AND x.lease_owner IS NULL
			AND x.next_attempt_at BETWEEN $3 AND $4 AND x.next_attempt_at <> $2`
)

// move is a change of next_attempt_at for an endpoint's unleased,
// unfinished deliveries: those due within [from, upto] become due at to.
// It goes on only while the circuit is as the change left it (guard), so
// the rest of a move that a later change overtook stops.
//
// The guard share-locks the endpoint's row until the chunk commits, and
// every circuit change locks it for update. So a change waits for a chunk
// in flight, and its own move then sees the rows that chunk moved; without
// the lock, a closing circuit's release skipped the rows a probe's hold
// chunk had locked (SKIP LOCKED), and that chunk then committed them held.
type move struct {
	endpointID     string
	from, upto, to int64
	guard          string // a count that is 0 once the circuit changed
	guardArgs      []any
}

const (
	guardHeld = `SELECT count(*) FROM (SELECT 1 FROM endpoints
		WHERE id = $1 AND circuit_state <> 0 AND circuit_retry_at = $2 FOR SHARE) AS g`
	guardClosed = `SELECT count(*) FROM (SELECT 1 FROM endpoints
		WHERE id = $1 AND circuit_state = 0 FOR SHARE) AS g`
)

// holdUntil moves the deliveries due before until to until.
func holdUntil(endpointID string, until time.Time) move {
	return move{endpointID: endpointID, from: math.MinInt64, upto: ms(until), to: ms(until),
		guard: guardHeld, guardArgs: []any{endpointID, ms(until)}}
}

// release makes the deliveries held back until heldUntil at most due at now.
// Those waiting for a later retry of their own keep it.
func release(endpointID string, heldUntil, now time.Time) move {
	return move{endpointID: endpointID, from: ms(now) + 1, upto: ms(heldUntil), to: ms(now),
		guard: guardClosed, guardArgs: []any{endpointID}}
}

// cursor is the (created_at, msg_id) key a move has reached.
type cursor struct {
	created int64
	msgID   string
	done    bool
}

var start = cursor{created: math.MinInt64}

// step moves the chunk after c and returns where the next one starts, and
// how many rows it moved.
func (m move) step(ctx context.Context, tx pgx.Tx, c cursor) (cursor, int64, error) {
	var ok int
	if err := tx.QueryRow(ctx, m.guard, m.guardArgs...).Scan(&ok); err != nil {
		return c, 0, err
	}
	if ok == 0 {
		return cursor{done: true}, 0, nil
	}
	rows, err := tx.Query(ctx, chunkKeys, oneShot, m.endpointID, c.created, c.msgID, holdChunk)
	if err != nil {
		return c, 0, err
	}
	next := c
	ids := make([]string, 0, holdChunk)
	_, err = pgx.ForEachRow(rows, []any{&next.created, &next.msgID}, func() error {
		ids = append(ids, next.msgID)
		return nil
	})
	if err != nil {
		return c, 0, err
	}
	next.done = len(ids) < holdChunk
	if len(ids) == 0 {
		return next, 0, nil
	}
	tag, err := tx.Exec(ctx, moveChunk, oneShot, m.endpointID, m.to, m.from, m.upto, ids)
	if err != nil {
		return c, 0, err
	}
	return next, tag.RowsAffected(), nil
}

// finish moves the chunks from c on in the background, each in its own
// transaction bounded like one call, so the caller (who may hold the
// endpoint's queue) does not wait. When the rows become due (a release),
// other nodes are notified. A failure leaves the rest due, where Claim's
// circuit filter still holds it back.
func (db *DB) finish(m move, c cursor, notify bool) {
	if c.done {
		return
	}
	db.bg.Go(func(ctx context.Context) {
		for !c.done {
			if err := db.finishChunk(ctx, m, &c, notify); err != nil {
				if ctx.Err() == nil {
					db.log.Error("move held deliveries", "endpoint_id", m.endpointID, "error", err)
				}
				return
			}
		}
	})
}

func (db *DB) finishChunk(ctx context.Context, m move, c *cursor, notify bool) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		next, n, err := m.step(ctx, tx, *c)
		if err == nil && notify && n > 0 {
			_, err = tx.Exec(ctx, notifySQL, db.notifyPayload())
		}
		if err == nil {
			*c = next
		}
		return err
	})
	return db.mapCallErr(ctx, err)
}
