package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

const messageColumnList = `id, app_id, event_id, event_type, channels, payload, created_at, expires_at, content_type, headers`

// GetMessage finds a message by ID, or the newest with that EventID.
func (db *DB) GetMessage(ctx context.Context, appID, idOrEventID string) (*herald.Message, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+messageColumnList+` FROM messages
		WHERE app_id = $1 AND (id = $2 OR event_id = $2)
		ORDER BY (id = $2) DESC, id DESC LIMIT 1`, appID, idOrEventID)
	if err != nil {
		return nil, fmt.Errorf("get message: %w", db.mapCallErr(ctx, err))
	}
	msg, err := pgx.CollectExactlyOneRow(rows, scanMessage)
	if err != nil {
		return nil, fmt.Errorf("get message %s: %w", idOrEventID, db.mapCallErr(ctx, err))
	}
	return &msg, nil
}

// ListMessages lists the app's messages, newest first.
func (db *DB) ListMessages(ctx context.Context, appID string, f store.MessageFilter) ([]herald.Message, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var q query
	q.add(`SELECT `, messageColumnList, ` FROM messages m WHERE app_id = `, q.arg(appID))
	q.messageFilter("m.", f)
	q.page("m.id", f.Page, true)
	rows, err := db.pool.Query(ctx, q.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", db.mapCallErr(ctx, err))
	}
	msgs, err := pgx.CollectRows(rows, scanMessage)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", db.mapCallErr(ctx, err))
	}
	return msgs, nil
}

// messageFilter appends the channel, event type and time bounds of f on
// the messages aliased by prefix ("m.").
func (q *query) messageFilter(prefix string, f store.MessageFilter) {
	q.messageBounds(prefix, f.Channel, f.EventTypes, f.Before, f.After)
}

// ExpungeMessageContent removes the message's payload; the message stays.
func (db *DB) ExpungeMessageContent(ctx context.Context, appID, msgID string) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `UPDATE messages SET payload = NULL WHERE app_id = $1 AND id = $2`, appID, msgID)
	if err != nil {
		return fmt.Errorf("expunge message: %w", db.mapCallErr(ctx, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("expunge message %s: %w", msgID, herald.ErrNotFound)
	}
	return nil
}

func scanMessage(row pgx.CollectableRow) (herald.Message, error) {
	var msg herald.Message
	err := scanMessageInto(row, &msg)
	return msg, err
}

// scanMessageWithState scans a message followed by a delivery's status and
// next attempt time, which it returns (zero when the delivery is final).
func scanMessageWithState(row pgx.CollectableRow, msg *herald.Message, status *int16) (time.Time, error) {
	var next *int64
	if err := scanMessageInto(row, msg, status, &next); err != nil {
		return time.Time{}, err
	}
	return finalZero(*status, next), nil
}

// scanMessageInto scans messageColumnList, then extra.
func scanMessageInto(row pgx.CollectableRow, msg *herald.Message, extra ...any) error {
	var (
		eventID, channels *string
		ctype, headers    *string
		payload           []byte
		createdAt         int64
		expiresAt         *int64
	)
	dest := append([]any{&msg.ID, &msg.AppID, &eventID, &msg.EventType, &channels, &payload, &createdAt, &expiresAt, &ctype, &headers}, extra...)
	if err := row.Scan(dest...); err != nil {
		return err
	}
	msg.EventID = fromNullText(eventID)
	if err := fromJSON(channels, &msg.Channels); err != nil {
		return err
	}
	if payload != nil {
		msg.Payload = json.RawMessage(payload)
	}
	msg.ContentType = fromNullText(ctype)
	if err := fromJSON(headers, &msg.Headers); err != nil {
		return err
	}
	msg.CreatedAt, msg.ExpiresAt = fromMS(createdAt), fromNullMS(expiresAt)
	return nil
}
