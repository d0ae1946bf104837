package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/herald"
)

// enableClosesCircuit closes the circuit of a disabled endpoint about to
// be enabled again.
const enableClosesCircuit = `UPDATE endpoints SET circuit_state = 0, circuit_opened_at = NULL,
	circuit_retry_at = NULL, circuit_cooldown_ms = 0 WHERE id = $1 AND app_id = $2 AND disabled`

const getCircuit = `SELECT circuit_state, circuit_opened_at, circuit_retry_at, circuit_cooldown_ms
	FROM endpoints WHERE id = $1`

// OpenCircuit opens the endpoint's circuit for cooldown if it is in state
// from, and returns the circuit as stored.
func (db *DB) OpenCircuit(ctx context.Context, endpointID string, from herald.CircuitState, now time.Time, cooldown time.Duration) (herald.Circuit, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var c herald.Circuit
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE endpoints SET circuit_state = 1,
				circuit_opened_at = CASE WHEN circuit_state = 0 THEN $1 ELSE circuit_opened_at END,
				circuit_retry_at = $2, circuit_cooldown_ms = $3
			WHERE id = $4 AND circuit_state = $5`,
			ms(now), ms(now.Add(cooldown)), cooldown.Milliseconds(), endpointID, int16(from))
		if err != nil {
			return err
		}
		c, err = scanCircuit(tx.QueryRow(ctx, getCircuit, endpointID))
		return err
	})
	if err != nil {
		return herald.Circuit{}, fmt.Errorf("open circuit %s: %w", endpointID, db.mapCallErr(ctx, err))
	}
	return c, nil
}

// ProbeCircuit makes a circuit whose RetryAt has passed half-open until
// now+hold, reporting whether this call did.
func (db *DB) ProbeCircuit(ctx context.Context, endpointID string, now time.Time, hold time.Duration) (herald.Circuit, bool, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var (
		c   herald.Circuit
		won bool
	)
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE endpoints SET circuit_state = 2, circuit_retry_at = $1
			WHERE id = $2 AND circuit_state <> 0 AND circuit_retry_at <= $3`, ms(now.Add(hold)), endpointID, ms(now))
		if err != nil {
			return err
		}
		won = tag.RowsAffected() == 1
		c, err = scanCircuit(tx.QueryRow(ctx, getCircuit, endpointID))
		return err
	})
	if err != nil {
		return herald.Circuit{}, false, fmt.Errorf("probe circuit %s: %w", endpointID, db.mapCallErr(ctx, err))
	}
	return c, won, nil
}

// CloseCircuit closes the endpoint's circuit.
func (db *DB) CloseCircuit(ctx context.Context, endpointID string) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `UPDATE endpoints SET circuit_state = 0, circuit_opened_at = NULL,
		circuit_retry_at = NULL, circuit_cooldown_ms = 0 WHERE id = $1`, endpointID)
	if err == nil && tag.RowsAffected() == 0 {
		err = herald.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("close circuit %s: %w", endpointID, db.mapCallErr(ctx, err))
	}
	return nil
}

func scanCircuit(row pgx.Row) (herald.Circuit, error) {
	var (
		state         int16
		opened, retry *int64
		cooldown      int64
	)
	if err := row.Scan(&state, &opened, &retry, &cooldown); err != nil {
		return herald.Circuit{}, err
	}
	return herald.Circuit{State: herald.CircuitState(state), OpenedAt: fromNullMS(opened),
		RetryAt: fromNullMS(retry), Cooldown: time.Duration(cooldown) * time.Millisecond}, nil
}
