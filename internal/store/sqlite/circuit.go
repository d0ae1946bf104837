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
// from, and returns the circuit as stored. Opening it moves the endpoint's
// waiting deliveries to its RetryAt (hold.go): the first chunk with the
// change, the rest in the background.
func (db *DB) OpenCircuit(ctx context.Context, endpointID string, from herald.CircuitState, now time.Time, cooldown time.Duration) (herald.Circuit, error) {
	var (
		c    herald.Circuit
		m    move
		next cursor
	)
	err := db.write(ctx, func(ctx context.Context, w *wtx) error {
		res, err := w.tx.ExecContext(ctx, `UPDATE endpoints SET circuit_state = 1,
				circuit_opened_at = CASE WHEN circuit_state = 0 THEN ?1 ELSE circuit_opened_at END,
				circuit_retry_at = ?2, circuit_cooldown_ms = ?3
			WHERE id = ?4 AND circuit_state = ?5`,
			ms(now), ms(now.Add(cooldown)), cooldown.Milliseconds(), endpointID, int(from))
		if err != nil {
			return mapErr("open circuit", err)
		}
		opened, err := res.RowsAffected()
		if err != nil {
			return mapErr("open circuit", err)
		}
		if c, err = getCircuit(ctx, w.tx, endpointID); err != nil {
			return err
		}
		// Whoever opened it moves the deliveries; a node that found it
		// open already has nothing to add.
		next = cursor{done: true}
		if opened == 1 {
			m = holdUntil(endpointID, c.RetryAt)
			next, err = m.step(ctx, w.tx, start)
		}
		return err
	})
	if err != nil {
		return herald.Circuit{}, err
	}
	db.finish(m, next)
	return c, nil
}

// ProbeCircuit makes a circuit whose RetryAt has passed half-open until
// now+hold, reporting whether this call did. The winner holds the
// endpoint's waiting deliveries back until then, as OpenCircuit does.
func (db *DB) ProbeCircuit(ctx context.Context, endpointID string, now time.Time, hold time.Duration) (herald.Circuit, bool, error) {
	var (
		c    herald.Circuit
		won  bool
		m    move
		next cursor
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
		if c, err = getCircuit(ctx, w.tx, endpointID); err != nil {
			return err
		}
		next = cursor{done: true}
		if won {
			m = holdUntil(endpointID, c.RetryAt)
			next, err = m.step(ctx, w.tx, start)
		}
		return err
	})
	if err != nil {
		return herald.Circuit{}, false, err
	}
	db.finish(m, next)
	return c, won, nil
}

// CloseCircuit closes the endpoint's circuit, and makes the deliveries it
// held back due at now, so the backlog drains at once.
func (db *DB) CloseCircuit(ctx context.Context, endpointID string, now time.Time) error {
	var (
		m    move
		next cursor
	)
	err := db.write(ctx, func(ctx context.Context, w *wtx) error {
		c, err := getCircuit(ctx, w.tx, endpointID)
		if err != nil {
			return err
		}
		res, err := w.tx.ExecContext(ctx, `UPDATE endpoints SET circuit_state = 0, circuit_opened_at = NULL,
			circuit_retry_at = NULL, circuit_cooldown_ms = 0 WHERE id = ?`, endpointID)
		if err := affectedOne("close circuit", res, err); err != nil {
			return err
		}
		next = cursor{done: true}
		if c.State != herald.CircuitClosed {
			m = release(endpointID, c.RetryAt, now)
			next, err = m.step(ctx, w.tx, start)
		}
		return err
	})
	if err != nil {
		return err
	}
	db.finish(m, next)
	return nil
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
