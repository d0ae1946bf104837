package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// vacuumPages is the most free pages one ExpireMessages returns to the
// file system, so the vacuum stays as short as the delete.
const vacuumPages = 2000

// maxExpiryPage is the most expired messages ExpireMessages takes at a
// time: their IDs are bound one variable each (see expireMessages).
const maxExpiryPage = 1000

// ExpireMessages deletes expired messages that have no unfinished
// delivery, attempts first, then deliveries, then the messages left with
// neither, writing at most limit rows in all (see store.Retention): a
// message's deliveries and attempts count, so a batch stays one short
// write however many endpoints its messages went to. A message whose
// event ID is still in its window loses its payload instead, and stays
// until the window ends, so the ID keeps refusing a second message. When
// the file uses incremental auto-vacuum (every file created by this
// version), freed pages are then returned to the file system; older files
// keep them on SQLite's free list and reuse them for new rows until Vacuum
// (`herald migrate --vacuum`) converts them.
func (db *DB) ExpireMessages(ctx context.Context, now time.Time, limit int) (int, error) {
	return db.expire(ctx, "expire messages", limit, func(ctx context.Context, tx *sql.Tx) (int, error) {
		return expireMessages(ctx, tx, ms(now), limit)
	})
}

// expireMessages writes at most limit rows of expired messages in tx and
// returns how many it wrote. It takes the messages oldest expiry first, a
// page at a time: store.FirstExpiryPage, then as many as the rows left would
// take at the last page's rows per message. So a batch of messages
// without deliveries takes a few statements, and the check for unfinished
// deliveries reads those of about as many messages as the batch reaches
// (a thousand messages sent to a hundred endpoints each are a hundred
// thousand deliveries to read, for a batch of a few of them).
func expireMessages(ctx context.Context, tx *sql.Tx, now int64, limit int) (int, error) {
	left := limit
	for size := store.FirstExpiryPage; left > 0; {
		want := min(size, left, maxExpiryPage)
		hold, del, err := expiredPage(ctx, tx, now, want)
		if err != nil {
			return 0, err
		}
		before := left
		if len(hold) > 0 {
			n, err := execIDs(ctx, tx, sqlHoldEventIDs, hold)
			if err != nil {
				return 0, err
			}
			left -= n
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
func deleteExpired(ctx context.Context, tx *sql.Tx, ids []any, limit int) (int, error) {
	n := 0
	for _, q := range []string{sqlExpireAttempts, sqlExpireDeliveries} {
		d, err := execIDs(ctx, tx, q, ids, limit-n)
		if err != nil {
			return 0, err
		}
		if n += d; n == limit {
			return n, nil
		}
	}
	d, err := execIDs(ctx, tx, sqlExpireMessages, ids[:min(len(ids), limit-n)])
	if err != nil {
		return 0, err
	}
	return n + d, nil
}

// expiredPage returns up to limit messages expired at now with no
// unfinished delivery, oldest expiry first: in hold those whose event ID
// is still reserved, in del the others.
func expiredPage(ctx context.Context, tx *sql.Tx, now int64, limit int) (hold, del []any, err error) {
	rows, err := tx.QueryContext(ctx, sqlExpiredPage, now, limit)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var reserved bool
		if err := rows.Scan(&id, &reserved); err != nil {
			return nil, nil, err
		}
		if reserved {
			hold = append(hold, id)
		} else {
			del = append(del, id)
		}
	}
	return hold, del, rows.Err()
}

// execIDs runs query, whose %s stands for the placeholders of ids, with
// ids then more as its arguments, and returns how many rows it changed.
func execIDs(ctx context.Context, tx *sql.Tx, query string, ids []any, more ...any) (int, error) {
	res, err := tx.ExecContext(ctx, fmt.Sprintf(query, placeholders(len(ids))), append(ids[:len(ids):len(ids)], more...)...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// sqlExpiredPage walks messages_expires. A message whose event ID is
// still reserved comes with reserved true.
var sqlExpiredPage = fmt.Sprintf(`SELECT m.id, m.event_id IS NOT NULL AND m.created_at + %d > ?1 AS reserved
	FROM messages m
	WHERE m.expires_at IS NOT NULL AND m.expires_at <= ?1
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.status IN (1, 3))
	ORDER BY m.expires_at
	LIMIT ?2`, eventIDWindow.Milliseconds())

// sqlHoldEventIDs drops the payload of expired messages whose event ID is
// still reserved, and has them expire again when the reservation ends:
// deleted now, they would let the same event ID through again.
var sqlHoldEventIDs = fmt.Sprintf(`UPDATE messages SET payload = NULL, expires_at = created_at + %d
	WHERE id IN (%%s)`, eventIDWindow.Milliseconds())

// The deletes of deleteExpired, of rows of the messages whose IDs stand
// for %s. Those of attempts and deliveries stop at their last argument,
// and find rows through their primary keys, which begin with msg_id. A
// message goes only once nothing refers to it, so its ON DELETE CASCADE
// has nothing left to delete.
const (
	sqlExpireAttempts = `DELETE FROM attempts WHERE (msg_id, id) IN (
		SELECT msg_id, id FROM attempts WHERE msg_id IN (%s) LIMIT ?)`
	sqlExpireDeliveries = `DELETE FROM deliveries WHERE (msg_id, endpoint_id) IN (
		SELECT msg_id, endpoint_id FROM deliveries WHERE msg_id IN (%s) AND status NOT IN (1, 3) LIMIT ?)`
	sqlExpireMessages = `DELETE FROM messages WHERE id IN (%s)
		AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.msg_id = messages.id)
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = messages.id)`
)

// ExpireInboundEvents deletes up to limit inbound events received at or
// before before, then returns freed pages like ExpireMessages.
func (db *DB) ExpireInboundEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	return db.expire(ctx, "expire inbound events", limit, deleteRows(`DELETE FROM inbound_events WHERE id IN (
		SELECT id FROM inbound_events WHERE received_at <= ? ORDER BY received_at LIMIT ?)`, ms(before), limit))
}

// ExpireIdempotencyKeys deletes up to limit idempotency records expired at
// or before now.
func (db *DB) ExpireIdempotencyKeys(ctx context.Context, now time.Time, limit int) (int, error) {
	return db.expire(ctx, "expire idempotency keys", limit, deleteRows(`DELETE FROM idempotency_keys WHERE key IN (
		SELECT key FROM idempotency_keys WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`, ms(now), limit))
}

// ExpireRevokedSessions deletes up to limit session revocations expired at
// or before now.
func (db *DB) ExpireRevokedSessions(ctx context.Context, now time.Time, limit int) (int, error) {
	return db.expire(ctx, "expire revoked sessions", limit, deleteRows(`DELETE FROM revoked_sessions WHERE id IN (
		SELECT id FROM revoked_sessions WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`, ms(now), limit))
}

// deleteRows returns a run for expire that executes query with args and
// counts the rows it deleted.
func deleteRows(query string, args ...any) func(context.Context, *sql.Tx) (int, error) {
	return func(ctx context.Context, tx *sql.Tx) (int, error) {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return 0, err
		}
		n, err := res.RowsAffected()
		return int(n), err
	}
}

// expire runs run, which writes at most limit rows and returns how many,
// as its own short write, then gives freed pages back to the file system.
func (db *DB) expire(ctx context.Context, what string, limit int, run func(context.Context, *sql.Tx) (int, error)) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int
	err := db.write(ctx, func(ctx context.Context, w *wtx) error {
		// Assigned, not added: the batch may run this op twice.
		var err error
		n, err = run(ctx, w.tx)
		return mapErr(what, err)
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		if err := db.vacuum(ctx); err != nil {
			return n, err
		}
	}
	return n, nil
}

// vacuum returns up to vacuumPages free pages to the file system when the
// file uses incremental auto-vacuum; otherwise it does nothing.
func (db *DB) vacuum(ctx context.Context) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		var mode int
		if err := w.tx.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
			return mapErr("read auto_vacuum", err)
		}
		if mode != autoVacuumIncremental {
			return nil
		}
		rows, err := w.tx.QueryContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, vacuumPages))
		if err != nil {
			return mapErr("incremental vacuum", err)
		}
		for rows.Next() {
		}
		if err := rows.Close(); err != nil {
			return mapErr("incremental vacuum", err)
		}
		return mapErr("incremental vacuum", rows.Err())
	})
}

// autoVacuumIncremental is PRAGMA auto_vacuum's value for INCREMENTAL.
const autoVacuumIncremental = 2

// FreePages returns how many pages of the file are on SQLite's free list.
func (db *DB) FreePages(ctx context.Context) (int64, error) {
	var n int64
	if err := db.reader.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&n); err != nil {
		return 0, fmt.Errorf("free pages: %w", err)
	}
	return n, nil
}

// Vacuum rebuilds the database file: every free page goes back to the
// file system, and a file created before incremental auto-vacuum switches
// to it, so later deletions give space back on their own. It rewrites the
// whole file and blocks writes meanwhile, so run it while Herald is
// stopped (`herald migrate --vacuum`).
func (db *DB) Vacuum(ctx context.Context) error {
	// VACUUM cannot run inside a transaction, so it bypasses the group
	// commit; the writer's single connection keeps it apart from batches.
	if _, err := db.writer.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	if _, err := db.writer.ExecContext(ctx, "VACUUM"); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	return nil
}
