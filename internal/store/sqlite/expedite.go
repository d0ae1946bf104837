package sqlite

import (
	"context"
	"time"
)

// Expedite makes the endpoint's waiting retries due at now, or at the
// RetryAt of a circuit that blocks. Leased rows are left to their owner,
// and parked ones to their turn (fifo.go).
func (db *DB) Expedite(ctx context.Context, appID, endpointID string, now time.Time) (int, error) {
	return db.expedite(ctx, appID, endpointID, now, "")
}

// ExpeditePaced is Expedite for the deliveries DeferLeases put where they
// wait, and no others.
func (db *DB) ExpeditePaced(ctx context.Context, appID, endpointID string, now time.Time) (int, error) {
	return db.expedite(ctx, appID, endpointID, now, " AND paced = 1")
}

func (db *DB) expedite(ctx context.Context, appID, endpointID string, now time.Time, only string) (int, error) {
	var n int64
	err := db.write(ctx, func(ctx context.Context, w *wtx) error {
		if err := exists(ctx, w.tx, "expedite: endpoint", `SELECT 1 FROM endpoints WHERE id = ? AND app_id = ?`, endpointID, appID); err != nil {
			return err
		}
		due, err := dueAt(ctx, w.tx, endpointID, now)
		if err != nil {
			return err
		}
		res, err := w.tx.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = ?1, updated_at = ?4
			WHERE endpoint_id = ?2 AND app_id = ?3 AND status IN (1, 3)
				AND lease_owner IS NULL AND next_attempt_at > ?1 AND next_attempt_at <> `+parked+only, due, endpointID, appID, ms(now))
		if err != nil {
			return mapErr("expedite", err)
		}
		n, err = res.RowsAffected()
		return mapErr("expedite", err)
	})
	return int(n), err
}
