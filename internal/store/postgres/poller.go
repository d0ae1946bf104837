package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/store"
)

// PollMessages returns the application's messages after f.After in
// sequence order. Messages are numbered in commit order (see lockSeq), so
// a row this snapshot cannot see yet will get a higher number than any it
// can.
func (db *DB) PollMessages(ctx context.Context, appID string, f store.PollFilter) ([]store.PolledMessage, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var q query
	q.add(`SELECT `, messageColumnList, `, seq FROM messages m WHERE app_id = `, q.arg(appID),
		` AND seq > `, q.arg(f.After))
	q.messageBounds("m.", f.Channel, f.EventTypes, time.Time{}, time.Time{})
	if len(f.AnyChannel) > 0 {
		q.add(" AND m.channels ?| ", q.arg(f.AnyChannel), "::text[]")
	}
	q.add(` ORDER BY seq LIMIT `, q.arg(limitOf(f.Limit)))
	rows, err := db.pool.Query(ctx, q.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("poll messages: %w", db.mapCallErr(ctx, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.PolledMessage, error) {
		var pm store.PolledMessage
		err := scanMessageInto(row, &pm.Message, &pm.Seq)
		return pm, err
	})
	if err != nil {
		return nil, fmt.Errorf("poll messages: %w", db.mapCallErr(ctx, err))
	}
	return out, nil
}

// PollPosition returns the position just before the application's first
// message created at or after at, or after every committed message when
// there is none.
func (db *DB) PollPosition(ctx context.Context, appID string, at time.Time) (int64, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var pos int64
	err := db.pool.QueryRow(ctx, `SELECT COALESCE(
		(SELECT MIN(seq) - 1 FROM messages WHERE app_id = $1 AND created_at >= $2 AND seq IS NOT NULL),
		(SELECT MAX(seq) FROM messages WHERE app_id = $1),
		0)`, appID, ms(at)).Scan(&pos)
	if err != nil {
		return 0, fmt.Errorf("poll position: %w", db.mapCallErr(ctx, err))
	}
	return pos, nil
}

// ConsumerPosition returns a consumer's stored position.
func (db *DB) ConsumerPosition(ctx context.Context, endpointID, consumerID string) (int64, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var pos int64
	err := db.pool.QueryRow(ctx, `SELECT position FROM poller_consumers
		WHERE endpoint_id = $1 AND consumer_id = $2`, endpointID, consumerID).Scan(&pos)
	if err != nil {
		return 0, fmt.Errorf("consumer position: %w", db.mapCallErr(ctx, err))
	}
	return pos, nil
}

// SetConsumerPosition stores a consumer's position.
func (db *DB) SetConsumerPosition(ctx context.Context, appID, endpointID, consumerID string, position int64, now time.Time) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `INSERT INTO poller_consumers
		(endpoint_id, consumer_id, app_id, position, updated_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (endpoint_id, consumer_id) DO UPDATE SET position = excluded.position,
			updated_at = excluded.updated_at`, endpointID, consumerID, appID, position, ms(now))
	if err != nil {
		return fmt.Errorf("set consumer position: %w", db.mapCallErr(ctx, err))
	}
	return nil
}
