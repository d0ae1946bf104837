package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

const (
	sqlInsertAttempt = `INSERT INTO attempts
		(id, msg_id, endpoint_id, app_id, url, status, status_code, response_body, response_headers,
		 request_headers, duration_us, error_class, trigger, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// sqlRecordDelivery moves a delivery to its next state. A delivery that
	// would go on but whose endpoint is gone or disabled is canceled.
	sqlRecordDelivery = `UPDATE deliveries SET
			status = CASE WHEN ?3 IN (1, 3) AND NOT EXISTS
				(SELECT 1 FROM endpoints WHERE id = ?2 AND disabled = 0) THEN 4 ELSE ?3 END,
			attempts = ?4, next_attempt_at = ?5, trigger = 0, lease_owner = NULL, updated_at = ?6
		WHERE msg_id = ?1 AND endpoint_id = ?2`
	sqlEndpointHealthy = `UPDATE endpoints SET failing_since = NULL
		WHERE id = ? AND failing_since IS NOT NULL`
	sqlEndpointFailing = `UPDATE endpoints SET failing_since = ?
		WHERE id = ? AND failing_since IS NULL`
	sqlDisableEndpoint = `UPDATE endpoints SET disabled = 1, updated_at = ?
		WHERE id = ? AND disabled = 0 RETURNING id`
)

// Record applies attempt results in one group-committed transaction. A
// result whose message no longer exists (retention deleted it) is skipped.
// It returns the endpoints this call disabled; their other unfinished
// deliveries are canceled.
func (db *DB) Record(ctx context.Context, results []store.Result) ([]string, error) {
	if len(results) == 0 {
		return nil, nil
	}
	var disabled []string
	err := db.write(ctx, func(ctx context.Context, w *wtx) error {
		disabled = disabled[:0]
		for i := range results {
			off, err := db.record(ctx, w, &results[i])
			if err != nil {
				return err
			}
			if off {
				disabled = append(disabled, results[i].Attempt.EndpointID)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return disabled, nil
}

// record applies one result and reports whether it disabled the endpoint.
func (db *DB) record(ctx context.Context, w *wtx, r *store.Result) (bool, error) {
	a := &r.Attempt
	at := ms(a.CreatedAt)
	_, err := w.exec(ctx, db.st.insertAttempt, a.ID, a.MsgID, a.EndpointID, a.AppID, a.URL, int(a.Status),
		a.StatusCode, a.ResponseBody, jsonMap(a.ResponseHeaders), jsonMap(a.RequestHeaders),
		a.Duration.Microseconds(), string(a.ErrorClass), int(a.Trigger), at)
	if err != nil {
		err = mapErr("record attempt", err)
		if errors.Is(err, herald.ErrNotFound) {
			return false, nil
		}
		return false, err
	}

	if r.Outcome.Status == herald.StatusSuccess {
		_, err = w.exec(ctx, db.st.endpointHealthy, a.EndpointID)
	} else {
		_, err = w.exec(ctx, db.st.endpointFailing, at, a.EndpointID)
	}
	if err != nil {
		return false, mapErr("record endpoint health", err)
	}

	off := false
	if r.Outcome.DisableEndpoint {
		var id string
		err := w.stmt(ctx, db.st.disableEndpoint).QueryRowContext(ctx, at, a.EndpointID).Scan(&id)
		switch {
		case err == nil:
			off = true
			if _, err := w.exec(ctx, db.st.cancelEndpointDeliveries, at, a.EndpointID); err != nil {
				return false, mapErr("record: cancel deliveries", err)
			}
		case !errNoRows(err):
			return false, mapErr("record: disable endpoint", err)
		}
	}

	status := r.Outcome.Status
	var next sql.NullInt64
	if !status.Final() {
		next = nullMS(r.Outcome.NextAttemptAt)
		if !next.Valid {
			next = sql.NullInt64{Int64: at, Valid: true}
		}
	}
	_, err = w.exec(ctx, db.st.recordDelivery, a.MsgID, a.EndpointID, int(status), r.Attempts, next, at)
	if err != nil {
		return false, mapErr("record delivery", err)
	}
	return off, nil
}
