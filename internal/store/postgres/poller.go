package postgres

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/store"
)

// PollMessages returns the application's messages after f.After in
// sequence order, and the position the next poll continues from. Messages
// are numbered in commit order (see lockSeq), so a row this snapshot
// cannot see yet will get a higher number than any it can: the highest
// number the snapshot sees is a safe position, and pollQuery reads it in
// the page's own statement, so in the same snapshot.
func (db *DB) PollMessages(ctx context.Context, appID string, f store.PollFilter) (store.PollPage, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	q := pollQuery(appID, f)
	rows, err := db.pool.Query(ctx, q.String(), q.args...)
	if err != nil {
		return store.PollPage{}, fmt.Errorf("poll messages: %w", db.mapCallErr(ctx, err))
	}
	defer rows.Close()
	var top *int64
	if f.Filtered() {
		// The first row is the application's highest number, NULL
		// without messages; the page follows.
		if !rows.Next() {
			return store.PollPage{}, fmt.Errorf("poll messages: %w", db.mapCallErr(ctx, cmp.Or(rows.Err(), pgx.ErrNoRows)))
		}
		head := make([]any, messageColumnCount+2) // nil skips a column
		head[messageColumnCount] = &top
		if err := rows.Scan(head...); err != nil {
			return store.PollPage{}, fmt.Errorf("poll messages: %w", db.mapCallErr(ctx, err))
		}
	}
	var out []store.PolledMessage
	for rows.Next() {
		var pm store.PolledMessage
		if err := scanMessageInto(rows, &pm.Message, &pm.Seq, nil); err != nil {
			return store.PollPage{}, fmt.Errorf("poll messages: %w", db.mapCallErr(ctx, err))
		}
		out = append(out, pm)
	}
	if err := rows.Err(); err != nil {
		return store.PollPage{}, fmt.Errorf("poll messages: %w", db.mapCallErr(ctx, err))
	}
	var highest int64
	if top != nil {
		highest = *top
	}
	return store.NewPollPage(out, f.After, limitOf(f.Limit), highest), nil
}

// pollQuery returns PollMessages' statement: the page (k = 1), after a
// filtered poll's first row (k = 0) with the application's highest
// sequence number. One statement is one snapshot under READ COMMITTED;
// the highest number read after the page, in a statement of its own,
// could belong to a matching message committed in between that the page
// did not return, and a position past it would skip that message for
// good. Both parts read the partial index messages_app_seq (seq IS NOT
// NULL: direct messages have no number); the highest number is one
// backward step in it, which a max() aggregate is not sure to be in a
// generic plan made while the table was empty.
func pollQuery(appID string, f store.PollFilter) *query {
	q := &query{}
	app := q.arg(appID)
	filtered := f.Filtered()
	if filtered {
		q.add(`SELECT `, strings.Repeat("NULL, ", messageColumnCount), `(SELECT seq FROM messages
				WHERE app_id = `, app, ` AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1) AS seq, 0 AS k
			UNION ALL (`)
	}
	q.add(`SELECT `, messageColumnList, `, seq, 1 AS k FROM messages m WHERE app_id = `, app,
		` AND seq > `, q.arg(f.After))
	q.messageBounds("m.", f.Channel, f.EventTypes, time.Time{}, time.Time{})
	if len(f.AnyChannel) > 0 {
		q.add(" AND m.channels ?| ", q.arg(f.AnyChannel), "::text[]")
	}
	q.add(` ORDER BY seq LIMIT `, q.arg(limitOf(f.Limit)))
	if filtered {
		q.add(`) ORDER BY k, seq`)
	}
	return q
}

// messageColumnCount is the number of columns in messageColumnList.
var messageColumnCount = strings.Count(messageColumnList, ",") + 1

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
