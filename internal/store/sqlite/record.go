package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

const (
	sqlInsertAttempt = `INSERT INTO attempts
		(id, msg_id, endpoint_id, app_id, url, status, status_code, response_body, response_headers,
		 request_headers, duration_us, error_class, trigger, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING` // recorded by an earlier try of the same batch
	// sqlRecordDelivery moves a delivery to its next state, if it is still
	// held as the attempt was made (store.Result.Owner); one canceled
	// meanwhile takes a final outcome only, so a retry cannot revive it
	// (its endpoint may have been re-enabled since). A delivery that
	// would go on but whose endpoint is gone or disabled is canceled, with
	// no next attempt.
	sqlRecordDelivery = `UPDATE deliveries SET
			status = CASE WHEN ?3 IN (1, 3) AND NOT EXISTS
				(SELECT 1 FROM endpoints WHERE id = ?2 AND disabled = 0) THEN 4 ELSE ?3 END,
			next_attempt_at = CASE WHEN ?3 IN (1, 3) AND NOT EXISTS
				(SELECT 1 FROM endpoints WHERE id = ?2 AND disabled = 0) THEN NULL ELSE ?5 END,
			attempts = ?4, trigger = CASE WHEN ?9 THEN trigger ELSE 0 END, lease_owner = NULL, updated_at = ?6, paced = 0
		WHERE msg_id = ?1 AND endpoint_id = ?2 AND (lease_owner IS ?7 OR status = 4 AND ?3 IN (0, 2))
			AND attempts = ?8`
	sqlEndpointHealthy = `UPDATE endpoints SET failing_since = NULL
		WHERE id = ? AND failing_since IS NOT NULL`
	// A failure marks the endpoint failing since its attempt began (?1),
	// unless an attempt begun later succeeded: results are recorded as they
	// finish, and a slow failure may come after a quick success sent after
	// it. IDs are never older than their attempt's start, so ?3 bounds the
	// scan to the attempts begun later.
	sqlEndpointFailing = `UPDATE endpoints SET failing_since = ?1
		WHERE id = ?2 AND failing_since IS NULL AND NOT EXISTS ` + succeededSince
	sqlEndpointFailingAt = `UPDATE endpoints SET failing_since = CASE WHEN EXISTS ` + succeededSince + ` THEN NULL ELSE ?1 END
		WHERE id = ?2`
	succeededSince     = `(SELECT 1 FROM attempts WHERE endpoint_id = ?2 AND id >= ?3 AND created_at > ?1 AND status = 0)`
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
	// The headers are encoded here, on the caller's goroutine, rather than
	// by the writer, which every write waits for.
	headers := make([][2]sql.NullString, len(results))
	for i := range results {
		a := &results[i].Attempt
		headers[i] = [2]sql.NullString{jsonMap(a.ResponseHeaders), jsonMap(a.RequestHeaders)}
	}
	var disabled []string
	err := db.writeSpread(ctx, func(ctx context.Context, w *wtx) error {
		disabled = disabled[:0]
		var health endpointHealth
		for i := range results {
			off, err := db.record(ctx, w, &results[i], headers[i], &health)
			if err != nil {
				return err
			}
			if off {
				disabled = append(disabled, results[i].Attempt.EndpointID)
			}
		}
		return health.write(ctx, db, w)
	}, endpointCount(results))
	if err != nil {
		return nil, err
	}
	return disabled, nil
}

// endpointCount returns how many endpoints results are for, counting up to
// store.WideSpread: past that the batch is wide whatever the count.
func endpointCount(results []store.Result) int {
	seen := make(map[string]struct{}, store.WideSpread)
	for i := range results {
		seen[results[i].Attempt.EndpointID] = struct{}{}
		if len(seen) >= store.WideSpread {
			break
		}
	}
	return len(seen)
}

// record applies one result and reports whether it disabled the endpoint.
// The endpoint's health is noted in health and written once per endpoint
// for the whole call: with many results for one endpoint, that saves the
// writer a statement per result. headers are the attempt's response and
// request headers, encoded.
func (db *DB) record(ctx context.Context, w *wtx, r *store.Result, headers [2]sql.NullString, health *endpointHealth) (bool, error) {
	a := &r.Attempt
	at := ms(a.CreatedAt)
	_, err := w.exec(ctx, db.st.insertAttempt, a.ID, a.MsgID, a.EndpointID, a.AppID, a.URL, int(a.Status),
		a.StatusCode, a.ResponseBody, headers[0], headers[1],
		a.Duration.Microseconds(), string(a.ErrorClass), int(a.Trigger), at)
	if err != nil {
		err = mapErr("record attempt", err)
		if errors.Is(err, herald.ErrNotFound) {
			return false, nil
		}
		return false, err
	}

	if !r.Interrupted {
		health.note(a.EndpointID, r.Outcome.Status == herald.StatusSuccess, at)
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
	_, err = w.exec(ctx, db.st.recordDelivery, a.MsgID, a.EndpointID, int(status), r.Attempts, next, at, nullString(r.Owner),
		r.Before(), r.Interrupted)
	if err != nil {
		return false, mapErr("record delivery", err)
	}
	if r.Ordered && status.Final() {
		// The next delivery to the endpoint has its turn (fifo.go).
		if _, err := w.tx.ExecContext(ctx, sqlUnparkNext, at, a.EndpointID); err != nil {
			return false, mapErr("record: unpark the next delivery", err)
		}
	}
	return off, nil
}

// endpointHealth gathers, in result order, what a Record call means for
// each endpoint's failing_since: cleared by a success, set by the first
// failure after it (or by the first failure at all, if it was not already
// failing).
type endpointHealth struct {
	order []string
	by    map[string]*healthChange
}

type healthChange struct {
	healthy   bool  // last seen: a success, with no failure after it
	cleared   bool  // a success came first in this call: failing_since is ours to set
	failingAt int64 // first failure after the last success (0: none)
}

func (h *endpointHealth) note(endpointID string, success bool, at int64) {
	if h.by == nil {
		h.by = make(map[string]*healthChange)
	}
	c := h.by[endpointID]
	if c == nil {
		c = &healthChange{}
		h.by[endpointID] = c
		h.order = append(h.order, endpointID)
	}
	switch {
	case success:
		c.healthy, c.cleared, c.failingAt = true, true, 0
	case c.failingAt == 0:
		c.healthy, c.failingAt = false, at
	}
}

// write applies the gathered changes, one statement per endpoint.
func (h *endpointHealth) write(ctx context.Context, db *DB, w *wtx) error {
	for _, id := range h.order {
		c := h.by[id]
		var err error
		switch {
		case c.healthy:
			_, err = w.exec(ctx, db.st.endpointHealthy, id)
		case c.cleared:
			_, err = w.exec(ctx, db.st.endpointFailingAt, c.failingAt, id, laterAttempts(c.failingAt))
		default:
			_, err = w.exec(ctx, db.st.endpointFailing, c.failingAt, id, laterAttempts(c.failingAt))
		}
		if err != nil {
			return mapErr("record endpoint health", err)
		}
	}
	return nil
}

// laterAttempts is the lowest ID of an attempt begun after at (ms).
func laterAttempts(at int64) string {
	return herald.IDFloor(herald.PrefixAttempt, time.UnixMilli(at+1))
}
