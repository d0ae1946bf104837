package postgres

import (
	"context"
	"fmt"
	"time"
)

// Expedite makes the endpoint's waiting retries due at now and wakes the
// other nodes. Leased rows are left to their owner.
func (db *DB) Expedite(ctx context.Context, appID, endpointID string, now time.Time) (int, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	if err := db.endpointExists(ctx, appID, endpointID); err != nil {
		return 0, fmt.Errorf("expedite %s: %w", endpointID, err)
	}
	n, err := db.execNotify(ctx, `UPDATE deliveries SET next_attempt_at = $1, updated_at = $1
		WHERE endpoint_id = $2 AND app_id = $3 AND status IN (1, 3)
			AND lease_owner IS NULL AND next_attempt_at > $1`, ms(now), endpointID, appID)
	if err != nil {
		return 0, fmt.Errorf("expedite %s: %w", endpointID, db.mapCallErr(ctx, err))
	}
	return int(n), nil
}
