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
	verifier, err := db.cfg.Keys.Seal(string(src.Verifier), sourceAAD(src.ID))
	if err != nil {
		return fmt.Errorf("create source: seal verifier: %w", err)
	}
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	_, err = db.pool.Exec(ctx, `INSERT INTO sources (`+sourceColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		src.ID, nullText(src.UID), src.AppID, src.Name, verifier, src.EventType,
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
	src, err := pgx.CollectExactlyOneRow(rows, db.scanSource)
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
	srcs, err := pgx.CollectRows(rows, db.scanSource)
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", db.mapCallErr(ctx, err))
	}
	return srcs, nil
}

// UpdateSource replaces every field but ID and CreatedAt.
func (db *DB) UpdateSource(ctx context.Context, src *store.Source) error {
	verifier, err := db.cfg.Keys.Seal(string(src.Verifier), sourceAAD(src.ID))
	if err != nil {
		return fmt.Errorf("update source: seal verifier: %w", err)
	}
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `UPDATE sources SET uid = $2, app_id = $3, name = $4, verifier = $5,
		event_type = $6, dedupe_window = $7, allowed_ips = $8, max_body_bytes = $9, updated_at = $10
		WHERE id = $1`,
		src.ID, nullText(src.UID), src.AppID, src.Name, verifier, src.EventType,
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

// ingestOp is one Ingest waiting for its group commit.
type ingestOp struct {
	ev        *store.InboundEvent
	headers   string
	pub       publishOp
	duplicate bool
}

// Ingest stores ev, and msg with its deliveries unless ev repeats an
// accepted event within its window, in one transaction shared with
// concurrent ingests (group commit, like Publish).
func (db *DB) Ingest(ctx context.Context, ev *store.InboundEvent, msg *herald.Message, deliveries []herald.Delivery, leaseOwner string, leaseUntil time.Time) (bool, error) {
	headers, err := json.Marshal(ev.Headers)
	if err != nil {
		return false, fmt.Errorf("ingest: encode headers: %w", err)
	}
	op := &ingestOp{ev: ev, headers: string(headers),
		pub: publishOp{msg: msg, deliveries: deliveries, owner: leaseOwner, until: leaseUntil}}
	if err := db.ingest.Do(ctx, op); err != nil {
		if errors.Is(err, store.ErrClosed) {
			err = fmt.Errorf("%w: %w", errUnavailable, err)
		}
		return false, fmt.Errorf("ingest %s: %w", ev.ID, err)
	}
	return op.duplicate, nil
}

// runIngest commits one group of ingests (see runGroup).
func (db *DB) runIngest(ctx context.Context, ops []*ingestOp) []error {
	return runGroup(ctx, db, ops, db.ingestBatch)
}

// lockDedupeKeys serializes ingests of the same source and dedupe key
// until the transaction ends, in one order, so two copies of an event
// arriving together cannot both be accepted and groups cannot deadlock.
const lockDedupeKeys = `SELECT count(pg_advisory_xact_lock(k)) FROM (
	SELECT DISTINCT hashtextextended(s || chr(31) || d, 11) AS k
	FROM unnest($1::text[], $2::text[]) AS t(s, d) ORDER BY 1 OFFSET 0) AS l`

// findAccepted lists the accepted events whose window is still open at
// the earliest receipt of the group, for the group's keys.
const findAccepted = `SELECT e.source_id, e.dedupe_key, e.id, e.dedupe_until FROM inbound_events e
	JOIN unnest($1::text[], $2::text[]) AS t(s, d) ON e.source_id = t.s AND e.dedupe_key = t.d
	WHERE e.status = 'accepted' AND e.dedupe_until > $3
	ORDER BY e.id`

const insertInbound = `INSERT INTO inbound_events (` + inboundColumns + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::text[],
		$7::text[], $8::text[], $9::text[], $10::bytea[], $11::text[], $12::text[])`

// acceptedKey is an accepted event's window, as duplicates check it.
type acceptedKey struct {
	id    string
	until int64
}

// ingestBatch runs ops in one transaction: it locks their keys, finds
// which repeat an accepted event (stored, or earlier in the group),
// inserts every event, and publishes the messages of the others.
func (db *DB) ingestBatch(ctx context.Context, ops []*ingestOp) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		accepted, err := acceptedKeys(ctx, tx, ops)
		if err != nil {
			return err
		}
		var (
			in     inboundColumnsOf
			m      messageColumns
			d      deliveryColumns
			notify bool
		)
		for _, op := range ops {
			ev := op.ev
			op.duplicate = false
			ev.Status, ev.MsgID, ev.DuplicateOf = store.InboundAccepted, op.pub.msg.ID, ""
			if ev.DedupeKey != "" {
				k := [2]string{ev.SourceID, ev.DedupeKey}
				for _, a := range accepted[k] {
					if a.until > ms(ev.ReceivedAt) {
						op.duplicate = true
						ev.Status, ev.MsgID, ev.DuplicateOf = store.InboundDuplicate, "", a.id
						break
					}
				}
				if !op.duplicate {
					accepted[k] = append(accepted[k], acceptedKey{ev.ID, ms(ev.DedupeUntil)})
				}
			}
			in.add(ev, op.headers)
			if op.duplicate {
				continue
			}
			m.add(op.pub.msg)
			for _, del := range op.pub.deliveries {
				d.add(&op.pub, del)
			}
			notify = notify || (op.pub.owner == "" && len(op.pub.deliveries) > 0)
		}
		b := &pgx.Batch{}
		b.Queue(insertInbound, in.id, in.sourceID, in.receivedAt, in.dedupeKey, in.dedupeUntil, in.eventType,
			in.status, in.msgID, in.duplicateOf, in.body, in.headers, in.remoteAddr)
		if len(m.id) > 0 {
			// Numbered in commit order, like publishes (see lockSeq).
			b.Queue(lockSeq)
			b.Queue(insertMessages, m.id, m.appID, m.eventID, m.eventType, m.channels, m.payload, m.createdAt, m.expiresAt,
				d.msgID, d.endpointID, d.appID, d.status, d.attempts, d.nextAttemptAt, d.trigger,
				d.leaseOwner, d.leasedAt, d.createdAt, d.updatedAt, eventIDWindow.Milliseconds(),
				m.contentType, m.headers, m.direct)
		}
		if notify {
			b.Queue(notifySQL, db.notifyPayload())
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// acceptedKeys locks the group's dedupe keys and returns, per source and
// key, the accepted events whose window is open at the group's earliest
// receipt, oldest first.
func acceptedKeys(ctx context.Context, tx pgx.Tx, ops []*ingestOp) (map[[2]string][]acceptedKey, error) {
	accepted := make(map[[2]string][]acceptedKey)
	var sources, keys []string
	var earliest int64
	for _, op := range ops {
		if op.ev.DedupeKey == "" {
			continue
		}
		at := ms(op.ev.ReceivedAt)
		if len(keys) == 0 || at < earliest {
			earliest = at
		}
		sources = append(sources, op.ev.SourceID)
		keys = append(keys, op.ev.DedupeKey)
	}
	if len(keys) == 0 {
		return accepted, nil
	}
	if _, err := tx.Exec(ctx, lockDedupeKeys, sources, keys); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, findAccepted, sources, keys, earliest)
	if err != nil {
		return nil, err
	}
	var (
		src, key, id string
		until        int64
	)
	_, err = pgx.ForEachRow(rows, []any{&src, &key, &id, &until}, func() error {
		k := [2]string{src, key}
		accepted[k] = append(accepted[k], acceptedKey{id, until})
		return nil
	})
	return accepted, err
}

// inboundColumnsOf holds a group's inbound events column by column, for
// unnest.
type inboundColumnsOf struct {
	id, sourceID, eventType, status, headers, remoteAddr []string
	dedupeKey, msgID, duplicateOf                        []*string
	receivedAt                                           []int64
	dedupeUntil                                          []*int64
	body                                                 [][]byte
}

func (c *inboundColumnsOf) add(ev *store.InboundEvent, headers string) {
	c.id = append(c.id, ev.ID)
	c.sourceID = append(c.sourceID, ev.SourceID)
	c.receivedAt = append(c.receivedAt, ms(ev.ReceivedAt))
	c.dedupeKey = append(c.dedupeKey, nullText(ev.DedupeKey))
	var until *int64
	if ev.DedupeKey != "" {
		until = nullMS(ev.DedupeUntil)
	}
	c.dedupeUntil = append(c.dedupeUntil, until)
	c.eventType = append(c.eventType, ev.EventType)
	c.status = append(c.status, string(ev.Status))
	c.msgID = append(c.msgID, nullText(ev.MsgID))
	c.duplicateOf = append(c.duplicateOf, nullText(ev.DuplicateOf))
	body := ev.Body
	if body == nil {
		body = []byte{}
	}
	c.body = append(c.body, body)
	c.headers = append(c.headers, headers)
	c.remoteAddr = append(c.remoteAddr, ev.RemoteAddr)
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

func (db *DB) scanSource(row pgx.CollectableRow) (store.Source, error) {
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
	verifier, err := db.cfg.Keys.Open(verifier, sourceAAD(src.ID))
	if err != nil {
		return store.Source{}, fmt.Errorf("source %s: verifier: %w", src.ID, err)
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
