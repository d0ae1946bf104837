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

// eventIDWindow is how long an eventId stays reserved in an application.
const eventIDWindow = 24 * time.Hour

const (
	sqlEventIDTaken = `SELECT 1 FROM messages
		WHERE app_id = ? AND event_id = ? AND created_at > ? LIMIT 1`
	// seq follows message_seq, the highest number ever given, which a
	// trigger raises (migration 0009). MAX(seq) would fall when retention
	// deletes the newest messages, and reuse numbers pollers have passed.
	// A direct message (?11) gets none: pollers never see it.
	sqlInsertMessage = `INSERT INTO messages
		(id, app_id, event_id, event_type, channels, payload, created_at, expires_at, content_type, headers, seq)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN ? THEN NULL ELSE (SELECT n + 1 FROM message_seq) END)`
	sqlInsertDeliveryPrefix = `INSERT INTO deliveries
		(msg_id, endpoint_id, app_id, status, attempts, next_attempt_at, trigger, lease_owner, created_at, updated_at)
		VALUES `
	deliveryValues    = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlInsertDelivery = sqlInsertDeliveryPrefix + deliveryValues
)

// deliveryChunk is how many deliveries one multi-row insert carries when a
// message fans out to several endpoints.
const deliveryChunk = 8

// sqlInsertDeliveries inserts deliveryChunk deliveries at once.
var sqlInsertDeliveries = sqlInsertDeliveryPrefix + strings.TrimSuffix(strings.Repeat(deliveryValues+", ", deliveryChunk), ", ")

const messageColumns = `id, app_id, event_id, event_type, channels, payload, created_at, expires_at, content_type, headers`

// Publish durably stores msg and its deliveries in one group-committed
// transaction. With leaseOwner set, the deliveries are stored leased to it
// until leaseUntil. New deliveries are always pending, whatever their
// Status says; unset CreatedAt and NextAttemptAt default to msg.CreatedAt.
func (db *DB) Publish(ctx context.Context, msg *herald.Message, deliveries []herald.Delivery, leaseOwner string, leaseUntil time.Time) error {
	return db.writeSpread(ctx, func(ctx context.Context, w *wtx) error {
		return db.publish(ctx, w, msg, deliveries, leaseOwner, leaseUntil)
	}, len(deliveries))
}

func (db *DB) publish(ctx context.Context, w *wtx, msg *herald.Message, deliveries []herald.Delivery, leaseOwner string, leaseUntil time.Time) error {
	created := ms(msg.CreatedAt)
	if msg.EventID != "" {
		var one int
		err := w.stmt(ctx, db.st.eventIDTaken).QueryRowContext(ctx, msg.AppID, msg.EventID,
			created-eventIDWindow.Milliseconds()).Scan(&one)
		if err == nil {
			return fmt.Errorf("publish: event id %q: %w", msg.EventID, herald.ErrConflict)
		}
		if !errNoRows(err) {
			return mapErr("publish: check event id", err)
		}
	}
	_, err := w.exec(ctx, db.st.insertMessage, msg.ID, msg.AppID, nullString(msg.EventID), msg.EventType,
		jsonList(msg.Channels), []byte(msg.Payload), created, nullMS(msg.ExpiresAt),
		nullString(msg.ContentType), jsonMap(msg.Headers), msg.Direct)
	if err != nil {
		return mapErr("publish: insert message", err)
	}
	owner := nullString(leaseOwner)
	args := make([]any, 0, 10*min(len(deliveries), deliveryChunk))
	full := len(deliveries) / deliveryChunk * deliveryChunk
	for i := range deliveries {
		d := &deliveries[i]
		next := d.NextAttemptAt
		if leaseOwner != "" {
			next = leaseUntil
		} else if next.IsZero() {
			next = msg.CreatedAt
		}
		dc, du := created, created
		if !d.CreatedAt.IsZero() {
			dc = ms(d.CreatedAt)
		}
		if !d.UpdatedAt.IsZero() {
			du = ms(d.UpdatedAt)
		}
		args = append(args, msg.ID, d.EndpointID, msg.AppID, int(herald.StatusPending), d.Attempts,
			ms(next), int(d.Trigger), owner, dc, du)
		// Full chunks go in one statement each, the rest one row at a time.
		switch {
		case i >= full:
			_, err = w.exec(ctx, db.st.insertDelivery, args...)
		case len(args) == 10*deliveryChunk:
			_, err = w.exec(ctx, db.st.insertDeliveries, args...)
		default:
			continue
		}
		if err != nil {
			return mapErr("publish: insert delivery", err)
		}
		args = args[:0]
	}
	return nil
}

// GetMessage finds a message by ID or, failing that, the newest one with
// that EventID. Two indexed lookups, rather than one OR, keep both O(log n).
func (db *DB) GetMessage(ctx context.Context, appID, idOrEventID string) (*herald.Message, error) {
	m, err := scanMessage(db.reader.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE id = ? AND app_id = ?`, idOrEventID, appID))
	if errNoRows(err) {
		m, err = scanMessage(db.reader.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM messages
			WHERE app_id = ? AND event_id = ? ORDER BY created_at DESC, id DESC LIMIT 1`, appID, idOrEventID))
	}
	if err != nil {
		return nil, mapErr("get message", err)
	}
	return m, nil
}

// ListMessages lists the application's messages, newest first.
func (db *DB) ListMessages(ctx context.Context, appID string, f store.MessageFilter) ([]herald.Message, error) {
	var w where
	w.add("app_id = ?", appID)
	messageConds(&w, "", f)
	order := w.page("id", f.Page, true)
	rows, err := db.reader.QueryContext(ctx, `SELECT `+messageColumns+` FROM messages`+w.String()+order, w.args...)
	if err != nil {
		return nil, mapErr("list messages", err)
	}
	defer rows.Close()
	var out []herald.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, mapErr("list messages", err)
		}
		out = append(out, *m)
	}
	return out, mapErr("list messages", rows.Err())
}

// messageConds adds f's channel, event type and time conditions on the
// messages table (aliased by prefix, e.g. "m.").
func messageConds(w *where, prefix string, f store.MessageFilter) {
	if f.Channel != "" {
		w.add("EXISTS (SELECT 1 FROM json_each("+prefix+"channels) WHERE value = ?)", f.Channel)
	}
	w.in(prefix+"event_type", f.EventTypes)
	if !f.Before.IsZero() {
		w.add(prefix+"created_at < ?", ms(f.Before))
	}
	if !f.After.IsZero() {
		w.add(prefix+"created_at > ?", ms(f.After))
	}
}

// ExpungeMessageContent removes the payload but keeps the message.
func (db *DB) ExpungeMessageContent(ctx context.Context, appID, msgID string) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		res, err := w.tx.ExecContext(ctx, `UPDATE messages SET payload = NULL WHERE id = ? AND app_id = ?`, msgID, appID)
		return affectedOne("expunge message", res, err)
	})
}

func scanMessage(s scanner) (*herald.Message, error) {
	var (
		m                 herald.Message
		eventID, channels sql.NullString
		ctype, headers    sql.NullString
		payload           []byte
		created           int64
		expires           sql.NullInt64
	)
	if err := s.Scan(&m.ID, &m.AppID, &eventID, &m.EventType, &channels, &payload, &created, &expires, &ctype, &headers); err != nil {
		return nil, err
	}
	m.EventID, m.Payload = eventID.String, payload
	m.CreatedAt, m.ExpiresAt = fromMS(created), fromNullMS(expires)
	var err error
	if m.Channels, err = parseList(channels); err != nil {
		return nil, err
	}
	m.ContentType = ctype.String
	if headers.Valid {
		if m.Headers, err = parseMap(headers); err != nil {
			return nil, err
		}
	}
	return &m, nil
}
