package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

const attemptColumns = `id, msg_id, endpoint_id, app_id, url, status, status_code, response_body,
	response_headers, request_headers, duration_us, error_class, trigger, created_at`

// GetAttempt finds one attempt of a message.
func (db *DB) GetAttempt(ctx context.Context, appID, msgID, attemptID string) (*herald.Attempt, error) {
	row := db.reader.QueryRowContext(ctx, `SELECT `+attemptColumns+` FROM attempts
		WHERE id = ? AND msg_id = ? AND app_id = ?`, attemptID, msgID, appID)
	a, err := scanAttempt(row)
	if err != nil {
		return nil, mapErr("get attempt", err)
	}
	return a, nil
}

// ListAttempts lists attempts of a message, an endpoint or both, newest
// first.
func (db *DB) ListAttempts(ctx context.Context, appID string, f store.AttemptFilter) ([]herald.Attempt, error) {
	var w where
	from := " FROM attempts a"
	w.add("a.app_id = ?", appID)
	if f.MsgID != "" {
		w.add("a.msg_id = ?", f.MsgID)
	}
	if f.EndpointID != "" {
		w.add("a.endpoint_id = ?", f.EndpointID)
	}
	if f.Status != nil {
		w.add("a.status = ?", int(*f.Status))
	}
	switch c := f.StatusCodeClass; {
	case c == -1:
		w.add("a.status_code = 0")
	case c > 0:
		w.add("a.status_code >= ? AND a.status_code < ?", c, c+100)
	}
	if f.Channel != "" || len(f.EventTypes) > 0 {
		from += " JOIN messages m ON m.id = a.msg_id"
		messageConds(&w, "m.", store.MessageFilter{Channel: f.Channel, EventTypes: f.EventTypes})
	}
	timeBounds(&w, "a.created_at", f.Before, f.After)
	order := w.page("a.id", f.Page, true)
	rows, err := db.reader.QueryContext(ctx, `SELECT `+prefixed("a.", attemptColumns)+from+w.String()+order, w.args...)
	if err != nil {
		return nil, mapErr("list attempts", err)
	}
	defer rows.Close()
	var out []herald.Attempt
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, mapErr("list attempts", err)
		}
		out = append(out, *a)
	}
	return out, mapErr("list attempts", rows.Err())
}

// ExpungeAttemptContent removes the attempt's response body.
func (db *DB) ExpungeAttemptContent(ctx context.Context, appID, msgID, attemptID string) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		res, err := w.tx.ExecContext(ctx, `UPDATE attempts SET response_body = NULL
			WHERE id = ? AND msg_id = ? AND app_id = ?`, attemptID, msgID, appID)
		return affectedOne("expunge attempt", res, err)
	})
}

// ListEndpointMessages lists messages sent to an endpoint with the state of
// their delivery, newest first. A Status of fail also matches canceled
// deliveries, which the Svix API shows as failed.
func (db *DB) ListEndpointMessages(ctx context.Context, appID, endpointID string, f store.MessageFilter) ([]store.EndpointMessage, error) {
	if err := exists(ctx, db.reader, "list endpoint messages", `SELECT 1 FROM endpoints WHERE id = ? AND app_id = ?`, endpointID, appID); err != nil {
		return nil, err
	}
	var w where
	w.add("d.endpoint_id = ?", endpointID)
	w.add("d.app_id = ?", appID)
	statusCond(&w, "d.status", f.Status)
	messageConds(&w, "m.", f)
	order := w.page("d.msg_id", f.Page, true)
	rows, err := db.reader.QueryContext(ctx, `SELECT `+prefixed("m.", messageColumns)+`, d.status, d.next_attempt_at
		FROM deliveries d JOIN messages m ON m.id = d.msg_id`+w.String()+order, w.args...)
	if err != nil {
		return nil, mapErr("list endpoint messages", err)
	}
	defer rows.Close()
	var out []store.EndpointMessage
	for rows.Next() {
		var em store.EndpointMessage
		var ds deliveryState
		m, err := scanMessage(joined{rows, []any{&ds.status, &ds.next}})
		if err != nil {
			return nil, mapErr("list endpoint messages", err)
		}
		em.Message = *m
		em.Status, em.NextAttemptAt = ds.get()
		out = append(out, em)
	}
	return out, mapErr("list endpoint messages", rows.Err())
}

// ListMessageDestinations lists the endpoints a message went to, by
// endpoint ID, with the state of each delivery.
func (db *DB) ListMessageDestinations(ctx context.Context, appID, msgID string, page store.Page) ([]store.MessageDestination, error) {
	if err := exists(ctx, db.reader, "list message destinations", `SELECT 1 FROM messages WHERE id = ? AND app_id = ?`, msgID, appID); err != nil {
		return nil, err
	}
	var w where
	w.add("d.msg_id = ?", msgID)
	order := w.page("d.endpoint_id", page, false)
	rows, err := db.reader.QueryContext(ctx, `SELECT `+prefixed("e.", endpointColumns)+`, d.status, d.next_attempt_at
		FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id`+w.String()+order, w.args...)
	if err != nil {
		return nil, mapErr("list message destinations", err)
	}
	defer rows.Close()
	var out []store.MessageDestination
	for rows.Next() {
		var md store.MessageDestination
		var ds deliveryState
		ep, err := db.scanEndpoint(joined{rows, []any{&ds.status, &ds.next}})
		if err != nil {
			return nil, mapErr("list message destinations", err)
		}
		md.Endpoint = *ep
		md.Status, md.NextAttemptAt = ds.get()
		out = append(out, md)
	}
	return out, mapErr("list message destinations", rows.Err())
}

// EndpointStats counts the endpoint's deliveries created in [since, until)
// by status.
func (db *DB) EndpointStats(ctx context.Context, appID, endpointID string, since, until time.Time) (store.Stats, error) {
	var st store.Stats
	if err := exists(ctx, db.reader, "endpoint stats", `SELECT 1 FROM endpoints WHERE id = ? AND app_id = ?`, endpointID, appID); err != nil {
		return st, err
	}
	var w where
	w.add("endpoint_id = ?", endpointID)
	w.add("app_id = ?", appID)
	timeRange(&w, "created_at", since, until)
	rows, err := db.reader.QueryContext(ctx, `SELECT status, count(*) FROM deliveries`+w.String()+` GROUP BY status`, w.args...)
	if err != nil {
		return st, mapErr("endpoint stats", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status int
		var n int64
		if err := rows.Scan(&status, &n); err != nil {
			return st, mapErr("endpoint stats", err)
		}
		st.Add(herald.MessageStatus(status), n)
	}
	return st, mapErr("endpoint stats", rows.Err())
}

// statusCond filters on a delivery status; fail also matches canceled.
func statusCond(w *where, col string, s *herald.MessageStatus) {
	switch {
	case s == nil:
	case *s == herald.StatusFail:
		w.add(col + " IN (2, 4)")
	default:
		w.add(col+" = ?", int(*s))
	}
}

// timeBounds adds col < before and col > after for the bounds that are set.
func timeBounds(w *where, col string, before, after time.Time) {
	if !before.IsZero() {
		w.add(col+" < ?", ms(before))
	}
	if !after.IsZero() {
		w.add(col+" > ?", ms(after))
	}
}

// deliveryState is a delivery's status and next attempt read beside a
// joined row.
type deliveryState struct {
	status int
	next   sql.NullInt64
}

func (d deliveryState) get() (herald.MessageStatus, time.Time) {
	s := herald.MessageStatus(d.status)
	if s.Final() || d.next.Int64 == store.ParkedMS {
		return s, time.Time{} // parked: due when its turn comes (fifo.go)
	}
	return s, fromNullMS(d.next)
}

// joined scans a row whose leading columns belong to a scan function and
// whose trailing columns go to extra.
type joined struct {
	s     scanner
	extra []any
}

func (j joined) Scan(dest ...any) error { return j.s.Scan(append(dest, j.extra...)...) }

// prefixed qualifies each column of a column list with prefix.
func prefixed(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

func scanAttempt(s scanner) (*herald.Attempt, error) {
	var (
		a                  herald.Attempt
		status, trigger    int
		body, rhdrs, qhdrs sql.NullString
		durUS, created     int64
		errClass           string
	)
	err := s.Scan(&a.ID, &a.MsgID, &a.EndpointID, &a.AppID, &a.URL, &status, &a.StatusCode, &body, &rhdrs, &qhdrs,
		&durUS, &errClass, &trigger, &created)
	if err != nil {
		return nil, err
	}
	a.Status, a.Trigger, a.ErrorClass = herald.MessageStatus(status), herald.Trigger(trigger), herald.ErrorClass(errClass)
	a.ResponseBody, a.Duration, a.CreatedAt = body.String, time.Duration(durUS)*time.Microsecond, fromMS(created)
	if a.ResponseHeaders, err = parseMap(rhdrs); err != nil {
		return nil, err
	}
	if a.RequestHeaders, err = parseMap(qhdrs); err != nil {
		return nil, err
	}
	return &a, nil
}
