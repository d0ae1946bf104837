package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// sqlEnableClosesCircuit closes the circuit of a disabled endpoint about
// to be enabled again.
const sqlEnableClosesCircuit = `UPDATE endpoints SET circuit_state = 0, circuit_opened_at = NULL,
	circuit_retry_at = NULL, circuit_cooldown_ms = 0 WHERE id = ? AND app_id = ? AND disabled <> 0`

const sqlGetCircuit = `SELECT circuit_state, circuit_opened_at, circuit_retry_at, circuit_cooldown_ms
	FROM endpoints WHERE id = ?`

// OpenCircuit opens the endpoint's circuit for cooldown if it is in state
// from, and returns the circuit as stored.
func (db *DB) OpenCircuit(ctx context.Context, endpointID string, from herald.CircuitState, now time.Time, cooldown time.Duration) (herald.Circuit, error) {
	var c herald.Circuit
	err := db.write(ctx, func(ctx context.Context, w *wtx) error {
		_, err := w.tx.ExecContext(ctx, `UPDATE endpoints SET circuit_state = 1,
				circuit_opened_at = CASE WHEN circuit_state = 0 THEN ?1 ELSE circuit_opened_at END,
				circuit_retry_at = ?2, circuit_cooldown_ms = ?3
			WHERE id = ?4 AND circuit_state = ?5`,
			ms(now), ms(now.Add(cooldown)), cooldown.Milliseconds(), endpointID, int(from))
		if err != nil {
			return mapErr("open circuit", err)
		}
		c, err = getCircuit(ctx, w.tx, endpointID)
		return err
	})
	return c, err
}

// ProbeCircuit makes a circuit whose RetryAt has passed half-open until
// now+hold, reporting whether this call did.
func (db *DB) ProbeCircuit(ctx context.Context, endpointID string, now time.Time, hold time.Duration) (herald.Circuit, bool, error) {
	var (
		c   herald.Circuit
		won bool
	)
	err := db.write(ctx, func(ctx context.Context, w *wtx) error {
		res, err := w.tx.ExecContext(ctx, `UPDATE endpoints SET circuit_state = 2, circuit_retry_at = ?
			WHERE id = ? AND circuit_state <> 0 AND circuit_retry_at <= ?`, ms(now.Add(hold)), endpointID, ms(now))
		if err != nil {
			return mapErr("probe circuit", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return mapErr("probe circuit", err)
		}
		won = n == 1
		c, err = getCircuit(ctx, w.tx, endpointID)
		return err
	})
	return c, won, err
}

// CloseCircuit closes the endpoint's circuit.
func (db *DB) CloseCircuit(ctx context.Context, endpointID string) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		res, err := w.tx.ExecContext(ctx, `UPDATE endpoints SET circuit_state = 0, circuit_opened_at = NULL,
			circuit_retry_at = NULL, circuit_cooldown_ms = 0 WHERE id = ?`, endpointID)
		return affectedOne("close circuit", res, err)
	})
}

func getCircuit(ctx context.Context, tx *sql.Tx, endpointID string) (herald.Circuit, error) {
	var (
		state         int
		opened, retry sql.NullInt64
		cooldown      int64
	)
	err := tx.QueryRowContext(ctx, sqlGetCircuit, endpointID).Scan(&state, &opened, &retry, &cooldown)
	if err != nil {
		return herald.Circuit{}, mapErr("get circuit", err)
	}
	return herald.Circuit{State: herald.CircuitState(state), OpenedAt: fromNullMS(opened),
		RetryAt: fromNullMS(retry), Cooldown: time.Duration(cooldown) * time.Millisecond}, nil
}
