package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

const endpointColumns = `id, app_id, uid, url, description, disabled, event_types, channels, throttle_rate,
	metadata, headers, secrets, failing_since, created_at, updated_at, ordered,
	circuit_state, circuit_opened_at, circuit_retry_at, circuit_cooldown_ms`

// CreateEndpoint inserts ep; ErrConflict if its UID is taken in the app,
// ErrNotFound if the application does not exist.
func (db *DB) CreateEndpoint(ctx context.Context, ep *herald.Endpoint) error {
	secrets, err := db.endpointSecrets(ep)
	if err != nil {
		return err
	}
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		_, err := w.tx.ExecContext(ctx, `INSERT INTO endpoints (`+endpointColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, NULL, 0)`,
			ep.ID, ep.AppID, nullString(ep.UID), ep.URL, ep.Description, boolInt(ep.Disabled),
			jsonList(ep.EventTypes), jsonList(ep.Channels), ep.ThrottleRate, jsonMap(ep.Metadata),
			jsonMap(ep.Headers), secrets, nullMS(ep.FailingSince), ms(ep.CreatedAt), ms(ep.UpdatedAt), boolInt(ep.Ordered))
		return mapErr("create endpoint", err)
	})
}

// GetEndpoint finds an endpoint of the application by ID or, failing that,
// by UID.
func (db *DB) GetEndpoint(ctx context.Context, appID, idOrUID string) (*herald.Endpoint, error) {
	ep, err := db.scanEndpoint(db.reader.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM endpoints
		WHERE id = ? AND app_id = ?`, idOrUID, appID))
	if errNoRows(err) {
		ep, err = db.scanEndpoint(db.reader.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM endpoints
			WHERE app_id = ? AND uid = ?`, appID, idOrUID))
	}
	if err != nil {
		return nil, mapErr("get endpoint", err)
	}
	return ep, nil
}

// ListEndpoints lists the application's endpoints by ID.
func (db *DB) ListEndpoints(ctx context.Context, appID string, page store.Page) ([]herald.Endpoint, error) {
	var w where
	w.add("app_id = ?", appID)
	order := w.page("id", page, false)
	return db.queryEndpoints(ctx, "list endpoints", `SELECT `+endpointColumns+` FROM endpoints`+w.String()+order, w.args...)
}

// ActiveEndpoints returns the application's enabled endpoints.
func (db *DB) ActiveEndpoints(ctx context.Context, appID string) ([]herald.Endpoint, error) {
	return db.queryEndpoints(ctx, "active endpoints", `SELECT `+endpointColumns+` FROM endpoints
		WHERE app_id = ? AND disabled = 0 ORDER BY id`, appID)
}

func (db *DB) queryEndpoints(ctx context.Context, what, q string, args ...any) ([]herald.Endpoint, error) {
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(what, err)
	}
	defer rows.Close()
	var out []herald.Endpoint
	for rows.Next() {
		ep, err := db.scanEndpoint(rows)
		if err != nil {
			return nil, mapErr(what, err)
		}
		out = append(out, *ep)
	}
	return out, mapErr(what, rows.Err())
}

// UpdateEndpoint reads the endpoint, applies change and writes it back in
// one write of the single writer, so nothing commits in between: an update
// never undoes Record disabling the endpoint, or another update. Disabling
// the endpoint cancels its unfinished deliveries.
func (db *DB) UpdateEndpoint(ctx context.Context, appID, id string, change func(*herald.Endpoint) error) (*herald.Endpoint, error) {
	var out *herald.Endpoint
	err := db.write(ctx, func(ctx context.Context, w *wtx) error {
		out = nil // the op may run again (runBatch)
		ep, err := db.scanEndpoint(w.tx.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM endpoints
			WHERE id = ? AND app_id = ?`, id, appID))
		if err != nil {
			return mapErr("update endpoint", err)
		}
		was := *ep
		if err := change(ep); err != nil {
			return err
		}
		ep.ID, ep.AppID, ep.CreatedAt, ep.Circuit = was.ID, was.AppID, was.CreatedAt, was.Circuit
		secrets, err := db.endpointSecrets(ep)
		if err != nil {
			return err
		}
		if was.Disabled && !ep.Disabled {
			// Re-enabling starts afresh, its circuit closed.
			if _, err := w.tx.ExecContext(ctx, sqlEnableClosesCircuit, id, appID); err != nil {
				return mapErr("update endpoint: close circuit", err)
			}
			ep.Circuit = herald.Circuit{}
		}
		res, err := w.tx.ExecContext(ctx, `UPDATE endpoints SET uid = ?, url = ?, description = ?, disabled = ?,
			event_types = ?, channels = ?, throttle_rate = ?, metadata = ?, headers = ?, secrets = ?,
			failing_since = ?, updated_at = ?, ordered = ? WHERE id = ? AND app_id = ?`,
			nullString(ep.UID), ep.URL, ep.Description, boolInt(ep.Disabled), jsonList(ep.EventTypes),
			jsonList(ep.Channels), ep.ThrottleRate, jsonMap(ep.Metadata), jsonMap(ep.Headers), secrets,
			nullMS(ep.FailingSince), ms(ep.UpdatedAt), boolInt(ep.Ordered), id, appID)
		if err := affectedOne("update endpoint", res, err); err != nil {
			return err
		}
		if ep.Disabled {
			_, err := w.exec(ctx, db.st.cancelEndpointDeliveries, ms(ep.UpdatedAt), id)
			if err != nil {
				return mapErr("update endpoint: cancel deliveries", err)
			}
		} else if err := reorder(ctx, w, id, was.Ordered, ep.Ordered, ep.UpdatedAt); err != nil {
			return err
		}
		out = ep
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteEndpoint deletes the endpoint and cancels its unfinished
// deliveries. Its delivery and attempt history stays with the messages.
func (db *DB) DeleteEndpoint(ctx context.Context, appID, id string) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		res, err := w.tx.ExecContext(ctx, `DELETE FROM endpoints WHERE id = ? AND app_id = ?`, id, appID)
		if err := affectedOne("delete endpoint", res, err); err != nil {
			return err
		}
		_, err = w.exec(ctx, db.st.cancelEndpointDeliveries, ms(db.now()), id)
		return mapErr("delete endpoint: cancel deliveries", err)
	})
}

func (db *DB) scanEndpoint(s scanner) (*herald.Endpoint, error) {
	var (
		ep                                          herald.Endpoint
		uid, evTypes, channels, meta, hdrs, secrets sql.NullString
		disabled, ordered, circuit                  int
		failing, opened, retry                      sql.NullInt64
		created, updated, cooldown                  int64
	)
	err := s.Scan(&ep.ID, &ep.AppID, &uid, &ep.URL, &ep.Description, &disabled, &evTypes, &channels,
		&ep.ThrottleRate, &meta, &hdrs, &secrets, &failing, &created, &updated, &ordered,
		&circuit, &opened, &retry, &cooldown)
	if err != nil {
		return nil, err
	}
	ep.UID, ep.Disabled, ep.Ordered = uid.String, disabled != 0, ordered != 0
	ep.Circuit = herald.Circuit{State: herald.CircuitState(circuit), OpenedAt: fromNullMS(opened),
		RetryAt: fromNullMS(retry), Cooldown: time.Duration(cooldown) * time.Millisecond}
	ep.FailingSince, ep.CreatedAt, ep.UpdatedAt = fromNullMS(failing), fromMS(created), fromMS(updated)
	if ep.EventTypes, err = parseList(evTypes); err != nil {
		return nil, err
	}
	if ep.Channels, err = parseList(channels); err != nil {
		return nil, err
	}
	if ep.Metadata, err = parseMap(meta); err != nil {
		return nil, err
	}
	if ep.Headers, err = parseMap(hdrs); err != nil {
		return nil, err
	}
	if secrets, err = db.openSecrets(ep.ID, secrets); err != nil {
		return nil, &secretsError{endpointID: ep.ID, err: err}
	}
	if ep.Secrets, err = parseSecrets(secrets); err != nil {
		return nil, &secretsError{endpointID: ep.ID, err: fmt.Errorf("endpoint %s: %w", ep.ID, err)}
	}
	return &ep, nil
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

// endpointSecrets encodes and seals ep's secrets column.
func (db *DB) endpointSecrets(ep *herald.Endpoint) (sql.NullString, error) {
	secrets, err := jsonSecrets(ep.Secrets)
	if err != nil {
		return secrets, err
	}
	return db.sealSecrets(ep.ID, secrets)
}
