package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// The dashboard's read models: views across every application, for
// operators. Each query reads one page or one aggregate; none runs on the
// delivery hot path. The SQL is written out here, and user input only
// travels as arguments.

// CountMessages counts the messages created in [since, until).
func (db *DB) CountMessages(ctx context.Context, since, until time.Time) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx,
		`SELECT count(*) FROM messages WHERE created_at >= $1 AND created_at < $2`,
		since.UnixMilli(), until.UnixMilli()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count messages: %w", mapErr(err))
	}
	return n, nil
}

// DeliveryStats counts the deliveries created in [since, until) by status,
// across every application.
func (db *DB) DeliveryStats(ctx context.Context, since, until time.Time) (store.Stats, error) {
	rows, err := db.pool.Query(ctx,
		`SELECT status, count(*) FROM deliveries WHERE created_at >= $1 AND created_at < $2 GROUP BY status`,
		since.UnixMilli(), until.UnixMilli())
	if err != nil {
		return store.Stats{}, fmt.Errorf("delivery stats: %w", mapErr(err))
	}
	defer rows.Close()
	var st store.Stats
	for rows.Next() {
		var status int16
		var n int64
		if err := rows.Scan(&status, &n); err != nil {
			return store.Stats{}, fmt.Errorf("delivery stats: %w", err)
		}
		addDashStat(&st, herald.MessageStatus(status), n)
	}
	if err := rows.Err(); err != nil {
		return store.Stats{}, fmt.Errorf("delivery stats: %w", mapErr(err))
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
	rows, err := db.pool.Query(ctx,
		`SELECT (created_at - $1) / $2, status, count(*) FROM attempts
		 WHERE created_at >= $1 AND created_at < $3 GROUP BY 1, 2`,
		since.UnixMilli(), width.Milliseconds(), until.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("attempt buckets: %w", mapErr(err))
	}
	defer rows.Close()
	buckets := emptyDashBuckets(since, until, width)
	for rows.Next() {
		var i int64
		var status int16
		var n int64
		if err := rows.Scan(&i, &status, &n); err != nil {
			return nil, fmt.Errorf("attempt buckets: %w", err)
		}
		addDashBucket(buckets, i, herald.MessageStatus(status), n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("attempt buckets: %w", mapErr(err))
	}
	return buckets, nil
}

// UnhealthyEndpoints lists up to limit endpoints that are disabled or
// failing, longest failing first, with their application's name.
func (db *DB) UnhealthyEndpoints(ctx context.Context, limit int) ([]store.EndpointHealth, error) {
	rows, err := db.pool.Query(ctx,
		`SELECT e.id, e.app_id, e.url, e.description, e.disabled, e.failing_since, e.created_at, e.updated_at, a.name
		 FROM endpoints e JOIN applications a ON a.id = e.app_id
		 WHERE e.disabled OR e.failing_since IS NOT NULL
		 ORDER BY e.disabled, coalesce(e.failing_since, e.updated_at), e.id LIMIT $1`, dashLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("unhealthy endpoints: %w", mapErr(err))
	}
	defer rows.Close()
	var out []store.EndpointHealth
	for rows.Next() {
		var h store.EndpointHealth
		var failing *int64
		var created, updated int64
		if err := rows.Scan(&h.Endpoint.ID, &h.Endpoint.AppID, &h.Endpoint.URL, &h.Endpoint.Description,
			&h.Endpoint.Disabled, &failing, &created, &updated, &h.AppName); err != nil {
			return nil, fmt.Errorf("unhealthy endpoints: %w", err)
		}
		if failing != nil {
			h.Endpoint.FailingSince = time.UnixMilli(*failing).UTC()
		}
		h.Endpoint.CreatedAt = time.UnixMilli(created).UTC()
		h.Endpoint.UpdatedAt = time.UnixMilli(updated).UTC()
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("unhealthy endpoints: %w", mapErr(err))
	}
	return out, nil
}

// dashArgs numbers the arguments of a query as it is built.
type dashArgs struct{ args []any }

func (a *dashArgs) add(v any) string {
	a.args = append(a.args, v)
	return "$" + strconv.Itoa(len(a.args))
}

// ListAllMessages lists messages across applications, newest first, with
// the count of their deliveries by status.
func (db *DB) ListAllMessages(ctx context.Context, f store.DashboardMessageFilter) ([]store.MessageRow, error) {
	var conds []string
	var a dashArgs
	if f.AppID != "" {
		conds = append(conds, "m.app_id = "+a.add(f.AppID))
	}
	if f.EventType != "" {
		conds = append(conds, "m.event_type = "+a.add(f.EventType))
	}
	if f.Status != nil {
		conds = append(conds, "EXISTS (SELECT 1 FROM deliveries s WHERE s.msg_id = m.id AND s.status = "+a.add(int16(*f.Status))+")")
	}
	if !f.Since.IsZero() {
		conds = append(conds, "m.created_at >= "+a.add(f.Since.UnixMilli()))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "m.created_at < "+a.add(f.Until.UnixMilli()))
	}
	if f.Iterator != "" {
		conds = append(conds, "m.id < "+a.add(f.Iterator))
	}
	q := `SELECT m.id, m.app_id, coalesce(m.event_id, ''), m.event_type, m.payload, m.created_at,
		count(d.msg_id) FILTER (WHERE d.status = 0),
		count(d.msg_id) FILTER (WHERE d.status = 1),
		count(d.msg_id) FILTER (WHERE d.status = 2),
		count(d.msg_id) FILTER (WHERE d.status = 3),
		count(d.msg_id) FILTER (WHERE d.status = 4)
		FROM messages m LEFT JOIN deliveries d ON d.msg_id = m.id`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " GROUP BY m.id ORDER BY m.id DESC LIMIT " + a.add(dashLimit(f.Limit))
	rows, err := db.pool.Query(ctx, q, a.args...)
	if err != nil {
		return nil, fmt.Errorf("list all messages: %w", mapErr(err))
	}
	defer rows.Close()
	var out []store.MessageRow
	for rows.Next() {
		var r store.MessageRow
		var payload []byte
		var created int64
		if err := rows.Scan(&r.Message.ID, &r.Message.AppID, &r.Message.EventID, &r.Message.EventType, &payload, &created,
			&r.Stats.Success, &r.Stats.Pending, &r.Stats.Fail, &r.Stats.Sending, &r.Stats.Canceled); err != nil {
			return nil, fmt.Errorf("list all messages: %w", err)
		}
		if payload != nil {
			r.Message.Payload = payload
		}
		r.Message.CreatedAt = time.UnixMilli(created).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list all messages: %w", mapErr(err))
	}
	return out, nil
}

// ListFailed lists deliveries in the fail status across applications,
// newest message first.
func (db *DB) ListFailed(ctx context.Context, f store.FailedFilter) ([]store.FailedDelivery, error) {
	conds := []string{"d.status = 2"}
	var a dashArgs
	if f.AppID != "" {
		conds = append(conds, "d.app_id = "+a.add(f.AppID))
	}
	if !f.Since.IsZero() {
		conds = append(conds, "d.created_at >= "+a.add(f.Since.UnixMilli()))
	}
	if msgID, epID, ok := strings.Cut(f.Iterator, "/"); ok {
		m := a.add(msgID)
		conds = append(conds, "(d.msg_id < "+m+" OR (d.msg_id = "+m+" AND d.endpoint_id < "+a.add(epID)+"))")
	}
	q := `SELECT d.msg_id, d.endpoint_id, d.app_id, d.attempts, d.created_at, d.updated_at,
		m.event_type, ap.name, e.url, coalesce(t.status_code, 0), coalesce(t.error_class, '')
		FROM deliveries d
		JOIN messages m ON m.id = d.msg_id
		JOIN applications ap ON ap.id = d.app_id
		JOIN endpoints e ON e.id = d.endpoint_id
		LEFT JOIN LATERAL (SELECT status_code, error_class FROM attempts
			WHERE msg_id = d.msg_id AND endpoint_id = d.endpoint_id ORDER BY id DESC LIMIT 1) t ON true
		WHERE ` + strings.Join(conds, " AND ") + `
		ORDER BY d.msg_id DESC, d.endpoint_id DESC LIMIT ` + a.add(dashLimit(f.Limit))
	rows, err := db.pool.Query(ctx, q, a.args...)
	if err != nil {
		return nil, fmt.Errorf("list failed deliveries: %w", mapErr(err))
	}
	defer rows.Close()
	var out []store.FailedDelivery
	for rows.Next() {
		var r store.FailedDelivery
		var attempts int32
		var code int32
		var created, updated int64
		if err := rows.Scan(&r.Delivery.MsgID, &r.Delivery.EndpointID, &r.Delivery.AppID, &attempts,
			&created, &updated, &r.EventType, &r.AppName, &r.EndpointURL, &code, &r.LastError); err != nil {
			return nil, fmt.Errorf("list failed deliveries: %w", err)
		}
		r.Delivery.Attempts = int(attempts)
		r.LastStatusCode = int(code)
		r.Delivery.Status = herald.StatusFail
		r.Delivery.CreatedAt = time.UnixMilli(created).UTC()
		r.Delivery.UpdatedAt = time.UnixMilli(updated).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list failed deliveries: %w", mapErr(err))
	}
	return out, nil
}

// FailedEndpoints lists the endpoints that have failed deliveries created
// at or after since: the targets of a bulk recover.
func (db *DB) FailedEndpoints(ctx context.Context, since time.Time) ([]store.EndpointKey, error) {
	rows, err := db.pool.Query(ctx,
		`SELECT DISTINCT app_id, endpoint_id FROM deliveries WHERE status = 2 AND created_at >= $1 ORDER BY 1, 2`,
		since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("failed endpoints: %w", mapErr(err))
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
		return nil, fmt.Errorf("failed endpoints: %w", mapErr(err))
	}
	return out, nil
}

// dashLimit applies the default page size.
func dashLimit(n int) int {
	if n <= 0 {
		return 50
	}
	return n
}

func addDashStat(st *store.Stats, s herald.MessageStatus, n int64) {
	switch s {
	case herald.StatusSuccess:
		st.Success += n
	case herald.StatusPending:
		st.Pending += n
	case herald.StatusFail:
		st.Fail += n
	case herald.StatusSending:
		st.Sending += n
	case herald.StatusCanceled:
		st.Canceled += n
	}
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
