package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

const endpointColumns = `id, app_id, uid, url, description, disabled, event_types, channels, throttle_rate,
	metadata, headers, secrets, failing_since, created_at, updated_at, ordered,
	circuit_state, circuit_opened_at, circuit_retry_at, circuit_cooldown_ms`

// cancelDeliveries cancels an endpoint's unfinished deliveries: they will
// never be sent.
const cancelDeliveries = `UPDATE deliveries SET status = 4, next_attempt_at = NULL, lease_owner = NULL
	WHERE endpoint_id = $1 AND status IN (1, 3)`

// CreateEndpoint inserts ep; ErrConflict if its UID is taken in the app,
// ErrNotFound if the app does not exist.
func (db *DB) CreateEndpoint(ctx context.Context, ep *herald.Endpoint) error {
	secrets, err := db.sealSecrets(ep)
	if err != nil {
		return fmt.Errorf("create endpoint: %w", err)
	}
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	_, err = db.pool.Exec(ctx, `INSERT INTO endpoints (`+endpointColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 0, NULL, NULL, 0)`,
		ep.ID, ep.AppID, nullText(ep.UID), ep.URL, ep.Description, ep.Disabled,
		jsonText(ep.EventTypes), jsonText(ep.Channels), ep.ThrottleRate, jsonText(ep.Metadata),
		jsonText(ep.Headers), secrets, nullMS(ep.FailingSince), ms(ep.CreatedAt), ms(ep.UpdatedAt), ep.Ordered)
	if err != nil {
		return fmt.Errorf("create endpoint: %w", db.mapCallErr(ctx, err))
	}
	return nil
}

// GetEndpoint finds one of the app's endpoints by ID or UID.
func (db *DB) GetEndpoint(ctx context.Context, appID, idOrUID string) (*herald.Endpoint, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+endpointColumns+` FROM endpoints
		WHERE app_id = $1 AND (id = $2 OR uid = $2) ORDER BY (id = $2) DESC LIMIT 1`, appID, idOrUID)
	if err != nil {
		return nil, fmt.Errorf("get endpoint: %w", db.mapCallErr(ctx, err))
	}
	ep, err := pgx.CollectExactlyOneRow(rows, db.scanEndpoint)
	if err != nil {
		return nil, fmt.Errorf("get endpoint %s: %w", idOrUID, db.mapCallErr(ctx, err))
	}
	return &ep, nil
}

// ListEndpoints lists the app's endpoints by ID.
func (db *DB) ListEndpoints(ctx context.Context, appID string, page store.Page) ([]herald.Endpoint, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var q query
	q.add(`SELECT `, endpointColumns, ` FROM endpoints WHERE app_id = `, q.arg(appID))
	q.page("id", page, false)
	eps, err := db.queryEndpoints(ctx, q.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", db.mapCallErr(ctx, err))
	}
	return eps, nil
}

// ActiveEndpoints returns the app's enabled endpoints by ID.
func (db *DB) ActiveEndpoints(ctx context.Context, appID string) ([]herald.Endpoint, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	eps, err := db.queryEndpoints(ctx, `SELECT `+endpointColumns+` FROM endpoints
		WHERE app_id = $1 AND NOT disabled ORDER BY id`, appID)
	if err != nil {
		return nil, fmt.Errorf("active endpoints: %w", db.mapCallErr(ctx, err))
	}
	return eps, nil
}

func (db *DB) queryEndpoints(ctx context.Context, sql string, args ...any) ([]herald.Endpoint, error) {
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, db.scanEndpoint)
}

// UpdateEndpoint reads the endpoint FOR UPDATE, applies change and writes
// it back in one transaction: Record locks the endpoint likewise before it
// disables it, so an update never undoes that, or another update. The
// lock is the transaction's first, endpoints before deliveries (fifo.go).
// Disabling an endpoint cancels its unfinished deliveries.
func (db *DB) UpdateEndpoint(ctx context.Context, appID, id string, change func(*herald.Endpoint) error) (*herald.Endpoint, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var (
		out       *herald.Endpoint
		changeErr error
	)
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+endpointColumns+` FROM endpoints
			WHERE id = $1 AND app_id = $2 FOR UPDATE`, id, appID)
		if err != nil {
			return err
		}
		ep, err := pgx.CollectExactlyOneRow(rows, db.scanEndpoint)
		if err != nil {
			return err
		}
		was := ep
		if changeErr = change(&ep); changeErr != nil {
			return changeErr
		}
		ep.ID, ep.AppID, ep.CreatedAt, ep.Circuit = was.ID, was.AppID, was.CreatedAt, was.Circuit
		secrets, err := db.sealSecrets(&ep)
		if err != nil {
			return err
		}
		if was.Disabled && !ep.Disabled {
			// Re-enabling starts afresh, its circuit closed.
			if _, err := tx.Exec(ctx, enableClosesCircuit, id, appID); err != nil {
				return err
			}
			ep.Circuit = herald.Circuit{}
		}
		_, err = tx.Exec(ctx, `UPDATE endpoints SET uid = $3, url = $4, description = $5, disabled = $6,
			event_types = $7, channels = $8, throttle_rate = $9, metadata = $10, headers = $11, secrets = $12,
			failing_since = $13, updated_at = $14, ordered = $15 WHERE id = $1 AND app_id = $2`,
			id, appID, nullText(ep.UID), ep.URL, ep.Description, ep.Disabled, jsonText(ep.EventTypes),
			jsonText(ep.Channels), ep.ThrottleRate, jsonText(ep.Metadata), jsonText(ep.Headers),
			secrets, nullMS(ep.FailingSince), ms(ep.UpdatedAt), ep.Ordered)
		if err != nil {
			return err
		}
		if ep.Disabled {
			_, err = tx.Exec(ctx, cancelDeliveries, id)
		} else {
			err = reorder(ctx, tx, id, was.Ordered, ep.Ordered, ep.UpdatedAt)
		}
		out = &ep
		return err
	})
	if changeErr != nil {
		return nil, changeErr
	}
	if err != nil {
		return nil, fmt.Errorf("update endpoint %s: %w", id, db.mapCallErr(ctx, err))
	}
	return out, nil
}

// DeleteEndpoint deletes the endpoint and cancels its unfinished
// deliveries. Its attempts stay in the log.
func (db *DB) DeleteEndpoint(ctx context.Context, appID, id string) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM endpoints WHERE id = $1 AND app_id = $2`, id, appID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return herald.ErrNotFound
		}
		_, err = tx.Exec(ctx, cancelDeliveries, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete endpoint %s: %w", id, db.mapCallErr(ctx, err))
	}
	return nil
}

func (db *DB) scanEndpoint(row pgx.CollectableRow) (herald.Endpoint, error) {
	return db.scanEndpointWith(row)
}

// scanEndpointWith scans endpointColumns, then extra.
func (db *DB) scanEndpointWith(row pgx.CollectableRow, extra ...any) (herald.Endpoint, error) {
	var (
		ep                                                 herald.Endpoint
		uid, eventTypes, channels, metadata, headers, secs *string
		failingSince, opened, retry                        *int64
		createdAt, updatedAt, cooldown                     int64
		circuit                                            int16
	)
	dest := append([]any{&ep.ID, &ep.AppID, &uid, &ep.URL, &ep.Description, &ep.Disabled, &eventTypes, &channels,
		&ep.ThrottleRate, &metadata, &headers, &secs, &failingSince, &createdAt, &updatedAt, &ep.Ordered,
		&circuit, &opened, &retry, &cooldown}, extra...)
	if err := row.Scan(dest...); err != nil {
		return herald.Endpoint{}, err
	}
	ep.Circuit = herald.Circuit{State: herald.CircuitState(circuit), OpenedAt: fromNullMS(opened),
		RetryAt: fromNullMS(retry), Cooldown: time.Duration(cooldown) * time.Millisecond}
	ep.UID = fromNullText(uid)
	ep.FailingSince = fromNullMS(failingSince)
	ep.CreatedAt, ep.UpdatedAt = fromMS(createdAt), fromMS(updatedAt)
	for _, f := range []struct {
		s *string
		v any
	}{{eventTypes, &ep.EventTypes}, {channels, &ep.Channels}, {metadata, &ep.Metadata}, {headers, &ep.Headers}} {
		if err := fromJSON(f.s, f.v); err != nil {
			return herald.Endpoint{}, err
		}
	}
	secs, err := db.openSecrets(ep.ID, secs)
	if err != nil {
		return herald.Endpoint{}, &secretsError{endpointID: ep.ID, err: err}
	}
	if ep.Secrets, err = fromSecretsText(secs); err != nil {
		return herald.Endpoint{}, &secretsError{endpointID: ep.ID, err: fmt.Errorf("endpoint %s: %w", ep.ID, err)}
	}
	return ep, nil
}

// secretsError is an endpoint whose secrets column cannot be opened or
// decoded: sealed by a key the keyring lacks, or a corrupt value. It is
// the row's fault, not the database's, so a claim holds back that
// endpoint's deliveries instead of failing (queue.go).
type secretsError struct {
	endpointID string
	err        error
}

func (e *secretsError) Error() string { return e.err.Error() }
func (e *secretsError) Unwrap() error { return e.err }
