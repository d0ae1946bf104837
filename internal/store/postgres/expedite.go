package postgres

import (
	"context"
	"fmt"
	"time"
)

// Expedite makes the endpoint's waiting retries due at now, or at the
// RetryAt of a circuit that blocks, and wakes the other nodes. Leased rows
// are left to their owner, and parked ones to their turn (fifo.go).
func (db *DB) Expedite(ctx context.Context, appID, endpointID string, now time.Time) (int, error) {
	return db.expedite(ctx, appID, endpointID, now, "")
}

// ExpeditePaced is Expedite for the deliveries DeferLeases put where they
// wait, and no others.
func (db *DB) ExpeditePaced(ctx context.Context, appID, endpointID string, now time.Time) (int, error) {
	return db.expedite(ctx, appID, endpointID, now, " AND d.paced")
}

func (db *DB) expedite(ctx context.Context, appID, endpointID string, now time.Time, only string) (int, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	if err := db.endpointExists(ctx, appID, endpointID); err != nil {
		return 0, fmt.Errorf("expedite %s: %w", endpointID, err)
	}
	n, err := db.execNotify(ctx, `WITH c AS (
			SELECT GREATEST($1::bigint, CASE WHEN circuit_state <> 0 THEN circuit_retry_at END) AS due
			FROM endpoints WHERE id = $2)
		UPDATE deliveries d SET next_attempt_at = c.due, updated_at = $1 FROM c
		WHERE d.endpoint_id = $2 AND d.app_id = $3 AND d.status IN (1, 3)
			AND d.lease_owner IS NULL AND d.next_attempt_at > c.due AND d.next_attempt_at <> `+parked+only, ms(now), endpointID, appID)
	if err != nil {
		return 0, fmt.Errorf("expedite %s: %w", endpointID, db.mapCallErr(ctx, err))
	}
	return int(n), nil
}
