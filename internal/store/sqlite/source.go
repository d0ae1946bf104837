package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

const sourceColumns = `id, uid, app_id, name, verifier, event_type, dedupe_window, allowed_ips,
	max_body_bytes, created_at, updated_at`

const inboundColumns = `id, source_id, received_at, dedupe_key, dedupe_until, event_type, status,
	msg_id, duplicate_of, body, headers, remote_addr`

// CreateSource inserts src; ErrConflict if its ID or UID is taken,
// ErrNotFound if its application does not exist.
func (db *DB) CreateSource(ctx context.Context, src *store.Source) error {
	verifier, err := db.keys.Seal(string(src.Verifier), sourceAAD(src.ID))
	if err != nil {
		return fmt.Errorf("create source: seal verifier: %w", err)
	}
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		_, err := w.tx.ExecContext(ctx, `INSERT INTO sources (`+sourceColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			src.ID, nullString(src.UID), src.AppID, src.Name, verifier, src.EventType,
			src.DedupeWindow.Milliseconds(), jsonList(src.AllowedIPs), src.MaxBodyBytes,
			ms(src.CreatedAt), ms(src.UpdatedAt))
		return mapErr("create source", err)
	})
}

// GetSource finds a source by ID or, failing that, by UID.
func (db *DB) GetSource(ctx context.Context, idOrUID string) (*store.Source, error) {
	src, err := db.scanSource(db.reader.QueryRowContext(ctx, `SELECT `+sourceColumns+` FROM sources WHERE id = ?`, idOrUID))
	if errNoRows(err) {
		src, err = db.scanSource(db.reader.QueryRowContext(ctx, `SELECT `+sourceColumns+` FROM sources WHERE uid = ?`, idOrUID))
	}
	if err != nil {
		return nil, mapErr("get source", err)
	}
	return src, nil
}

// ListSources lists sources by ID.
func (db *DB) ListSources(ctx context.Context, page store.Page) ([]store.Source, error) {
	var w where
	order := w.page("id", page, false)
	rows, err := db.reader.QueryContext(ctx, `SELECT `+sourceColumns+` FROM sources`+w.String()+order, w.args...)
	if err != nil {
		return nil, mapErr("list sources", err)
	}
	defer rows.Close()
	var out []store.Source
	for rows.Next() {
		src, err := db.scanSource(rows)
		if err != nil {
			return nil, mapErr("list sources", err)
		}
		out = append(out, *src)
	}
	return out, mapErr("list sources", rows.Err())
}

// UpdateSource replaces every field but ID and CreatedAt.
func (db *DB) UpdateSource(ctx context.Context, src *store.Source) error {
	verifier, err := db.keys.Seal(string(src.Verifier), sourceAAD(src.ID))
	if err != nil {
		return fmt.Errorf("update source: seal verifier: %w", err)
	}
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		res, err := w.tx.ExecContext(ctx, `UPDATE sources SET uid = ?, app_id = ?, name = ?, verifier = ?,
			event_type = ?, dedupe_window = ?, allowed_ips = ?, max_body_bytes = ?, updated_at = ? WHERE id = ?`,
			nullString(src.UID), src.AppID, src.Name, verifier, src.EventType,
			src.DedupeWindow.Milliseconds(), jsonList(src.AllowedIPs), src.MaxBodyBytes, ms(src.UpdatedAt), src.ID)
		return affectedOne("update source", res, err)
	})
}

// DeleteSource deletes the source and its inbound events.
func (db *DB) DeleteSource(ctx context.Context, id string) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		res, err := w.tx.ExecContext(ctx, `DELETE FROM sources WHERE id = ?`, id)
		return affectedOne("delete source", res, err)
	})
}

// Ingest stores ev, and msg with its deliveries unless ev repeats an
// accepted event within its window, in one group-committed transaction.
// The single writer makes the duplicate check and the insert atomic.
func (db *DB) Ingest(ctx context.Context, ev *store.InboundEvent, msg *herald.Message, deliveries []herald.Delivery, leaseOwner string, leaseUntil time.Time) (bool, error) {
	headers, err := json.Marshal(ev.Headers)
	if err != nil {
		return false, fmt.Errorf("ingest: encode headers: %w", err)
	}
	var duplicate bool
	err = db.write(ctx, func(ctx context.Context, w *wtx) error {
		duplicate = false
		ev.Status, ev.MsgID, ev.DuplicateOf = store.InboundAccepted, msg.ID, ""
		if ev.DedupeKey != "" {
			var first string
			err := w.tx.QueryRowContext(ctx, `SELECT id FROM inbound_events
				WHERE source_id = ? AND dedupe_key = ? AND dedupe_until > ? AND status = 'accepted'
				ORDER BY id LIMIT 1`, ev.SourceID, ev.DedupeKey, ms(ev.ReceivedAt)).Scan(&first)
			switch {
			case err == nil:
				duplicate = true
				ev.Status, ev.MsgID, ev.DuplicateOf = store.InboundDuplicate, "", first
			case !errNoRows(err):
				return mapErr("ingest: check duplicate", err)
			}
		}
		until := sql.NullInt64{}
		if ev.DedupeKey != "" {
			until = nullMS(ev.DedupeUntil)
		}
		_, err := w.tx.ExecContext(ctx, `INSERT INTO inbound_events (`+inboundColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ev.ID, ev.SourceID, ms(ev.ReceivedAt), nullString(ev.DedupeKey), until, ev.EventType,
			string(ev.Status), nullString(ev.MsgID), nullString(ev.DuplicateOf), ev.Body, string(headers), ev.RemoteAddr)
		if err != nil {
			return mapErr("ingest: insert inbound event", err)
		}
		if duplicate {
			return nil
		}
		return db.publish(ctx, w, msg, deliveries, leaseOwner, leaseUntil)
	})
	if err != nil {
		return false, err
	}
	return duplicate, nil
}

// GetInboundEvent finds one event of a source.
func (db *DB) GetInboundEvent(ctx context.Context, sourceID, eventID string) (*store.InboundEvent, error) {
	ev, err := scanInbound(db.reader.QueryRowContext(ctx, `SELECT `+inboundColumns+` FROM inbound_events
		WHERE id = ? AND source_id = ?`, eventID, sourceID))
	if err != nil {
		return nil, mapErr("get inbound event", err)
	}
	return ev, nil
}

// ListInboundEvents lists a source's events, newest first.
func (db *DB) ListInboundEvents(ctx context.Context, sourceID string, page store.Page) ([]store.InboundEvent, error) {
	var w where
	w.add("source_id = ?", sourceID)
	page.Desc = false
	order := w.page("id", page, true)
	rows, err := db.reader.QueryContext(ctx, `SELECT `+inboundColumns+` FROM inbound_events`+w.String()+order, w.args...)
	if err != nil {
		return nil, mapErr("list inbound events", err)
	}
	defer rows.Close()
	var out []store.InboundEvent
	for rows.Next() {
		ev, err := scanInbound(rows)
		if err != nil {
			return nil, mapErr("list inbound events", err)
		}
		out = append(out, *ev)
	}
	return out, mapErr("list inbound events", rows.Err())
}

func (db *DB) scanSource(s scanner) (*store.Source, error) {
	var (
		src             store.Source
		uid, ips        sql.NullString
		verifier        string
		window, created int64
		updated         int64
	)
	if err := s.Scan(&src.ID, &uid, &src.AppID, &src.Name, &verifier, &src.EventType, &window, &ips,
		&src.MaxBodyBytes, &created, &updated); err != nil {
		return nil, err
	}
	verifier, err := db.keys.Open(verifier, sourceAAD(src.ID))
	if err != nil {
		return nil, fmt.Errorf("source %s: verifier: %w", src.ID, err)
	}
	src.UID, src.Verifier = uid.String, json.RawMessage(verifier)
	src.DedupeWindow = time.Duration(window) * time.Millisecond
	src.CreatedAt, src.UpdatedAt = fromMS(created), fromMS(updated)
	if src.AllowedIPs, err = parseList(ips); err != nil {
		return nil, err
	}
	return &src, nil
}

func scanInbound(s scanner) (*store.InboundEvent, error) {
	var (
		ev                store.InboundEvent
		key, msgID, dupOf sql.NullString
		until             sql.NullInt64
		received          int64
		status, headers   string
	)
	if err := s.Scan(&ev.ID, &ev.SourceID, &received, &key, &until, &ev.EventType, &status,
		&msgID, &dupOf, &ev.Body, &headers, &ev.RemoteAddr); err != nil {
		return nil, err
	}
	ev.ReceivedAt, ev.DedupeUntil = fromMS(received), fromNullMS(until)
	ev.DedupeKey, ev.MsgID, ev.DuplicateOf = key.String, msgID.String, dupOf.String
	ev.Status = store.InboundStatus(status)
	if err := json.Unmarshal([]byte(headers), &ev.Headers); err != nil {
		return nil, fmt.Errorf("decode inbound headers: %w", err)
	}
	return &ev, nil
}
