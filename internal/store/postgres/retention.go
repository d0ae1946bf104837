package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// oneShot runs a statement on a plan made for its arguments and for the
// tables as they are, never on a cached generic plan. PostgreSQL keeps the
// generic plan of a prepared statement from its sixth run, and for these
// occasional statements over many rows (retention, held-backlog moves) the
// first runs come while the tables are small: a plan that scans a small
// table would then scan it at every run as it grew. Planning each run
// costs nothing next to the rows they touch.
const oneShot = pgx.QueryExecModeExec

// ExpireMessages deletes up to limit expired messages that have no
// unfinished delivery, with their deliveries and attempts, in one short
// transaction. Messages another node is deleting are skipped, so several
// nodes may run retention at once.
func (db *DB) ExpireMessages(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var n int
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		// An expired message whose event ID is still reserved loses its
		// payload, and expires again when the reservation ends: deleted
		// now, it would let the same event ID through again.
		if _, err := tx.Exec(ctx, `UPDATE messages SET payload = NULL, expires_at = created_at + $2
			WHERE id IN (SELECT m.id FROM messages m
				WHERE m.expires_at <= $1 AND m.event_id IS NOT NULL AND m.created_at + $2 > $1
					AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.status IN (1, 3))
				ORDER BY m.expires_at
				LIMIT $3
				FOR UPDATE SKIP LOCKED)`, oneShot, ms(now), eventIDWindow.Milliseconds(), limit); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT m.id FROM messages m
			WHERE m.expires_at <= $1
				AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.status IN (1, 3))
			ORDER BY m.expires_at
			LIMIT $2
			FOR UPDATE SKIP LOCKED`, oneShot, ms(now), limit)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		n = len(ids)
		if n == 0 {
			return nil
		}
		for _, del := range []string{
			`DELETE FROM attempts WHERE msg_id = ANY($1)`,
			`DELETE FROM deliveries WHERE msg_id = ANY($1)`,
			`DELETE FROM messages WHERE id = ANY($1)`,
		} {
			if _, err := tx.Exec(ctx, del, oneShot, ids); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("expire messages: %w", db.mapCallErr(ctx, err))
	}
	return n, nil
}

// ExpireInboundEvents deletes up to limit inbound events received at or
// before before, oldest first, in one short transaction. Rows another
// node is deleting are skipped.
func (db *DB) ExpireInboundEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	return db.expire(ctx, "expire inbound events", `DELETE FROM inbound_events WHERE id IN (
		SELECT id FROM inbound_events WHERE received_at <= $1
		ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)`, before, limit)
}

// ExpireIdempotencyKeys deletes up to limit idempotency records expired at
// or before now, like ExpireInboundEvents.
func (db *DB) ExpireIdempotencyKeys(ctx context.Context, now time.Time, limit int) (int, error) {
	return db.expire(ctx, "expire idempotency keys", `DELETE FROM idempotency_keys WHERE key IN (
		SELECT key FROM idempotency_keys WHERE expires_at <= $1
		ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)`, now, limit)
}

// expire runs one bounded delete, its arguments a time and limit, as a
// one-shot statement (see oneShot), and returns how many rows it deleted.
func (db *DB) expire(ctx context.Context, what, query string, at time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, query, oneShot, ms(at), limit)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, db.mapCallErr(ctx, err))
	}
	return int(tag.RowsAffected()), nil
}
