package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// recordOp is one Record waiting for its group commit.
type recordOp struct {
	results  []store.Result
	headers  [][2]string // each attempt's response and request headers, encoded
	disabled []string    // endpoints this call disabled, set by the commit
}

// Record inserts each attempt, moves each delivery to its next state and
// clears its lease, and updates endpoint health: a success clears
// FailingSince, a failure sets it if unset, and DisableEndpoint disables the
// endpoint and cancels its unfinished deliveries. A result whose message is
// gone (retention deleted it) leaves no attempt. Concurrent calls share one
// transaction. It returns the endpoints this call disabled.
func (db *DB) Record(ctx context.Context, results []store.Result) ([]string, error) {
	if len(results) == 0 {
		return nil, nil
	}
	// The headers are encoded here, on the caller's goroutine, rather than
	// by the group commit's worker, which every Record waits for.
	op := &recordOp{results: results, headers: make([][2]string, len(results))}
	for i := range results {
		a := &results[i].Attempt
		op.headers[i] = [2]string{jsonText(a.ResponseHeaders), jsonText(a.RequestHeaders)}
	}
	if err := db.record.Do(ctx, op); err != nil {
		return nil, fmt.Errorf("record attempts: %w", err)
	}
	return op.disabled, nil
}

// runRecord commits one group of Record calls (see runGroup).
func (db *DB) runRecord(ctx context.Context, ops []*recordOp) []error {
	return runGroup(ctx, db, ops, db.recordBatch)
}

// Row locks are taken in a fixed order (endpoints by ID, then deliveries by
// key) so concurrent groups and endpoint updates never deadlock.
//
// These statements find their rows one key at a time, in a LATERAL
// subquery or behind OFFSET 0, which the planner can neither merge into a
// join nor turn into a hash of the table. A join would be planned by the
// table's size, and PostgreSQL keeps the generic plan it makes after a
// prepared statement's fifth run: made while the table was empty, it would
// read the whole table on every batch as it grew
// (TestHotStatementsKeepTheirIndexes).
const (
	lockEndpoints = `SELECT count(*) FROM (SELECT DISTINCT id FROM unnest($1::text[]) AS k(id) ORDER BY 1) AS k,
		LATERAL (SELECT 1 FROM endpoints e WHERE e.id = k.id FOR UPDATE) AS l`
	lockDeliveries = `SELECT count(*) FROM
		(SELECT * FROM unnest($1::text[], $2::text[]) AS k(msg_id, endpoint_id) ORDER BY 1, 2) AS k,
		LATERAL (SELECT 1 FROM deliveries d
			WHERE d.msg_id = k.msg_id AND d.endpoint_id = k.endpoint_id FOR UPDATE) AS l`

	// An attempt already there is one a retried batch recorded before: a
	// commit the client could not confirm may have happened all the same.
	insertAttempts = `INSERT INTO attempts (id, msg_id, endpoint_id, app_id, url, status, status_code,
		response_body, response_headers, request_headers, duration_ns, error_class, trigger, created_at)
	SELECT u.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::smallint[],
		$7::integer[], $8::bytea[], $9::text[], $10::text[], $11::bigint[], $12::text[], $13::smallint[], $14::bigint[])
		AS u(id, msg_id, endpoint_id, app_id, url, status, status_code, response_body, response_headers,
			request_headers, duration_ns, error_class, trigger, created_at)
	WHERE EXISTS (SELECT 1 FROM messages m WHERE m.id = u.msg_id OFFSET 0)
	ON CONFLICT (id) DO NOTHING`

	// A delivery takes its result only while held as the attempt was made
	// (store.Result.Owner), or, canceled meanwhile, a final one: a retry
	// must not revive it. One that would go on but whose endpoint is gone
	// or disabled is canceled instead. Each row is found by key and updated
	// by its ctid,
	// which lockDeliveries has made safe: the rows are locked by this
	// transaction, so none has a newer version than this statement sees.
	updateDeliveries = `UPDATE deliveries d SET
		status = CASE WHEN u.status IN (1, 3) AND NOT e.enabled THEN 4 ELSE u.status END,
		next_attempt_at = CASE WHEN u.status IN (1, 3) AND NOT e.enabled THEN NULL ELSE u.next_attempt_at END,
		attempts = u.attempts, trigger = CASE WHEN u.interrupted THEN d.trigger ELSE 0 END,
		lease_owner = NULL, leased_at = NULL, updated_at = u.updated_at, paced = false
	FROM unnest($1::text[], $2::text[], $3::smallint[], $4::integer[], $5::bigint[], $6::bigint[],
			$7::text[], $8::integer[], $9::boolean[])
		AS u(msg_id, endpoint_id, status, attempts, next_attempt_at, updated_at, owner, before, interrupted),
		LATERAL (SELECT k.ctid FROM deliveries k
			WHERE k.msg_id = u.msg_id AND k.endpoint_id = u.endpoint_id
				AND (k.lease_owner IS NOT DISTINCT FROM u.owner OR k.status = 4 AND u.status IN (0, 2))
				AND k.attempts = u.before
			OFFSET 0) AS k,
		LATERAL (SELECT EXISTS (SELECT 1 FROM endpoints x
			WHERE x.id = u.endpoint_id AND NOT x.disabled OFFSET 0) AS enabled) AS e
	WHERE d.ctid = k.ctid`

	// The endpoints too are updated by ctid, after lockEndpoints.
	// A failure marks the endpoint failing since its attempt began, unless
	// an attempt begun later succeeded: results are recorded as they
	// finish, and a slow failure may come after a quick success sent after
	// it. IDs are never older than their attempt's start, so u.later
	// bounds the scan to the attempts begun later.
	updateHealth = `UPDATE endpoints e SET
		failing_since = CASE WHEN u.reset THEN c.since ELSE COALESCE(e.failing_since, c.since) END
	FROM unnest($1::text[], $2::boolean[], $3::bigint[], $4::text[]) AS u(id, reset, failing_since, later),
		LATERAL (SELECT k.ctid FROM endpoints k WHERE k.id = u.id OFFSET 0) AS k,
		LATERAL (SELECT CASE WHEN u.failing_since IS NOT NULL AND EXISTS (SELECT 1 FROM attempts a
			WHERE a.endpoint_id = u.id AND a.id >= u.later AND a.created_at > u.failing_since AND a.status = 0)
			THEN NULL ELSE u.failing_since END AS since) AS c
	WHERE e.ctid = k.ctid`

	disableEndpoints = `WITH dis AS (
		UPDATE endpoints e SET disabled = true, updated_at = u.at
		FROM unnest($1::text[], $2::bigint[]) AS u(id, at),
			LATERAL (SELECT k.ctid FROM endpoints k WHERE k.id = u.id OFFSET 0) AS k
		WHERE e.ctid = k.ctid AND NOT e.disabled RETURNING e.id
	), c AS (
		UPDATE deliveries SET status = 4, next_attempt_at = NULL, lease_owner = NULL
		WHERE endpoint_id IN (SELECT id FROM dis) AND status IN (1, 3)
	)
	SELECT id FROM dis`
)

// recordBatch runs ops in one pipelined implicit transaction.
func (db *DB) recordBatch(ctx context.Context, ops []*recordOp) error {
	var (
		a      attemptColumns
		d      deliveryUpdates
		h      healthUpdates
		next   []string // ordered endpoints whose next delivery has its turn
		nextAt int64
	)
	for i, op := range ops {
		op.disabled = nil
		for j, r := range op.results {
			a.add(&r.Attempt, op.headers[j])
			d.add(r)
			h.add(i, r)
			if r.Ordered && r.Outcome.Status.Final() {
				next, nextAt = append(next, r.Attempt.EndpointID), max(nextAt, ms(r.Attempt.CreatedAt))
			}
		}
	}
	epIDs := h.sortedIDs()
	b := &pgx.Batch{}
	b.Queue(lockEndpoints, epIDs)
	b.Queue(lockDeliveries, d.rounds[0].msgID, d.rounds[0].endpointID) // every delivery is in the first round
	b.Queue(insertAttempts, a.id, a.msgID, a.endpointID, a.appID, a.url, a.status, a.statusCode,
		a.body, a.respHeaders, a.reqHeaders, a.duration, a.errorClass, a.trigger, a.createdAt)
	for _, c := range d.rounds {
		b.Queue(updateDeliveries, c.msgID, c.endpointID, c.status, c.attempts, c.next, c.updated, c.owner, c.before, c.interrupted)
	}
	since := h.failingSinces(epIDs)
	b.Queue(updateHealth, epIDs, h.resets(epIDs), since, laterAttempts(since))
	if len(next) > 0 {
		b.Queue(unparkNext, nextAt, next) // fifo.go
	}
	var disabled []string
	if toDisable, at := h.toDisable(epIDs); len(toDisable) > 0 {
		b.Queue(disableEndpoints, toDisable, at).Query(func(rows pgx.Rows) error {
			var err error
			disabled, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
	}
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	for _, id := range disabled {
		op := ops[h.byID[id].disabledBy]
		op.disabled = append(op.disabled, id)
	}
	return nil
}

// attemptColumns holds a group's attempts column by column, for unnest.
type attemptColumns struct {
	id, msgID, endpointID, appID, url, errorClass []string
	respHeaders, reqHeaders                       []string
	status, trigger                               []int16
	statusCode                                    []int32
	body                                          [][]byte
	duration, createdAt                           []int64
}

// add appends a, whose response and request headers are encoded in headers.
func (c *attemptColumns) add(a *herald.Attempt, headers [2]string) {
	c.id = append(c.id, a.ID)
	c.msgID = append(c.msgID, a.MsgID)
	c.endpointID = append(c.endpointID, a.EndpointID)
	c.appID = append(c.appID, a.AppID)
	c.url = append(c.url, a.URL)
	c.status = append(c.status, int16(a.Status))
	c.statusCode = append(c.statusCode, int32(a.StatusCode))
	c.body = append(c.body, []byte(a.ResponseBody))
	c.respHeaders = append(c.respHeaders, headers[0])
	c.reqHeaders = append(c.reqHeaders, headers[1])
	c.duration = append(c.duration, int64(a.Duration))
	c.errorClass = append(c.errorClass, string(a.ErrorClass))
	c.trigger = append(c.trigger, int16(a.Trigger))
	c.createdAt = append(c.createdAt, ms(a.CreatedAt))
}

// deliveryUpdates holds the new state of each delivery in a group. A
// delivery's nth result in the group goes in rounds[n], and the rounds are
// applied in order, one statement each: as if applied one by one, each
// result's guard (store.Result.Owner) sees the row the one before left.
type deliveryUpdates struct {
	seen   map[store.DeliveryKey]int
	rounds []resultColumns
}

// resultColumns holds one round's deliveries column by column, for
// unnest; a delivery appears in it at most once.
type resultColumns struct {
	msgID, endpointID []string
	status            []int16
	attempts, before  []int32
	next              []*int64
	updated           []int64
	owner             []*string
	interrupted       []bool
}

func (u *deliveryUpdates) add(r store.Result) {
	key := store.DeliveryKey{MsgID: r.Attempt.MsgID, EndpointID: r.Attempt.EndpointID}
	if u.seen == nil {
		u.seen = make(map[store.DeliveryKey]int)
	}
	n := u.seen[key]
	u.seen[key] = n + 1
	if n == len(u.rounds) {
		u.rounds = append(u.rounds, resultColumns{})
	}
	c := &u.rounds[n]
	var next *int64
	if !r.Outcome.Status.Final() {
		at := r.Outcome.NextAttemptAt
		if at.IsZero() {
			at = r.Attempt.CreatedAt
		}
		next = nullMS(at)
	}
	var owner *string
	if r.Owner != "" {
		owner = &r.Owner
	}
	c.msgID = append(c.msgID, key.MsgID)
	c.endpointID = append(c.endpointID, key.EndpointID)
	c.status = append(c.status, int16(r.Outcome.Status))
	c.attempts = append(c.attempts, int32(r.Attempts))
	c.before = append(c.before, int32(r.Before()))
	c.interrupted = append(c.interrupted, r.Interrupted)
	c.next = append(c.next, next)
	c.updated = append(c.updated, ms(r.Attempt.CreatedAt))
	c.owner = append(c.owner, owner)
}

// endpointHealth is what a group's results, taken in order, do to one
// endpoint.
type endpointHealth struct {
	reset        bool   // a success cleared FailingSince
	failingSince *int64 // first failure since then
	disable      bool
	disabledBy   int   // the first op that asked to disable it
	disabledAt   int64 // when, by its attempt
}

type healthUpdates struct {
	byID map[string]*endpointHealth
}

func (h *healthUpdates) add(op int, r store.Result) {
	if r.Interrupted {
		return
	}
	if h.byID == nil {
		h.byID = make(map[string]*endpointHealth)
	}
	e := h.byID[r.Attempt.EndpointID]
	if e == nil {
		e = &endpointHealth{}
		h.byID[r.Attempt.EndpointID] = e
	}
	switch {
	case r.Outcome.Status == herald.StatusSuccess:
		e.reset, e.failingSince = true, nil
	case e.failingSince == nil:
		e.failingSince = nullMS(r.Attempt.CreatedAt)
	}
	if r.Outcome.DisableEndpoint && !e.disable {
		e.disable, e.disabledBy, e.disabledAt = true, op, ms(r.Attempt.CreatedAt)
	}
}

func (h *healthUpdates) sortedIDs() []string {
	ids := make([]string, 0, len(h.byID))
	for id := range h.byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (h *healthUpdates) resets(ids []string) []bool {
	out := make([]bool, len(ids))
	for i, id := range ids {
		out[i] = h.byID[id].reset
	}
	return out
}

func (h *healthUpdates) failingSinces(ids []string) []*int64 {
	out := make([]*int64, len(ids))
	for i, id := range ids {
		out[i] = h.byID[id].failingSince
	}
	return out
}

// laterAttempts is, for each time (ms), the lowest ID of an attempt begun
// after it ("" for none).
func laterAttempts(since []*int64) []string {
	out := make([]string, len(since))
	for i, at := range since {
		if at != nil {
			out[i] = herald.IDFloor(herald.PrefixAttempt, time.UnixMilli(*at+1))
		}
	}
	return out
}

// toDisable returns the endpoints to disable and when.
func (h *healthUpdates) toDisable(ids []string) ([]string, []int64) {
	var (
		out []string
		at  []int64
	)
	for _, id := range ids {
		if e := h.byID[id]; e.disable {
			out, at = append(out, id), append(at, e.disabledAt)
		}
	}
	return out, at
}
