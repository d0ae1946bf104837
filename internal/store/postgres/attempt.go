package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

const attemptColumnList = `a.id, a.msg_id, a.endpoint_id, a.app_id, a.url, a.status, a.status_code, a.response_body,
	a.response_headers, a.request_headers, a.duration_ns, a.error_class, a.trigger, a.created_at`

// GetAttempt finds one attempt of the app's message.
func (db *DB) GetAttempt(ctx context.Context, appID, msgID, attemptID string) (*herald.Attempt, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+attemptColumnList+` FROM attempts a
		WHERE a.id = $1 AND a.app_id = $2 AND a.msg_id = $3`, attemptID, appID, msgID)
	if err != nil {
		return nil, fmt.Errorf("get attempt: %w", db.mapCallErr(ctx, err))
	}
	a, err := pgx.CollectExactlyOneRow(rows, scanAttempt)
	if err != nil {
		return nil, fmt.Errorf("get attempt %s: %w", attemptID, db.mapCallErr(ctx, err))
	}
	return &a, nil
}

// ListAttempts lists the app's attempts for a message, an endpoint or
// both, newest first.
func (db *DB) ListAttempts(ctx context.Context, appID string, f store.AttemptFilter) ([]herald.Attempt, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var q query
	q.add(`SELECT `, attemptColumnList, ` FROM attempts a`)
	if f.Channel != "" || len(f.EventTypes) > 0 {
		q.add(` JOIN messages m ON m.id = a.msg_id`)
	}
	q.add(` WHERE a.app_id = `, q.arg(appID))
	if f.MsgID != "" {
		q.add(` AND a.msg_id = `, q.arg(f.MsgID))
	}
	if f.EndpointID != "" {
		q.add(` AND a.endpoint_id = `, q.arg(f.EndpointID))
	}
	if f.Status != nil {
		q.add(` AND a.status = `, q.arg(int16(*f.Status)))
	}
	switch c := f.StatusCodeClass; {
	case c == -1:
		q.add(` AND a.status_code = 0`)
	case c > 0:
		q.add(` AND a.status_code >= `, q.arg(int32(c)), ` AND a.status_code < `, q.arg(int32(c+100)))
	}
	q.messageBounds("m.", f.Channel, f.EventTypes, time.Time{}, time.Time{})
	q.timeBounds("a.", f.Before, f.After)
	q.page("a.id", f.Page, true)
	rows, err := db.pool.Query(ctx, q.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list attempts: %w", db.mapCallErr(ctx, err))
	}
	as, err := pgx.CollectRows(rows, scanAttempt)
	if err != nil {
		return nil, fmt.Errorf("list attempts: %w", db.mapCallErr(ctx, err))
	}
	return as, nil
}

// ExpungeAttemptContent removes the attempt's response body.
func (db *DB) ExpungeAttemptContent(ctx context.Context, appID, msgID, attemptID string) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `UPDATE attempts SET response_body = NULL
		WHERE id = $1 AND app_id = $2 AND msg_id = $3`, attemptID, appID, msgID)
	if err != nil {
		return fmt.Errorf("expunge attempt: %w", db.mapCallErr(ctx, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("expunge attempt %s: %w", attemptID, herald.ErrNotFound)
	}
	return nil
}

// ListEndpointMessages lists the messages sent to an endpoint with the state
// of their delivery, newest first. A Fail status filter also matches
// canceled deliveries, which the API shows as failed. ErrNotFound if the
// endpoint is not the app's.
func (db *DB) ListEndpointMessages(ctx context.Context, appID, endpointID string, f store.MessageFilter) ([]store.EndpointMessage, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	if err := db.endpointExists(ctx, appID, endpointID); err != nil {
		return nil, fmt.Errorf("list endpoint messages: %w", err)
	}
	var q query
	q.add(`SELECT m.id, m.app_id, m.event_id, m.event_type, m.channels, m.payload, m.created_at, m.expires_at,
		m.content_type, m.headers, d.status, d.next_attempt_at
		FROM deliveries d JOIN messages m ON m.id = d.msg_id
		WHERE d.app_id = `, q.arg(appID), ` AND d.endpoint_id = `, q.arg(endpointID))
	switch {
	case f.Status == nil:
	case *f.Status == herald.StatusFail:
		q.add(` AND d.status IN (2, 4)`)
	default:
		q.add(` AND d.status = `, q.arg(int16(*f.Status)))
	}
	q.messageFilter("m.", f)
	q.page("m.id", f.Page, true)
	rows, err := db.pool.Query(ctx, q.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list endpoint messages: %w", db.mapCallErr(ctx, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.EndpointMessage, error) {
		var (
			em store.EndpointMessage
			st int16
		)
		next, err := scanMessageWithState(row, &em.Message, &st)
		em.Status, em.NextAttemptAt = herald.MessageStatus(st), next
		return em, err
	})
	if err != nil {
		return nil, fmt.Errorf("list endpoint messages: %w", db.mapCallErr(ctx, err))
	}
	return out, nil
}

// ListMessageDestinations lists the endpoints a message went to, by
// endpoint ID, with the state of each delivery. ErrNotFound if the message
// is not the app's.
func (db *DB) ListMessageDestinations(ctx context.Context, appID, msgID string, page store.Page) ([]store.MessageDestination, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var one int
	err := db.pool.QueryRow(ctx, `SELECT 1 FROM messages WHERE id = $1 AND app_id = $2`, msgID, appID).Scan(&one)
	if err != nil {
		return nil, fmt.Errorf("list message destinations: %w", db.mapCallErr(ctx, err))
	}
	var q query
	q.add(`SELECT e.id, e.app_id, e.uid, e.url, e.description, e.disabled, e.event_types, e.channels,
		e.throttle_rate, e.metadata, e.headers, e.secrets, e.failing_since, e.created_at, e.updated_at,
		e.ordered, e.circuit_state, e.circuit_opened_at, e.circuit_retry_at, e.circuit_cooldown_ms,
		d.status, d.next_attempt_at
		FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
		WHERE d.app_id = `, q.arg(appID), ` AND d.msg_id = `, q.arg(msgID))
	q.page("e.id", page, false)
	rows, err := db.pool.Query(ctx, q.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list message destinations: %w", db.mapCallErr(ctx, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.MessageDestination, error) {
		var (
			md   store.MessageDestination
			st   int16
			next *int64
		)
		ep, err := db.scanEndpointWith(row, &st, &next)
		md.Endpoint, md.Status, md.NextAttemptAt = ep, herald.MessageStatus(st), finalZero(st, next)
		return md, err
	})
	if err != nil {
		return nil, fmt.Errorf("list message destinations: %w", db.mapCallErr(ctx, err))
	}
	return out, nil
}

// EndpointStats counts the endpoint's deliveries created in [since, until)
// by status. Zero bounds are open. ErrNotFound if the endpoint is not the
// app's.
func (db *DB) EndpointStats(ctx context.Context, appID, endpointID string, since, until time.Time) (store.Stats, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var q query
	q.add(`SELECT status, count(*) FROM deliveries WHERE app_id = `, q.arg(appID),
		` AND endpoint_id = `, q.arg(endpointID))
	q.timeRange("", since, until)
	q.add(` GROUP BY status`)
	var (
		s      store.Stats
		status int16
		n      int64
	)
	err := db.endpointExists(ctx, appID, endpointID)
	var rows pgx.Rows
	if err == nil {
		rows, err = db.pool.Query(ctx, q.String(), q.args...)
	}
	if err == nil {
		_, err = pgx.ForEachRow(rows, []any{&status, &n}, func() error {
			s.Add(herald.MessageStatus(status), n)
			return nil
		})
	}
	if err != nil {
		return store.Stats{}, fmt.Errorf("endpoint stats: %w", db.mapCallErr(ctx, err))
	}
	return s, nil
}

// finalZero returns a delivery's next attempt time, zero when it is final.
func finalZero(status int16, next *int64) time.Time {
	if herald.MessageStatus(status).Final() || next != nil && *next == store.ParkedMS {
		return time.Time{} // parked: due when its turn comes (fifo.go)
	}
	return fromNullMS(next)
}

func scanAttempt(row pgx.CollectableRow) (herald.Attempt, error) {
	var (
		a                     herald.Attempt
		status, trigger       int16
		body                  []byte
		respHeaders, reqHeads *string
		duration, createdAt   int64
		errorClass            string
	)
	err := row.Scan(&a.ID, &a.MsgID, &a.EndpointID, &a.AppID, &a.URL, &status, &a.StatusCode, &body,
		&respHeaders, &reqHeads, &duration, &errorClass, &trigger, &createdAt)
	if err != nil {
		return herald.Attempt{}, err
	}
	a.Status, a.Trigger = herald.MessageStatus(status), herald.Trigger(trigger)
	a.ResponseBody = string(body)
	a.Duration, a.ErrorClass, a.CreatedAt = time.Duration(duration), herald.ErrorClass(errorClass), fromMS(createdAt)
	if err := fromJSON(respHeaders, &a.ResponseHeaders); err != nil {
		return herald.Attempt{}, err
	}
	if err := fromJSON(reqHeads, &a.RequestHeaders); err != nil {
		return herald.Attempt{}, err
	}
	return a, nil
}
