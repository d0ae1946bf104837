package sqlite

import (
	"context"
	"database/sql"
	"math"
	"time"
)

// While an endpoint's circuit is open its deliveries wait, and Claim skips
// them. Left due, they would sit at the head of deliveries_due and every
// claim would walk past all of them: with a million held back, a million
// rows per claim, in the single writer. So a circuit change moves them in
// next_attempt_at instead: opening (or granting a probe) pushes the
// endpoint's waiting deliveries to the circuit's RetryAt, and closing makes
// them due at once. The claim's circuit filter stays as the safety net for
// rows that arrive between moves.

// holdChunk bounds the rows one move statement visits, so a large backlog
// is moved in many short writes that other writes interleave with, rather
// than one that stalls every publish for seconds. A variable so a test can
// cross chunk boundaries with a few rows.
var holdChunk = 4000

const (
	// sqlChunkEnd finds the last delivery of the next chunk of the
	// endpoint's unfinished deliveries, through deliveries_endpoint_open.
	sqlChunkEnd = `SELECT created_at, msg_id FROM deliveries
		WHERE endpoint_id = ?1 AND status IN (1, 3) AND (created_at, msg_id) > (?2, ?3)
		ORDER BY created_at, msg_id LIMIT 1 OFFSET ?4`
	// sqlMoveChunk sets next_attempt_at to ?6 for the unleased deliveries
	// of a chunk that are due within [?7, ?8].
	sqlMoveChunk = `UPDATE deliveries SET next_attempt_at = ?6
		WHERE endpoint_id = ?1 AND status IN (1, 3)
			AND (created_at, msg_id) > (?2, ?3) AND (created_at, msg_id) <= (?4, ?5)
			AND lease_owner IS NULL AND next_attempt_at BETWEEN ?7 AND ?8 AND next_attempt_at <> ?6`
)

// move is a change of next_attempt_at for an endpoint's unleased,
// unfinished deliveries: those due within [from, upto] become due at to.
// It goes on only while the circuit is as the change left it (guard), so
// the rest of a move that a later change overtook stops.
type move struct {
	endpointID     string
	from, upto, to int64
	guard          string // a count that is 0 once the circuit changed
	guardArgs      []any
}

const (
	guardHeld   = `SELECT count(*) FROM endpoints WHERE id = ?1 AND circuit_state <> 0 AND circuit_retry_at = ?2`
	guardClosed = `SELECT count(*) FROM endpoints WHERE id = ?1 AND circuit_state = 0`
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

// step moves the chunk after c and returns where the next one starts.
func (m move) step(ctx context.Context, tx *sql.Tx, c cursor) (cursor, error) {
	var ok int
	if err := tx.QueryRowContext(ctx, m.guard, m.guardArgs...).Scan(&ok); err != nil {
		return c, mapErr("move held deliveries", err)
	}
	if ok == 0 {
		return cursor{done: true}, nil
	}
	next := cursor{created: math.MaxInt64}
	err := tx.QueryRowContext(ctx, sqlChunkEnd, m.endpointID, c.created, c.msgID, holdChunk-1).Scan(&next.created, &next.msgID)
	switch {
	case errNoRows(err):
		next.done = true
	case err != nil:
		return c, mapErr("move held deliveries", err)
	}
	_, err = tx.ExecContext(ctx, sqlMoveChunk, m.endpointID, c.created, c.msgID, next.created, next.msgID, m.to, m.from, m.upto)
	if err != nil {
		return c, mapErr("move held deliveries", err)
	}
	return next, nil
}

// finish moves the chunks from c on in the background, each in its own
// write, so the writer serves other ops between them and the caller (who
// may hold the endpoint's queue) does not wait. A failure leaves the rest
// due, where Claim's circuit filter still holds it back.
func (db *DB) finish(m move, c cursor) {
	if c.done {
		return
	}
	db.bg.Go(func(ctx context.Context) {
		for !c.done {
			from := c
			err := db.write(ctx, func(ctx context.Context, w *wtx) error {
				var err error
				c, err = m.step(ctx, w.tx, from)
				return err
			})
			if err != nil {
				if ctx.Err() == nil {
					db.log.Error("move held deliveries", "endpoint_id", m.endpointID, "error", err)
				}
				return
			}
		}
	})
}
