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
// from, and returns the circuit as stored. Opening it moves the endpoint's
// waiting deliveries to its RetryAt (hold.go): the first chunk with the
// change, the rest in the background.
func (db *DB) OpenCircuit(ctx context.Context, endpointID string, from herald.CircuitState, now time.Time, cooldown time.Duration) (herald.Circuit, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var (
		c    herald.Circuit
		m    move
		next cursor
	)
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE endpoints SET circuit_state = 1,
				circuit_opened_at = CASE WHEN circuit_state = 0 THEN $1 ELSE circuit_opened_at END,
				circuit_retry_at = $2, circuit_cooldown_ms = $3
			WHERE id = $4 AND circuit_state = $5`,
			ms(now), ms(now.Add(cooldown)), cooldown.Milliseconds(), endpointID, int16(from))
		if err != nil {
			return err
		}
		if c, err = scanCircuit(tx.QueryRow(ctx, getCircuit, endpointID)); err != nil {
			return err
		}
		// Whoever opened it moves the deliveries; a node that found it
		// open already has nothing to add.
		next = cursor{done: true}
		if tag.RowsAffected() == 1 {
			m = holdUntil(endpointID, c.RetryAt)
			next, _, err = m.step(ctx, tx, start)
		}
		return err
	})
	if err != nil {
		return herald.Circuit{}, fmt.Errorf("open circuit %s: %w", endpointID, db.mapCallErr(ctx, err))
	}
	db.finish(m, next, false)
	return c, nil
}

// ProbeCircuit makes a circuit whose RetryAt has passed half-open until
// now+hold, reporting whether this call did. The winner holds the
// endpoint's waiting deliveries back until then, as OpenCircuit does.
func (db *DB) ProbeCircuit(ctx context.Context, endpointID string, now time.Time, hold time.Duration) (herald.Circuit, bool, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var (
		c    herald.Circuit
		won  bool
		m    move
		next cursor
	)
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE endpoints SET circuit_state = 2, circuit_retry_at = $1
			WHERE id = $2 AND circuit_state <> 0 AND circuit_retry_at <= $3`, ms(now.Add(hold)), endpointID, ms(now))
		if err != nil {
			return err
		}
		won = tag.RowsAffected() == 1
		if c, err = scanCircuit(tx.QueryRow(ctx, getCircuit, endpointID)); err != nil {
			return err
		}
		next = cursor{done: true}
		if won {
			m = holdUntil(endpointID, c.RetryAt)
			next, _, err = m.step(ctx, tx, start)
		}
		return err
	})
	if err != nil {
		return herald.Circuit{}, false, fmt.Errorf("probe circuit %s: %w", endpointID, db.mapCallErr(ctx, err))
	}
	db.finish(m, next, false)
	return c, won, nil
}

// CloseCircuit closes the endpoint's circuit, and makes the deliveries it
// held back due at now, so the backlog drains at once; idle nodes are
// notified.
func (db *DB) CloseCircuit(ctx context.Context, endpointID string, now time.Time) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var (
		m    move
		next cursor
	)
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		c, err := scanCircuit(tx.QueryRow(ctx, getCircuit+` FOR UPDATE`, endpointID))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE endpoints SET circuit_state = 0, circuit_opened_at = NULL,
			circuit_retry_at = NULL, circuit_cooldown_ms = 0 WHERE id = $1`, endpointID); err != nil {
			return err
		}
		next = cursor{done: true}
		if c.State == herald.CircuitClosed {
			return nil
		}
		m = release(endpointID, c.RetryAt, now)
		var n int64
		if next, n, err = m.step(ctx, tx, start); err != nil || n == 0 {
			return err
		}
		_, err = tx.Exec(ctx, notifySQL, db.notifyPayload())
		return err
	})
	if err != nil {
		return fmt.Errorf("close circuit %s: %w", endpointID, db.mapCallErr(ctx, err))
	}
	db.finish(m, next, true)
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
