package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// PollMessages returns the application's messages after f.After in
// sequence order. The single writer numbers messages inside its
// transaction, so sequence order is commit order.
func (db *DB) PollMessages(ctx context.Context, appID string, f store.PollFilter) ([]store.PolledMessage, error) {
	var w where
	w.add("app_id = ?", appID)
	w.add("seq > ?", f.After)
	w.in("event_type", f.EventTypes)
	if f.Channel != "" {
		w.add("EXISTS (SELECT 1 FROM json_each(channels) WHERE value = ?)", f.Channel)
	}
	if len(f.AnyChannel) > 0 {
		args := make([]any, len(f.AnyChannel))
		for i, c := range f.AnyChannel {
			args[i] = c
		}
		w.add("EXISTS (SELECT 1 FROM json_each(channels) WHERE value IN ("+placeholders(len(args))+"))", args...)
	}
	w.args = append(w.args, limitOf(f.Limit))
	rows, err := db.reader.QueryContext(ctx, `SELECT seq, `+messageColumns+` FROM messages`+w.String()+
		` ORDER BY seq LIMIT ?`, w.args...)
	if err != nil {
		return nil, mapErr("poll messages", err)
	}
	defer rows.Close()
	var out []store.PolledMessage
	for rows.Next() {
		var seq int64
		m, err := scanMessage(prefixScanner{rows, &seq})
		if err != nil {
			return nil, mapErr("poll messages", err)
		}
		out = append(out, store.PolledMessage{Seq: seq, Message: *m})
	}
	return out, mapErr("poll messages", rows.Err())
}

// prefixScanner scans a leading column into first, then the rest.
type prefixScanner struct {
	rows  *sql.Rows
	first any
}

func (p prefixScanner) Scan(dest ...any) error {
	return p.rows.Scan(append([]any{p.first}, dest...)...)
}

// PollPosition returns the position just before the application's first
// message created at or after at.
func (db *DB) PollPosition(ctx context.Context, appID string, at time.Time) (int64, error) {
	var seq sql.NullInt64
	err := db.reader.QueryRowContext(ctx, `SELECT MIN(seq) FROM messages
		WHERE app_id = ? AND created_at >= ? AND seq IS NOT NULL`, appID, ms(at)).Scan(&seq)
	if err != nil {
		return 0, mapErr("poll position", err)
	}
	if seq.Valid {
		return seq.Int64 - 1, nil
	}
	// Nothing yet: start after every message committed so far.
	err = db.reader.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM messages`).Scan(&seq)
	if err != nil {
		return 0, mapErr("poll position", err)
	}
	return seq.Int64, nil
}

// ConsumerPosition returns a consumer's stored position.
func (db *DB) ConsumerPosition(ctx context.Context, endpointID, consumerID string) (int64, error) {
	var pos int64
	err := db.reader.QueryRowContext(ctx, `SELECT position FROM poller_consumers
		WHERE endpoint_id = ? AND consumer_id = ?`, endpointID, consumerID).Scan(&pos)
	if err != nil {
		return 0, mapErr("consumer position", err)
	}
	return pos, nil
}

// SetConsumerPosition stores a consumer's position.
func (db *DB) SetConsumerPosition(ctx context.Context, appID, endpointID, consumerID string, position int64, now time.Time) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		_, err := w.tx.ExecContext(ctx, `INSERT INTO poller_consumers
			(endpoint_id, consumer_id, app_id, position, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (endpoint_id, consumer_id) DO UPDATE SET position = excluded.position,
				updated_at = excluded.updated_at`, endpointID, consumerID, appID, position, ms(now))
		return mapErr("set consumer position", err)
	})
}
