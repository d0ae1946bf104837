package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// The dashboard's read models: views across every application, for
// operators. None runs on the delivery hot path; BRIN indexes on the
// creation times keep their range scans cheap without slowing inserts.
// Each runs one-shot (oneShot): a view refreshed a few times on a new
// installation would otherwise keep a generic plan that read its tables
// whole, made while they were empty (TestDashboardViews).

// CountMessages counts the messages created in [since, until).
func (db *DB) CountMessages(ctx context.Context, since, until time.Time) (int64, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE created_at >= $1 AND created_at < $2`,
		oneShot, ms(since), ms(until)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count messages: %w", db.mapCallErr(ctx, err))
	}
	return n, nil
}

// DeliveryStats counts the deliveries created in [since, until) by status,
// across every application.
func (db *DB) DeliveryStats(ctx context.Context, since, until time.Time) (store.Stats, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var (
		st        store.Stats
		status    int16
		n         int64
		rows, err = db.pool.Query(ctx, `SELECT status, count(*) FROM deliveries
			WHERE created_at >= $1 AND created_at < $2 GROUP BY status`, oneShot, ms(since), ms(until))
	)
	if err == nil {
		_, err = pgx.ForEachRow(rows, []any{&status, &n}, func() error {
			st.Add(herald.MessageStatus(status), n)
			return nil
		})
	}
	if err != nil {
		return store.Stats{}, fmt.Errorf("delivery stats: %w", db.mapCallErr(ctx, err))
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
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	n := int((until.Sub(since) + width - 1) / width)
	buckets := make([]store.Bucket, n)
	for i := range buckets {
		buckets[i].Start = since.Add(time.Duration(i) * width).UTC()
	}
	var (
		i, count  int64
		status    int16
		rows, err = db.pool.Query(ctx, `SELECT (created_at - $1) / $2, status, count(*) FROM attempts
			WHERE created_at >= $1 AND created_at < $3 GROUP BY 1, 2`, oneShot, ms(since), width.Milliseconds(), ms(until))
	)
	if err == nil {
		_, err = pgx.ForEachRow(rows, []any{&i, &status, &count}, func() error {
			if i < 0 || i >= int64(len(buckets)) {
				return nil
			}
			if herald.MessageStatus(status) == herald.StatusSuccess {
				buckets[i].Success += count
			} else {
				buckets[i].Fail += count
			}
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("attempt buckets: %w", db.mapCallErr(ctx, err))
	}
	return buckets, nil
}

// UnhealthyEndpoints lists up to limit endpoints that are disabled or
// failing, failing ones first and longest failing first, with their
// application's name.
func (db *DB) UnhealthyEndpoints(ctx context.Context, limit int) ([]store.EndpointHealth, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT e.id, e.app_id, e.url, e.description, e.disabled, e.failing_since,
			e.created_at, e.updated_at, a.name
		FROM endpoints e JOIN applications a ON a.id = e.app_id
		WHERE e.disabled OR e.failing_since IS NOT NULL
		ORDER BY e.disabled, coalesce(e.failing_since, e.updated_at), e.id LIMIT $1`, oneShot, limitOf(limit))
	var out []store.EndpointHealth
	if err == nil {
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.EndpointHealth, error) {
			var (
				h                store.EndpointHealth
				failing          *int64
				created, updated int64
			)
			err := row.Scan(&h.Endpoint.ID, &h.Endpoint.AppID, &h.Endpoint.URL, &h.Endpoint.Description,
				&h.Endpoint.Disabled, &failing, &created, &updated, &h.AppName)
			h.Endpoint.FailingSince, h.Endpoint.CreatedAt, h.Endpoint.UpdatedAt = fromNullMS(failing), fromMS(created), fromMS(updated)
			return h, err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("unhealthy endpoints: %w", db.mapCallErr(ctx, err))
	}
	return out, nil
}

// ListAllMessages lists messages across applications, newest first, with
// the count of their deliveries by status.
func (db *DB) ListAllMessages(ctx context.Context, f store.DashboardMessageFilter) ([]store.MessageRow, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var q query
	q.add(`SELECT m.id, m.app_id, m.event_id, m.event_type, m.payload, m.created_at,
			count(*) FILTER (WHERE d.status = 0), count(*) FILTER (WHERE d.status = 1),
			count(*) FILTER (WHERE d.status = 2), count(*) FILTER (WHERE d.status = 3),
			count(*) FILTER (WHERE d.status = 4)
		FROM (SELECT * FROM messages m WHERE true`)
	if f.AppID != "" {
		q.add(` AND m.app_id = `, q.arg(f.AppID))
	}
	if f.EventType != "" {
		q.add(` AND m.event_type = `, q.arg(f.EventType))
	}
	if f.Status != nil {
		q.add(` AND EXISTS (SELECT 1 FROM deliveries s WHERE s.msg_id = m.id AND s.status = `, q.arg(int16(*f.Status)), `)`)
	}
	q.timeRange("m.", f.Since, f.Until)
	if f.Iterator != "" {
		q.add(` AND m.id < `, q.arg(f.Iterator))
	}
	q.add(` ORDER BY m.id DESC LIMIT `, q.arg(limitOf(f.Limit)), `) AS m
		LEFT JOIN deliveries d ON d.msg_id = m.id
		GROUP BY m.id, m.app_id, m.event_id, m.event_type, m.payload, m.created_at
		ORDER BY m.id DESC`)
	rows, err := db.pool.Query(ctx, q.String(), append([]any{oneShot}, q.args...)...)
	var out []store.MessageRow
	if err == nil {
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.MessageRow, error) {
			var (
				r       store.MessageRow
				eventID *string
				payload []byte
				created int64
			)
			err := row.Scan(&r.Message.ID, &r.Message.AppID, &eventID, &r.Message.EventType, &payload, &created,
				&r.Stats.Success, &r.Stats.Pending, &r.Stats.Fail, &r.Stats.Sending, &r.Stats.Canceled)
			r.Message.EventID, r.Message.CreatedAt = fromNullText(eventID), fromMS(created)
			if payload != nil {
				r.Message.Payload = json.RawMessage(payload)
			}
			return r, err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("list all messages: %w", db.mapCallErr(ctx, err))
	}
	return out, nil
}

// ListFailed lists deliveries in the fail status across applications,
// newest message first, with their last attempt's status code and error.
func (db *DB) ListFailed(ctx context.Context, f store.FailedFilter) ([]store.FailedDelivery, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var q query
	q.add(`SELECT d.msg_id, d.endpoint_id, d.app_id, d.attempts, d.created_at, d.updated_at,
			m.event_type, a.name, e.url, coalesce(t.status_code, 0), coalesce(t.error_class, '')
		FROM deliveries d
		JOIN messages m ON m.id = d.msg_id
		JOIN applications a ON a.id = d.app_id
		JOIN endpoints e ON e.id = d.endpoint_id
		LEFT JOIN LATERAL (SELECT status_code, error_class FROM attempts t
			WHERE t.msg_id = d.msg_id AND t.endpoint_id = d.endpoint_id ORDER BY t.id DESC LIMIT 1) t ON true
		WHERE d.status = 2`)
	if f.AppID != "" {
		q.add(` AND d.app_id = `, q.arg(f.AppID))
	}
	if !f.Since.IsZero() {
		q.add(` AND d.created_at >= `, q.arg(ms(f.Since)))
	}
	if msgID, epID, ok := strings.Cut(f.Iterator, "/"); ok {
		q.add(` AND (d.msg_id, d.endpoint_id) < (`, q.arg(msgID), `, `, q.arg(epID), `)`)
	}
	q.add(` ORDER BY d.msg_id DESC, d.endpoint_id DESC LIMIT `, q.arg(limitOf(f.Limit)))
	rows, err := db.pool.Query(ctx, q.String(), append([]any{oneShot}, q.args...)...)
	var out []store.FailedDelivery
	if err == nil {
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.FailedDelivery, error) {
			var (
				r                store.FailedDelivery
				created, updated int64
			)
			err := row.Scan(&r.Delivery.MsgID, &r.Delivery.EndpointID, &r.Delivery.AppID, &r.Delivery.Attempts,
				&created, &updated, &r.EventType, &r.AppName, &r.EndpointURL, &r.LastStatusCode, &r.LastError)
			r.Delivery.Status = herald.StatusFail
			r.Delivery.CreatedAt, r.Delivery.UpdatedAt = fromMS(created), fromMS(updated)
			return r, err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("list failed deliveries: %w", db.mapCallErr(ctx, err))
	}
	return out, nil
}

// FailedEndpoints lists the endpoints, as application and endpoint IDs,
// that have failed deliveries created at or after since: the targets of a
// bulk recover.
func (db *DB) FailedEndpoints(ctx context.Context, since time.Time) ([]store.EndpointKey, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT DISTINCT app_id, endpoint_id FROM deliveries
		WHERE status = 2 AND created_at >= $1 ORDER BY 1, 2`, oneShot, ms(since))
	var out []store.EndpointKey
	if err == nil {
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.EndpointKey, error) {
			var k store.EndpointKey
			err := row.Scan(&k.AppID, &k.EndpointID)
			return k, err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("failed endpoints: %w", db.mapCallErr(ctx, err))
	}
	return out, nil
}

// limitOf applies the dashboard's default page size to an unset limit.
func limitOf(n int) int {
	if n <= 0 {
		return 50
	}
	return n
}
