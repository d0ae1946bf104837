package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// PollMessages returns the application's messages after f.After in
// sequence order, and the position the next poll continues from. The
// single writer numbers messages inside its transaction, so sequence order
// is commit order: the highest number a snapshot sees is above none that
// commits later, and pollQuery reads it in the page's own statement.
func (db *DB) PollMessages(ctx context.Context, appID string, f store.PollFilter) (store.PollPage, error) {
	query, args := pollQuery(appID, f)
	rows, err := db.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return store.PollPage{}, mapErr("poll messages", err)
	}
	defer rows.Close()
	var top sql.NullInt64
	if f.Filtered() {
		// The first row is the application's highest number, NULL
		// without messages; the page follows.
		if !rows.Next() {
			return store.PollPage{}, mapErr("poll messages", cmp.Or(rows.Err(), sql.ErrNoRows))
		}
		head := []any{new(int), &top}
		for range messageColumnCount {
			head = append(head, new(any))
		}
		if err := rows.Scan(head...); err != nil {
			return store.PollPage{}, mapErr("poll messages", err)
		}
	}
	var out []store.PolledMessage
	for rows.Next() {
		var seq int64
		m, err := scanMessage(prefixScanner{rows, []any{new(int), &seq}})
		if err != nil {
			return store.PollPage{}, mapErr("poll messages", err)
		}
		out = append(out, store.PolledMessage{Seq: seq, Message: *m})
	}
	if err := rows.Err(); err != nil {
		return store.PollPage{}, mapErr("poll messages", err)
	}
	return store.NewPollPage(out, f.After, limitOf(f.Limit), top.Int64), nil
}

// pollQuery returns PollMessages' statement: the page (k = 1), after a
// filtered poll's first row (k = 0) with the application's highest
// sequence number. One statement reads both in one snapshot; the highest
// number read after the page, in a statement of its own, could belong to a
// matching message committed in between that the page did not return, and
// a position past it would skip that message for good. Both parts read
// messages_app_seq.
func pollQuery(appID string, f store.PollFilter) (string, []any) {
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
	page := `SELECT 1 AS k, seq, ` + messageColumns + ` FROM messages` + w.String() + ` ORDER BY seq LIMIT ?`
	if !f.Filtered() {
		return page, w.args
	}
	return `SELECT 0 AS k, (SELECT seq FROM messages WHERE app_id = ? AND seq IS NOT NULL
			ORDER BY seq DESC LIMIT 1) AS seq` + strings.Repeat(", NULL", messageColumnCount) + `
		UNION ALL
		SELECT * FROM (` + page + `)
		ORDER BY k, seq`, append([]any{appID}, w.args...)
}

// messageColumnCount is the number of columns in messageColumns.
var messageColumnCount = strings.Count(messageColumns, ",") + 1

// prefixScanner scans leading columns into prefix, then the rest.
type prefixScanner struct {
	rows   *sql.Rows
	prefix []any
}

func (p prefixScanner) Scan(dest ...any) error {
	return p.rows.Scan(append(p.prefix[:len(p.prefix):len(p.prefix)], dest...)...)
}

// PollPosition returns the position just before the application's first
// message created at or after at, or, if there is none yet, after every
// message committed so far. One statement, so one snapshot: read apart, a
// message committed between the two reads would be behind the position
// and never polled.
func (db *DB) PollPosition(ctx context.Context, appID string, at time.Time) (int64, error) {
	var seq int64
	err := db.reader.QueryRowContext(ctx, `SELECT COALESCE(
		(SELECT MIN(seq) - 1 FROM messages WHERE app_id = ?1 AND created_at >= ?2 AND seq IS NOT NULL),
		(SELECT MAX(seq) FROM messages), 0)`, appID, ms(at)).Scan(&seq)
	if err != nil {
		return 0, mapErr("poll position", err)
	}
	return seq, nil
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
