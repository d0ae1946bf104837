package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/herald"
)

// eventIDWindow is how long a message's EventID stays reserved in its
// application.
const eventIDWindow = 24 * time.Hour

// publishOp is one Publish waiting for its group commit.
type publishOp struct {
	msg        *herald.Message
	deliveries []herald.Delivery
	owner      string
	until      time.Time
	taken      bool // the EventID was taken, as the last publishBatch found
}

// Publish durably stores msg and its deliveries and returns after the
// commit. Concurrent publishes share one transaction. With leaseOwner set,
// the deliveries are stored leased to it until leaseUntil, which becomes
// their NextAttemptAt; otherwise they keep the NextAttemptAt given (the
// message's CreatedAt when unset), and idle nodes are notified. New
// deliveries are pending whatever their Status says. ErrConflict if msg.EventID was used in the
// application within the day before msg.CreatedAt.
func (db *DB) Publish(ctx context.Context, msg *herald.Message, deliveries []herald.Delivery, leaseOwner string, leaseUntil time.Time) error {
	op := &publishOp{msg: msg, deliveries: deliveries, owner: leaseOwner, until: leaseUntil}
	if err := db.publish.Do(ctx, op); err != nil {
		return fmt.Errorf("publish %s: %w", msg.ID, err)
	}
	return nil
}

// runPublish commits one group of publishes (see runGroup). An EventID
// repeated within the group conflicts at once; the rest are checked
// against the table under an advisory lock per (app, EventID), so
// concurrent groups cannot both take one.
func (db *DB) runPublish(ctx context.Context, ops []*publishOp) []error {
	errs := make([]error, len(ops))
	seen := make(map[[2]string]bool)
	run := make([]*publishOp, 0, len(ops))
	at := make([]int, 0, len(ops)) // run[j] is ops[at[j]]
	for i, op := range ops {
		if op.msg.EventID != "" {
			key := [2]string{op.msg.AppID, op.msg.EventID}
			if seen[key] {
				errs[i] = eventIDConflict(op.msg)
				continue
			}
			seen[key] = true
		}
		run = append(run, op)
		at = append(at, i)
	}
	if len(run) == 0 {
		return errs
	}
	for j, err := range runGroup(ctx, db, run, db.publishBatch) {
		if err == nil && run[j].taken {
			err = eventIDConflict(run[j].msg)
		}
		errs[at[j]] = err
	}
	return errs
}

func eventIDConflict(msg *herald.Message) error {
	return fmt.Errorf("event id %q: %w", msg.EventID, herald.ErrConflict)
}

const lockEventIDs = `SELECT count(pg_advisory_xact_lock(k)) FROM (
	SELECT DISTINCT hashtextextended(a || chr(31) || e, 7) AS k
	FROM unnest($1::text[], $2::text[]) AS t(a, e) ORDER BY 1 OFFSET 0) AS s`

const insertMessages = `WITH m AS (
	INSERT INTO messages (id, app_id, event_id, event_type, channels, payload, created_at, expires_at,
		content_type, headers, seq)
	SELECT u.id, u.app_id, u.event_id, u.event_type, u.channels::jsonb, u.payload, u.created_at, u.expires_at,
		u.content_type, u.headers, CASE WHEN u.direct THEN NULL ELSE nextval('messages_seq_seq') END
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::bigint[], $8::bigint[],
		$21::text[], $22::text[], $23::boolean[])
		AS u(id, app_id, event_id, event_type, channels, payload, created_at, expires_at, content_type, headers, direct)
	WHERE u.event_id IS NULL OR NOT EXISTS (
		SELECT 1 FROM messages x
		WHERE x.app_id = u.app_id AND x.event_id = u.event_id AND x.created_at > u.created_at - $20::bigint)
	RETURNING id
), d AS (
	INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, attempts, next_attempt_at, trigger,
		lease_owner, leased_at, created_at, updated_at)
	SELECT v.* FROM unnest($9::text[], $10::text[], $11::text[], $12::smallint[], $13::integer[], $14::bigint[],
		$15::smallint[], $16::text[], $17::bigint[], $18::bigint[], $19::bigint[])
		AS v(msg_id, endpoint_id, app_id, status, attempts, next_attempt_at, trigger,
			lease_owner, leased_at, created_at, updated_at)
	WHERE v.msg_id IN (SELECT id FROM m)
)
SELECT id FROM m`

// lockSeq serializes the numbering of a group's messages. A sequence
// alone is not commit-ordered: two transactions can commit out of the
// order they drew their numbers, and a poller that read the higher number
// first would skip the lower one for good. The transaction-level advisory
// lock is taken before the messages are inserted, numbered as they go in,
// and held until the commit is visible (PostgreSQL releases locks after
// that), so numbers are drawn in commit order. Inserting and committing
// are serialized per schema (each schema has its own sequence); each
// message row is written once. The lock's two-key form never collides
// with the EventID locks, which use the one-key form, and is always taken
// after them.
const (
	seqLockKey = 1212502084 // lockSeq's first key
	lockSeq    = `SELECT pg_advisory_xact_lock(1212502084, hashtext(current_schema()))`
)

// publishBatch runs ops in one pipelined implicit transaction and marks
// the operations whose EventID was already taken. It returns an error only
// when the whole transaction failed.
func (db *DB) publishBatch(ctx context.Context, ops []*publishOp) error {
	var (
		m       messageColumns
		d       deliveryColumns
		lockApp []string
		lockEvt []string
		notify  bool
	)
	for _, op := range ops {
		m.add(op.msg)
		if op.msg.EventID != "" {
			lockApp = append(lockApp, op.msg.AppID)
			lockEvt = append(lockEvt, op.msg.EventID)
		}
		for _, del := range op.deliveries {
			d.add(op, del)
		}
		notify = notify || (op.owner == "" && len(op.deliveries) > 0)
	}
	b := &pgx.Batch{}
	if len(lockApp) > 0 {
		b.Queue(lockEventIDs, lockApp, lockEvt)
	}
	b.Queue(lockSeq)
	inserted := make(map[string]bool, len(ops))
	b.Queue(insertMessages, m.id, m.appID, m.eventID, m.eventType, m.channels, m.payload, m.createdAt, m.expiresAt,
		d.msgID, d.endpointID, d.appID, d.status, d.attempts, d.nextAttemptAt, d.trigger,
		d.leaseOwner, d.leasedAt, d.createdAt, d.updatedAt, eventIDWindow.Milliseconds(),
		m.contentType, m.headers, m.direct).
		Query(func(rows pgx.Rows) error {
			var id string
			_, err := pgx.ForEachRow(rows, []any{&id}, func() error {
				inserted[id] = true
				return nil
			})
			return err
		})
	if notify {
		b.Queue(notifySQL, db.notifyPayload())
	}
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	for _, op := range ops {
		op.taken = !inserted[op.msg.ID]
	}
	return nil
}

// messageColumns holds a group's messages column by column, for unnest.
type messageColumns struct {
	id, appID, eventType []string
	eventID, channels    []*string
	contentType, headers []*string
	payload              [][]byte
	createdAt            []int64
	expiresAt            []*int64
	direct               []bool // no poll sequence number (herald.Message.Direct)
}

func (c *messageColumns) add(msg *herald.Message) {
	c.id = append(c.id, msg.ID)
	c.appID = append(c.appID, msg.AppID)
	c.eventID = append(c.eventID, nullText(msg.EventID))
	c.eventType = append(c.eventType, msg.EventType)
	var channels *string
	if msg.Channels != nil {
		s := jsonText(msg.Channels)
		channels = &s
	}
	c.channels = append(c.channels, channels)
	c.contentType = append(c.contentType, nullText(msg.ContentType))
	var headers *string
	if msg.Headers != nil {
		s := jsonText(msg.Headers)
		headers = &s
	}
	c.headers = append(c.headers, headers)
	c.payload = append(c.payload, []byte(msg.Payload))
	c.createdAt = append(c.createdAt, ms(msg.CreatedAt))
	c.expiresAt = append(c.expiresAt, nullMS(msg.ExpiresAt))
	c.direct = append(c.direct, msg.Direct)
}

// deliveryColumns holds a group's deliveries column by column, for unnest.
type deliveryColumns struct {
	msgID, endpointID, appID []string
	status, trigger          []int16
	attempts                 []int32
	nextAttemptAt, leasedAt  []*int64
	leaseOwner               []*string
	createdAt, updatedAt     []int64
}

// add appends del as op stores it: pending, of op's message, and leased to
// op.owner when set. Unset times default to the message's.
func (c *deliveryColumns) add(op *publishOp, del herald.Delivery) {
	msg := op.msg
	c.msgID = append(c.msgID, msg.ID)
	c.endpointID = append(c.endpointID, del.EndpointID)
	c.appID = append(c.appID, msg.AppID)
	c.status = append(c.status, int16(herald.StatusPending))
	c.attempts = append(c.attempts, int32(del.Attempts))
	c.trigger = append(c.trigger, int16(del.Trigger))
	created := del.CreatedAt
	if created.IsZero() {
		created = msg.CreatedAt
	}
	updated := del.UpdatedAt
	if updated.IsZero() {
		updated = created
	}
	c.createdAt = append(c.createdAt, ms(created))
	c.updatedAt = append(c.updatedAt, ms(updated))
	if op.owner != "" {
		until := op.until
		if until.IsZero() { // a lease without an end would never expire
			until = created
		}
		c.nextAttemptAt = append(c.nextAttemptAt, nullMS(until))
		c.leaseOwner = append(c.leaseOwner, &op.owner)
		c.leasedAt = append(c.leasedAt, nullMS(created))
		return
	}
	next := del.NextAttemptAt
	if next.IsZero() {
		next = msg.CreatedAt
	}
	c.nextAttemptAt = append(c.nextAttemptAt, nullMS(next))
	c.leaseOwner = append(c.leaseOwner, nil)
	c.leasedAt = append(c.leasedAt, nil)
}
