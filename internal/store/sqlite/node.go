package sqlite

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

var _ store.Nodes = (*DB)(nil)

// HeartbeatNode records nodeID as alive and returns the live nodes.
func (db *DB) HeartbeatNode(ctx context.Context, nodeID string, now time.Time, ttl time.Duration) ([]string, error) {
	var live []string
	err := db.write(ctx, func(ctx context.Context, w *wtx) error {
		live = live[:0]
		if _, err := w.tx.ExecContext(ctx, `INSERT INTO nodes (id, seen_at) VALUES (?, ?)
			ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at`, nodeID, ms(now)); err != nil {
			return mapErr("heartbeat node", err)
		}
		if _, err := w.tx.ExecContext(ctx, `DELETE FROM nodes WHERE seen_at < ?`, ms(now.Add(-ttl))); err != nil {
			return mapErr("forget stale nodes", err)
		}
		rows, err := w.tx.QueryContext(ctx, `SELECT id FROM nodes ORDER BY id`)
		if err != nil {
			return mapErr("list nodes", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return mapErr("list nodes", err)
			}
			live = append(live, id)
		}
		return mapErr("list nodes", rows.Err())
	})
	return live, err
}

// ForgetNode removes nodeID.
func (db *DB) ForgetNode(ctx context.Context, nodeID string) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		_, err := w.tx.ExecContext(ctx, `DELETE FROM nodes WHERE id = ?`, nodeID)
		return mapErr("forget node", err)
	})
}
