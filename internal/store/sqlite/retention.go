package sqlite

import (
	"context"
	"fmt"
	"time"
)

// vacuumPages is the most free pages one ExpireMessages returns to the
// file system, so the vacuum stays as short as the delete.
const vacuumPages = 2000

// ExpireMessages deletes up to limit expired messages that have no
// unfinished delivery. Their deliveries and attempts go with them through
// the tables' ON DELETE CASCADE. A message whose event ID is still in its
// window loses its payload instead, and stays until the window ends, so
// the ID keeps refusing a second message (see sqlHoldEventIDs). When the
// file uses incremental auto-vacuum (every file created by this version),
// freed pages are then returned to the file system; older files keep them
// on SQLite's free list and reuse them for new rows until Vacuum
// (`herald migrate --vacuum`) converts them.
func (db *DB) ExpireMessages(ctx context.Context, now time.Time, limit int) (int, error) {
	return db.expire(ctx, "expire messages", `DELETE FROM messages WHERE id IN (
		SELECT m.id FROM messages m
		WHERE m.expires_at IS NOT NULL AND m.expires_at <= ?1
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.status IN (1, 3))
		LIMIT ?2)`, ms(now), limit, sqlHoldEventIDs)
}

// sqlHoldEventIDs runs before the delete, with the same arguments: the
// expired messages whose event ID is still reserved lose their payload,
// and expire again when the reservation ends.
var sqlHoldEventIDs = fmt.Sprintf(`UPDATE messages SET payload = NULL, expires_at = created_at + %d
	WHERE id IN (SELECT m.id FROM messages m
		WHERE m.expires_at IS NOT NULL AND m.expires_at <= ?1
			AND m.event_id IS NOT NULL AND m.created_at + %d > ?1
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.status IN (1, 3))
		LIMIT ?2)`, eventIDWindow.Milliseconds(), eventIDWindow.Milliseconds())

// ExpireInboundEvents deletes up to limit inbound events received at or
// before before, then returns freed pages like ExpireMessages.
func (db *DB) ExpireInboundEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	return db.expire(ctx, "expire inbound events", `DELETE FROM inbound_events WHERE id IN (
		SELECT id FROM inbound_events WHERE received_at <= ? ORDER BY received_at LIMIT ?)`, ms(before), limit)
}

// ExpireIdempotencyKeys deletes up to limit idempotency records expired at
// or before now.
func (db *DB) ExpireIdempotencyKeys(ctx context.Context, now time.Time, limit int) (int, error) {
	return db.expire(ctx, "expire idempotency keys", `DELETE FROM idempotency_keys WHERE key IN (
		SELECT key FROM idempotency_keys WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`, ms(now), limit)
}

// expire runs one bounded delete (its arguments: a time, then limit) as
// its own short write, after the statements in before (same arguments),
// then gives freed pages back to the file system.
func (db *DB) expire(ctx context.Context, what, query string, at int64, limit int, before ...string) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int64
	err := db.write(ctx, func(ctx context.Context, w *wtx) error {
		for _, q := range before {
			if _, err := w.tx.ExecContext(ctx, q, at, limit); err != nil {
				return mapErr(what, err)
			}
		}
		res, err := w.tx.ExecContext(ctx, query, at, limit)
		if err != nil {
			return mapErr(what, err)
		}
		// Assigned, not added: the batch may run this op twice.
		n, err = res.RowsAffected()
		return mapErr(what, err)
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		if err := db.vacuum(ctx); err != nil {
			return int(n), err
		}
	}
	return int(n), nil
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
