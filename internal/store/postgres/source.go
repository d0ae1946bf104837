package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `INSERT INTO sources (`+sourceColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		src.ID, nullText(src.UID), src.AppID, src.Name, string(src.Verifier), src.EventType,
		src.DedupeWindow.Milliseconds(), listText(src.AllowedIPs), src.MaxBodyBytes,
		ms(src.CreatedAt), ms(src.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create source: %w", db.mapCallErr(ctx, err))
	}
	return nil
}

// GetSource finds a source by ID or UID; an ID match wins.
func (db *DB) GetSource(ctx context.Context, idOrUID string) (*store.Source, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+sourceColumns+` FROM sources
		WHERE id = $1 OR uid = $1 ORDER BY (id = $1) DESC LIMIT 1`, idOrUID)
	if err != nil {
		return nil, fmt.Errorf("get source: %w", db.mapCallErr(ctx, err))
	}
	src, err := pgx.CollectExactlyOneRow(rows, scanSource)
	if err != nil {
		return nil, fmt.Errorf("get source %s: %w", idOrUID, db.mapCallErr(ctx, err))
	}
	return &src, nil
}

// ListSources lists sources by ID.
func (db *DB) ListSources(ctx context.Context, page store.Page) ([]store.Source, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var q query
	q.add(`SELECT `, sourceColumns, ` FROM sources WHERE true`)
	q.page("id", page, false)
	rows, err := db.pool.Query(ctx, q.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", db.mapCallErr(ctx, err))
	}
	srcs, err := pgx.CollectRows(rows, scanSource)
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", db.mapCallErr(ctx, err))
	}
	return srcs, nil
}

// UpdateSource replaces every field but ID and CreatedAt.
func (db *DB) UpdateSource(ctx context.Context, src *store.Source) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `UPDATE sources SET uid = $2, app_id = $3, name = $4, verifier = $5,
		event_type = $6, dedupe_window = $7, allowed_ips = $8, max_body_bytes = $9, updated_at = $10
		WHERE id = $1`,
		src.ID, nullText(src.UID), src.AppID, src.Name, string(src.Verifier), src.EventType,
		src.DedupeWindow.Milliseconds(), listText(src.AllowedIPs), src.MaxBodyBytes, ms(src.UpdatedAt))
	if err != nil {
		return fmt.Errorf("update source: %w", db.mapCallErr(ctx, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("update source %s: %w", src.ID, herald.ErrNotFound)
	}
	return nil
}

// DeleteSource deletes the source and, by cascade, its inbound events.
func (db *DB) DeleteSource(ctx context.Context, id string) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `DELETE FROM sources WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete source: %w", db.mapCallErr(ctx, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete source %s: %w", id, herald.ErrNotFound)
	}
	return nil
}

// lockDedupeKey serializes ingests of one source's dedupe key until the
// transaction ends, so two copies of an event arriving together cannot
// both be accepted.
const lockDedupeKey = `SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2, 11))`

const findAccepted = `SELECT id FROM inbound_events
	WHERE source_id = $1 AND dedupe_key = $2 AND dedupe_until > $3 AND status = 'accepted'
	ORDER BY id LIMIT 1`

// Ingest stores ev, and msg with its deliveries unless ev repeats an
// accepted event within its window, in one transaction. Ingests are not
// group-committed on PostgreSQL: each is its own short transaction, which
// concurrent sessions commit in parallel.
func (db *DB) Ingest(ctx context.Context, ev *store.InboundEvent, msg *herald.Message, deliveries []herald.Delivery, leaseOwner string, leaseUntil time.Time) (bool, error) {
	headers, err := json.Marshal(ev.Headers)
	if err != nil {
		return false, fmt.Errorf("ingest: encode headers: %w", err)
	}
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var duplicate bool
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		duplicate = false
		ev.Status, ev.MsgID, ev.DuplicateOf = store.InboundAccepted, msg.ID, ""
		var until *int64
		if ev.DedupeKey != "" {
			until = nullMS(ev.DedupeUntil)
			if _, err := tx.Exec(ctx, lockDedupeKey, ev.SourceID, ev.DedupeKey); err != nil {
				return err
			}
			var first string
			err := tx.QueryRow(ctx, findAccepted, ev.SourceID, ev.DedupeKey, ms(ev.ReceivedAt)).Scan(&first)
			switch {
			case err == nil:
				duplicate = true
				ev.Status, ev.MsgID, ev.DuplicateOf = store.InboundDuplicate, "", first
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
		}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO inbound_events (`+inboundColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			ev.ID, ev.SourceID, ms(ev.ReceivedAt), nullText(ev.DedupeKey), until, ev.EventType,
			string(ev.Status), nullText(ev.MsgID), nullText(ev.DuplicateOf), ev.Body, string(headers), ev.RemoteAddr)
		if !duplicate {
			db.queuePublish(b, &publishOp{msg: msg, deliveries: deliveries, owner: leaseOwner, until: leaseUntil})
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return false, fmt.Errorf("ingest %s: %w", ev.ID, db.mapCallErr(ctx, err))
	}
	return duplicate, nil
}

// queuePublish queues the statements that store one message with its
// deliveries, as Publish does, and wakes idle nodes for unleased ones.
func (db *DB) queuePublish(b *pgx.Batch, op *publishOp) {
	var (
		m messageColumns
		d deliveryColumns
	)
	m.add(op.msg)
	for _, del := range op.deliveries {
		d.add(op, del)
	}
	b.Queue(insertMessages, m.id, m.appID, m.eventID, m.eventType, m.channels, m.payload, m.createdAt, m.expiresAt,
		d.msgID, d.endpointID, d.appID, d.status, d.attempts, d.nextAttemptAt, d.trigger,
		d.leaseOwner, d.leasedAt, d.createdAt, d.updatedAt, eventIDWindow.Milliseconds(),
		m.contentType, m.headers)
	if op.owner == "" && len(op.deliveries) > 0 {
		b.Queue(notifySQL, db.notifyPayload())
	}
}

// GetInboundEvent finds one event of a source.
func (db *DB) GetInboundEvent(ctx context.Context, sourceID, eventID string) (*store.InboundEvent, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+inboundColumns+` FROM inbound_events
		WHERE id = $1 AND source_id = $2`, eventID, sourceID)
	if err != nil {
		return nil, fmt.Errorf("get inbound event: %w", db.mapCallErr(ctx, err))
	}
	ev, err := pgx.CollectExactlyOneRow(rows, scanInbound)
	if err != nil {
		return nil, fmt.Errorf("get inbound event %s: %w", eventID, db.mapCallErr(ctx, err))
	}
	return &ev, nil
}

// ListInboundEvents lists a source's events, newest first.
func (db *DB) ListInboundEvents(ctx context.Context, sourceID string, page store.Page) ([]store.InboundEvent, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var q query
	q.add(`SELECT `, inboundColumns, ` FROM inbound_events WHERE source_id = `, q.arg(sourceID))
	page.Desc = false
	q.page("id", page, true)
	rows, err := db.pool.Query(ctx, q.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list inbound events: %w", db.mapCallErr(ctx, err))
	}
	evs, err := pgx.CollectRows(rows, scanInbound)
	if err != nil {
		return nil, fmt.Errorf("list inbound events: %w", db.mapCallErr(ctx, err))
	}
	return evs, nil
}

// listText encodes a list, or NULL when it is empty.
func listText(l []string) *string {
	if len(l) == 0 {
		return nil
	}
	s := jsonText(l)
	return &s
}

func scanSource(row pgx.CollectableRow) (store.Source, error) {
	var (
		src             store.Source
		uid, ips        *string
		verifier        string
		window, created int64
		updated         int64
	)
	if err := row.Scan(&src.ID, &uid, &src.AppID, &src.Name, &verifier, &src.EventType, &window, &ips,
		&src.MaxBodyBytes, &created, &updated); err != nil {
		return store.Source{}, err
	}
	src.UID, src.Verifier = fromNullText(uid), json.RawMessage(verifier)
	src.DedupeWindow = time.Duration(window) * time.Millisecond
	src.CreatedAt, src.UpdatedAt = fromMS(created), fromMS(updated)
	if err := fromJSON(ips, &src.AllowedIPs); err != nil {
		return store.Source{}, err
	}
	return src, nil
}

func scanInbound(row pgx.CollectableRow) (store.InboundEvent, error) {
	var (
		ev                store.InboundEvent
		key, msgID, dupOf *string
		until             *int64
		received          int64
		status, headers   string
	)
	if err := row.Scan(&ev.ID, &ev.SourceID, &received, &key, &until, &ev.EventType, &status,
		&msgID, &dupOf, &ev.Body, &headers, &ev.RemoteAddr); err != nil {
		return store.InboundEvent{}, err
	}
	ev.ReceivedAt, ev.DedupeUntil = fromMS(received), fromNullMS(until)
	ev.DedupeKey, ev.MsgID, ev.DuplicateOf = fromNullText(key), fromNullText(msgID), fromNullText(dupOf)
	ev.Status = store.InboundStatus(status)
	if err := json.Unmarshal([]byte(headers), &ev.Headers); err != nil {
		return store.InboundEvent{}, fmt.Errorf("decode inbound headers: %w", err)
	}
	return ev, nil
}
