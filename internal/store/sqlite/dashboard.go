package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// The dashboard's read models: views across every application, for
// operators. Each query reads one page or one aggregate; none runs on the
// delivery hot path. The SQL is written out here, and user input only
// travels as arguments.

// The time-window queries also bound the primary key with herald.IDFloor:
// IDs sort by creation time, so the window is a range of the key instead of
// a scan of the whole table for created_at.

// CountMessages counts the messages created in [since, until).
func (db *DB) CountMessages(ctx context.Context, since, until time.Time) (int64, error) {
	var n int64
	err := db.reader.QueryRowContext(ctx,
		`SELECT count(*) FROM messages WHERE id >= ? AND created_at >= ? AND created_at < ?`,
		herald.IDFloor(herald.PrefixMessage, since), since.UnixMilli(), until.UnixMilli()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count messages: %w", err)
	}
	return n, nil
}

// DeliveryStats counts the deliveries created in [since, until) by status,
// across every application. Deliveries that a resend added to a message
// older than since are not counted.
func (db *DB) DeliveryStats(ctx context.Context, since, until time.Time) (store.Stats, error) {
	rows, err := db.reader.QueryContext(ctx,
		`SELECT status, count(*) FROM deliveries WHERE msg_id >= ? AND created_at >= ? AND created_at < ? GROUP BY status`,
		herald.IDFloor(herald.PrefixMessage, since), since.UnixMilli(), until.UnixMilli())
	if err != nil {
		return store.Stats{}, fmt.Errorf("delivery stats: %w", err)
	}
	defer rows.Close()
	var st store.Stats
	for rows.Next() {
		var status int
		var n int64
		if err := rows.Scan(&status, &n); err != nil {
			return store.Stats{}, fmt.Errorf("delivery stats: %w", err)
		}
		st.Add(herald.MessageStatus(status), n)
	}
	if err := rows.Err(); err != nil {
		return store.Stats{}, fmt.Errorf("delivery stats: %w", err)
	}
	return st, nil
}

// AttemptBuckets counts attempts made in [since, until) by outcome, in
// consecutive buckets of width starting at since. Every bucket is present,
// empty ones included.
func (db *DB) AttemptBuckets(ctx context.Context, since, until time.Time, width time.Duration) ([]store.Bucket, error) {
	if width <= 0 || !until.After(since) {
		return nil, fmt.Errorf("attempt buckets: empty range")
	}
	w := width.Milliseconds()
	rows, err := db.reader.QueryContext(ctx,
		`SELECT (created_at - ?) / ?, status, count(*) FROM attempts
		 WHERE id >= ? AND created_at >= ? AND created_at < ? GROUP BY 1, 2`,
		since.UnixMilli(), w, herald.IDFloor(herald.PrefixAttempt, since), since.UnixMilli(), until.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("attempt buckets: %w", err)
	}
	defer rows.Close()
	buckets := emptyDashBuckets(since, until, width)
	for rows.Next() {
		var i int64
		var status int
		var n int64
		if err := rows.Scan(&i, &status, &n); err != nil {
			return nil, fmt.Errorf("attempt buckets: %w", err)
		}
		addDashBucket(buckets, i, herald.MessageStatus(status), n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("attempt buckets: %w", err)
	}
	return buckets, nil
}

// UnhealthyEndpoints lists up to limit endpoints that are disabled or
// failing, longest failing first, with their application's name.
func (db *DB) UnhealthyEndpoints(ctx context.Context, limit int) ([]store.EndpointHealth, error) {
	rows, err := db.reader.QueryContext(ctx,
		`SELECT e.id, e.app_id, e.url, e.description, e.disabled, e.failing_since, e.created_at, e.updated_at, a.name
		 FROM endpoints e JOIN applications a ON a.id = e.app_id
		 WHERE e.disabled = 1 OR e.failing_since IS NOT NULL
		 ORDER BY e.disabled, coalesce(e.failing_since, e.updated_at), e.id LIMIT ?`, limitOf(limit))
	if err != nil {
		return nil, fmt.Errorf("unhealthy endpoints: %w", err)
	}
	defer rows.Close()
	var out []store.EndpointHealth
	for rows.Next() {
		var h store.EndpointHealth
		var disabled int
		var failing sql.NullInt64
		var created, updated int64
		if err := rows.Scan(&h.Endpoint.ID, &h.Endpoint.AppID, &h.Endpoint.URL, &h.Endpoint.Description,
			&disabled, &failing, &created, &updated, &h.AppName); err != nil {
			return nil, fmt.Errorf("unhealthy endpoints: %w", err)
		}
		h.Endpoint.Disabled = disabled != 0
		if failing.Valid {
			h.Endpoint.FailingSince = time.UnixMilli(failing.Int64).UTC()
		}
		h.Endpoint.CreatedAt = time.UnixMilli(created).UTC()
		h.Endpoint.UpdatedAt = time.UnixMilli(updated).UTC()
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("unhealthy endpoints: %w", err)
	}
	return out, nil
}

// ListAllMessages lists messages across applications, newest first, with
// the count of their deliveries by status.
func (db *DB) ListAllMessages(ctx context.Context, f store.DashboardMessageFilter) ([]store.MessageRow, error) {
	var conds []string
	var args []any
	add := func(c string, a ...any) { conds = append(conds, c); args = append(args, a...) }
	if f.AppID != "" {
		add("m.app_id = ?", f.AppID)
	}
	if f.EventType != "" {
		add("m.event_type = ?", f.EventType)
	}
	if f.Status != nil {
		add("EXISTS (SELECT 1 FROM deliveries s WHERE s.msg_id = m.id AND s.status = ?)", int(*f.Status))
	}
	if !f.Since.IsZero() {
		add("m.id >= ? AND m.created_at >= ?", herald.IDFloor(herald.PrefixMessage, f.Since), f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		add("m.created_at < ?", f.Until.UnixMilli())
	}
	if f.Iterator != "" {
		add("m.id < ?", f.Iterator)
	}
	q := `SELECT m.id, m.app_id, m.event_id, m.event_type, m.payload, m.created_at,
		(SELECT count(*) FROM deliveries d WHERE d.msg_id = m.id AND d.status = 0),
		(SELECT count(*) FROM deliveries d WHERE d.msg_id = m.id AND d.status = 1),
		(SELECT count(*) FROM deliveries d WHERE d.msg_id = m.id AND d.status = 2),
		(SELECT count(*) FROM deliveries d WHERE d.msg_id = m.id AND d.status = 3),
		(SELECT count(*) FROM deliveries d WHERE d.msg_id = m.id AND d.status = 4)
		FROM messages m`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY m.id DESC LIMIT ?"
	args = append(args, limitOf(f.Limit))
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list all messages: %w", err)
	}
	defer rows.Close()
	var out []store.MessageRow
	for rows.Next() {
		var r store.MessageRow
		var eventID sql.NullString
		var payload []byte
		var created int64
		if err := rows.Scan(&r.Message.ID, &r.Message.AppID, &eventID, &r.Message.EventType, &payload, &created,
			&r.Stats.Success, &r.Stats.Pending, &r.Stats.Fail, &r.Stats.Sending, &r.Stats.Canceled); err != nil {
			return nil, fmt.Errorf("list all messages: %w", err)
		}
		r.Message.EventID = eventID.String
		if payload != nil {
			r.Message.Payload = append([]byte(nil), payload...)
		}
		r.Message.CreatedAt = time.UnixMilli(created).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list all messages: %w", err)
	}
	return out, nil
}

// ListFailed lists deliveries in the fail status across applications,
// newest message first.
func (db *DB) ListFailed(ctx context.Context, f store.FailedFilter) ([]store.FailedDelivery, error) {
	conds := []string{"d.status = 2"}
	var args []any
	if f.AppID != "" {
		conds = append(conds, "d.app_id = ?")
		args = append(args, f.AppID)
	}
	if !f.Since.IsZero() {
		conds = append(conds, "d.msg_id >= ? AND d.created_at >= ?")
		args = append(args, herald.IDFloor(herald.PrefixMessage, f.Since), f.Since.UnixMilli())
	}
	if msgID, epID, ok := strings.Cut(f.Iterator, "/"); ok {
		conds = append(conds, "(d.msg_id < ? OR (d.msg_id = ? AND d.endpoint_id < ?))")
		args = append(args, msgID, msgID, epID)
	}
	q := `SELECT d.msg_id, d.endpoint_id, d.app_id, d.attempts, d.created_at, d.updated_at,
		m.event_type, a.name, e.url,
		coalesce((SELECT t.status_code FROM attempts t WHERE t.msg_id = d.msg_id AND t.endpoint_id = d.endpoint_id ORDER BY t.id DESC LIMIT 1), 0),
		coalesce((SELECT t.error_class FROM attempts t WHERE t.msg_id = d.msg_id AND t.endpoint_id = d.endpoint_id ORDER BY t.id DESC LIMIT 1), '')
		FROM deliveries d
		JOIN messages m ON m.id = d.msg_id
		JOIN applications a ON a.id = d.app_id
		JOIN endpoints e ON e.id = d.endpoint_id
		WHERE ` + strings.Join(conds, " AND ") + `
		ORDER BY d.msg_id DESC, d.endpoint_id DESC LIMIT ?`
	args = append(args, limitOf(f.Limit))
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list failed deliveries: %w", err)
	}
	defer rows.Close()
	var out []store.FailedDelivery
	for rows.Next() {
		var r store.FailedDelivery
		var created, updated int64
		if err := rows.Scan(&r.Delivery.MsgID, &r.Delivery.EndpointID, &r.Delivery.AppID, &r.Delivery.Attempts,
			&created, &updated, &r.EventType, &r.AppName, &r.EndpointURL, &r.LastStatusCode, &r.LastError); err != nil {
			return nil, fmt.Errorf("list failed deliveries: %w", err)
		}
		r.Delivery.Status = herald.StatusFail
		r.Delivery.CreatedAt = time.UnixMilli(created).UTC()
		r.Delivery.UpdatedAt = time.UnixMilli(updated).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list failed deliveries: %w", err)
	}
	return out, nil
}

// FailedEndpoints lists the endpoints, as application and endpoint IDs,
// that have failed deliveries created at or after since: the targets of a
// bulk recover.
func (db *DB) FailedEndpoints(ctx context.Context, since time.Time) ([]store.EndpointKey, error) {
	rows, err := db.reader.QueryContext(ctx,
		`SELECT DISTINCT app_id, endpoint_id FROM deliveries WHERE msg_id >= ? AND status = 2 AND created_at >= ? ORDER BY 1, 2`,
		herald.IDFloor(herald.PrefixMessage, since), since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("failed endpoints: %w", err)
	}
	defer rows.Close()
	var out []store.EndpointKey
	for rows.Next() {
		var k store.EndpointKey
		if err := rows.Scan(&k.AppID, &k.EndpointID); err != nil {
			return nil, fmt.Errorf("failed endpoints: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("failed endpoints: %w", err)
	}
	return out, nil
}

func emptyDashBuckets(since, until time.Time, width time.Duration) []store.Bucket {
	n := int((until.Sub(since) + width - 1) / width)
	out := make([]store.Bucket, n)
	for i := range out {
		out[i].Start = since.Add(time.Duration(i) * width).UTC()
	}
	return out
}

func addDashBucket(b []store.Bucket, i int64, s herald.MessageStatus, n int64) {
	if i < 0 || i >= int64(len(b)) {
		return
	}
	if s == herald.StatusSuccess {
		b[i].Success += n
	} else {
		b[i].Fail += n
	}
}
