package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/store"
)

// oneShot runs a statement on a plan made for its arguments and for the
// tables as they are, never on a cached generic plan. PostgreSQL keeps the
// generic plan of a prepared statement from its sixth run, and for these
// occasional statements over many rows (retention, held-backlog moves) the
// first runs come while the tables are small: a plan that scans a small
// table would then scan it at every run as it grew. Planning each run
// costs nothing next to the rows they touch.
const oneShot = pgx.QueryExecModeExec

// ExpireMessages deletes expired messages that have no unfinished
// delivery, attempts first, then deliveries, then the messages left with
// neither, writing at most limit rows in all, in one short transaction
// (see store.Retention). A message whose event ID is still reserved loses
// its payload instead, and expires again when the reservation ends.
// Messages another node is deleting are skipped, so several nodes may run
// retention at once.
func (db *DB) ExpireMessages(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var n int
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		n, err = expireMessages(ctx, tx, ms(now), limit)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expire messages: %w", db.mapCallErr(ctx, err))
	}
	return n, nil
}

// expireMessages writes at most limit rows of expired messages in tx and
// returns how many it wrote. It locks the messages oldest expiry first, a
// page at a time: store.FirstExpiryPage, then as many as the rows left would
// take at the last page's rows per message. So a batch of messages
// without deliveries takes a few statements, and neither the check for
// unfinished deliveries nor the row locks reach far more messages than the
// batch writes (a thousand messages sent to a hundred endpoints each are a
// hundred thousand deliveries to read, for a batch of a few of them).
func expireMessages(ctx context.Context, tx pgx.Tx, now int64, limit int) (int, error) {
	left := limit
	for size := store.FirstExpiryPage; left > 0; {
		want := min(size, left)
		hold, del, err := expiredPage(ctx, tx, now, want)
		if err != nil {
			return 0, err
		}
		before := left
		if len(hold) > 0 {
			tag, err := tx.Exec(ctx, holdEventIDs, oneShot, hold, eventIDWindow.Milliseconds())
			if err != nil {
				return 0, err
			}
			left -= int(tag.RowsAffected())
		}
		if len(del) > 0 {
			n, err := deleteExpired(ctx, tx, del, left)
			if err != nil {
				return 0, err
			}
			left -= n
		}
		got := len(hold) + len(del)
		if got < want || left == 0 {
			break
		}
		size = store.NextExpiryPage(left, got, before-left)
	}
	return limit - left, nil
}

// deleteExpired deletes at most limit rows of the messages ids: their
// attempts, then their deliveries, then, if rows are left, the messages,
// and returns how many. Each delete runs only if the last deleted fewer
// than were left, so all the rows of ids in its table are gone by then.
func deleteExpired(ctx context.Context, tx pgx.Tx, ids []string, limit int) (int, error) {
	n := 0
	for _, q := range []string{deleteExpiredAttempts, deleteExpiredDeliveries} {
		tag, err := tx.Exec(ctx, q, oneShot, ids, limit-n)
		if err != nil {
			return 0, err
		}
		if n += int(tag.RowsAffected()); n == limit {
			return n, nil
		}
	}
	tag, err := tx.Exec(ctx, deleteExpiredMessages, oneShot, ids[:min(len(ids), limit-n)])
	if err != nil {
		return 0, err
	}
	return n + int(tag.RowsAffected()), nil
}

// expiredPage locks up to limit messages expired at now with no
// unfinished delivery, oldest expiry first, skipping those locked
// elsewhere, and returns in hold those whose event ID is still reserved,
// in del the others.
func expiredPage(ctx context.Context, tx pgx.Tx, now int64, limit int) (hold, del []string, err error) {
	rows, err := tx.Query(ctx, lockExpiredPage, oneShot, now, eventIDWindow.Milliseconds(), limit)
	if err != nil {
		return nil, nil, err
	}
	var id string
	var reserved bool
	_, err = pgx.ForEachRow(rows, []any{&id, &reserved}, func() error {
		if reserved {
			hold = append(hold, id)
		} else {
			del = append(del, id)
		}
		return nil
	})
	return hold, del, err
}

// lockExpiredPage walks messages_expires. A message whose event ID is
// still reserved comes with true. OFFSET 0 keeps the NOT EXISTS a subplan
// run for each message, through deliveries_pkey: as an anti join,
// PostgreSQL may hash every open delivery of the queue to check a few
// expired messages.
const lockExpiredPage = `SELECT m.id, m.event_id IS NOT NULL AND m.created_at + $2 > $1
	FROM messages m
	WHERE m.expires_at <= $1
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.status IN (1, 3) OFFSET 0)
	ORDER BY m.expires_at
	LIMIT $3
	FOR UPDATE OF m SKIP LOCKED`

// holdEventIDs drops the payload of expired messages whose event ID is
// still reserved, and has them expire again when the reservation ends:
// deleted now, they would let the same event ID through again.
const holdEventIDs = `UPDATE messages SET payload = NULL, expires_at = created_at + $2 WHERE id = ANY($1)`

// The deletes of deleteExpired, of rows of the messages $1. Those of
// attempts and deliveries stop at $2 rows, through their row IDs, as
// PostgreSQL has no DELETE ... LIMIT: a row updated meanwhile has another
// and is left for a later batch. A delivery is deleted only if final (a
// resend may have made it pending since the page was read), and a message
// only once nothing refers to it.
const (
	deleteExpiredAttempts = `DELETE FROM attempts WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM attempts WHERE msg_id = ANY($1) LIMIT $2))`
	deleteExpiredDeliveries = `DELETE FROM deliveries WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM deliveries WHERE msg_id = ANY($1) AND status NOT IN (1, 3) LIMIT $2))
		AND status NOT IN (1, 3)`
	deleteExpiredMessages = `DELETE FROM messages m WHERE m.id = ANY($1)
		AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.msg_id = m.id)
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id)`
)

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

// ExpireRevokedSessions deletes up to limit session revocations expired at
// or before now, like ExpireInboundEvents.
func (db *DB) ExpireRevokedSessions(ctx context.Context, now time.Time, limit int) (int, error) {
	return db.expire(ctx, "expire revoked sessions", `DELETE FROM revoked_sessions WHERE id IN (
		SELECT id FROM revoked_sessions WHERE expires_at <= $1
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
