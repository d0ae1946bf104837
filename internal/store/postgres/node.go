package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/store"
)

var _ store.Nodes = (*DB)(nil)

// HeartbeatNode records nodeID as alive and returns the live nodes.
func (db *DB) HeartbeatNode(ctx context.Context, nodeID string, now time.Time, ttl time.Duration) ([]string, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `WITH beat AS (
			INSERT INTO nodes (id, seen_at) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at
		), gone AS (
			DELETE FROM nodes WHERE seen_at < $3 AND id <> $1
		)
		SELECT id FROM nodes WHERE seen_at >= $3 AND id <> $1
		UNION SELECT $1 ORDER BY 1`, nodeID, ms(now), ms(now.Add(-ttl)))
	if err != nil {
		return nil, fmt.Errorf("heartbeat node: %w", db.mapCallErr(ctx, err))
	}
	live, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("heartbeat node: %w", db.mapCallErr(ctx, err))
	}
	return live, nil
}

// ForgetNode removes nodeID.
func (db *DB) ForgetNode(ctx context.Context, nodeID string) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	if _, err := db.pool.Exec(ctx, `DELETE FROM nodes WHERE id = $1`, nodeID); err != nil {
		return fmt.Errorf("forget node: %w", db.mapCallErr(ctx, err))
	}
	return nil
}

var _ store.Clock = (*DB)(nil)

// Now returns the database server's time.
func (db *DB) Now(ctx context.Context) (time.Time, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var us int64
	err := db.pool.QueryRow(ctx, `SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint`).Scan(&us)
	if err != nil {
		return time.Time{}, fmt.Errorf("database time: %w", db.mapCallErr(ctx, err))
	}
	return time.UnixMicro(us), nil
}
