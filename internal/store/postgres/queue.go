package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// claimDeliveries leases due rows in one statement. FOR UPDATE SKIP LOCKED
// lets concurrent claimers (this node's or another's) pass over each
// other's rows instead of waiting or taking them twice. A row whose lease
// by another owner expired is being recovered from a dead node.
//
// Rows wait while their endpoint's circuit is open, and, for an ordered
// endpoint, while an earlier delivery to it is unfinished (leased or not,
// so a concurrent claim cannot pass it either).
const claimDeliveries = `WITH c AS (
	SELECT d.msg_id, d.endpoint_id, d.next_attempt_at AS due FROM deliveries d
	WHERE d.status IN (1, 3) AND d.next_attempt_at <= $1 AND NOT EXISTS (
		SELECT 1 FROM endpoints e WHERE e.id = d.endpoint_id AND (
			(e.circuit_state <> 0 AND e.circuit_retry_at > $1)
			OR (e.ordered AND (d.created_at, d.msg_id) <> ` + headFrom + `d.endpoint_id` + headEnd + `)))
	ORDER BY d.next_attempt_at
	LIMIT $2
	FOR UPDATE SKIP LOCKED
)
UPDATE deliveries d SET
	trigger = CASE WHEN d.lease_owner IS NOT NULL AND d.lease_owner <> $3 THEN 2 ELSE d.trigger END,
	lease_owner = $3, next_attempt_at = $4, leased_at = $1, updated_at = $1
FROM c WHERE d.msg_id = c.msg_id AND d.endpoint_id = c.endpoint_id
RETURNING d.msg_id, d.endpoint_id, d.app_id, d.status, d.attempts, d.trigger, d.created_at, c.due`

// Claim leases up to limit due deliveries to owner until now+lease, oldest
// due first, with their messages and endpoints. Rows held by other claims
// are skipped, never waited for.
func (db *DB) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.Job, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	jobs, err := db.claim(ctx, owner, now, lease, limit)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", db.mapCallErr(ctx, err))
	}
	return jobs, nil
}

// claim leases and loads the jobs in one transaction: a claim that cannot
// load them (a lost connection) leases nothing. Committed, its leases would
// keep the rows from every node until they expire, while this one never
// sends them. An endpoint whose secrets do not open fails only its own
// deliveries' part of the claim (jobs).
func (db *DB) claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	var jobs []store.Job
	sweep := db.sweepDue(now)
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if sweep {
			if _, err := tx.Exec(ctx, unparkHeads, oneShot, ms(now)); err != nil {
				return err
			}
		}
		jobs = nil
		for round := 0; ; round++ {
			got, held, err := db.claimIn(ctx, tx, owner, now, lease, limit-len(jobs))
			if err != nil {
				return err
			}
			jobs = append(jobs, got...)
			// Held-back rows took places in the batch (store.ClaimRefills).
			if held == 0 || len(jobs) >= limit || round == store.ClaimRefills {
				return nil
			}
		}
	})
	if err == nil && sweep {
		db.swept(now)
	}
	return jobs, err
}

func (db *DB) claimIn(ctx context.Context, tx pgx.Tx, owner string, now time.Time, lease time.Duration, limit int) ([]store.Job, int, error) {
	rows, err := tx.Query(ctx, claimDeliveries, ms(now), limit, owner, ms(now.Add(lease)))
	if err != nil {
		return nil, 0, err
	}
	var (
		del        herald.Delivery
		status     int16
		trigger    int16
		created    int64
		due        int64
		deliveries []herald.Delivery
		dueAt      = make(map[store.DeliveryKey]int64)
	)
	_, err = pgx.ForEachRow(rows, []any{&del.MsgID, &del.EndpointID, &del.AppID, &status, &del.Attempts, &trigger, &created, &due},
		func() error {
			del.Status, del.Trigger = herald.MessageStatus(status), herald.Trigger(trigger)
			del.CreatedAt = fromMS(created)
			del.NextAttemptAt, del.UpdatedAt = fromMS(ms(now.Add(lease))), fromMS(ms(now))
			del.LeaseOwner = owner
			deliveries = append(deliveries, del)
			dueAt[store.DeliveryKey{MsgID: del.MsgID, EndpointID: del.EndpointID}] = due
			return nil
		})
	if err != nil || len(deliveries) == 0 {
		return nil, 0, err
	}
	// RETURNING does not keep the claim's order: oldest due first.
	slices.SortFunc(deliveries, func(a, b herald.Delivery) int {
		ka := store.DeliveryKey{MsgID: a.MsgID, EndpointID: a.EndpointID}
		kb := store.DeliveryKey{MsgID: b.MsgID, EndpointID: b.EndpointID}
		if c := cmp.Compare(dueAt[ka], dueAt[kb]); c != 0 {
			return c
		}
		if c := strings.Compare(a.MsgID, b.MsgID); c != 0 {
			return c
		}
		return strings.Compare(a.EndpointID, b.EndpointID)
	})
	return db.jobs(ctx, tx, now, deliveries)
}

// jobs loads the messages and endpoints of claimed deliveries in one round
// trip. A delivery whose message or endpoint is gone, or whose endpoint is
// disabled, is canceled instead. One whose endpoint's secrets do not open
// (a key missing from the keyring, a corrupt row) is neither sent unsigned
// nor failed: it is given back unleased, due after UnreadableSecretsRetry,
// so that these claims and the next ones go on with the other endpoints.
func (db *DB) jobs(ctx context.Context, tx pgx.Tx, now time.Time, deliveries []herald.Delivery) ([]store.Job, int, error) {
	var msgIDs, epIDs []string
	for _, d := range deliveries {
		msgIDs = append(msgIDs, d.MsgID)
		epIDs = append(epIDs, d.EndpointID)
	}
	msgs := make(map[string]*herald.Message)
	eps := make(map[string]*herald.Endpoint)
	var unreadable map[string]error
	b := &pgx.Batch{}
	b.Queue(jobMessages, msgIDs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				return err
			}
			msgs[m.ID] = &m
		}
		return rows.Err()
	})
	b.Queue(jobEndpoints, epIDs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			ep, err := db.scanEndpoint(rows)
			if se := (*secretsError)(nil); errors.As(err, &se) {
				if unreadable == nil {
					unreadable = make(map[string]error)
				}
				unreadable[se.endpointID] = se
				continue
			}
			if err != nil {
				return err
			}
			eps[ep.ID] = &ep
		}
		return rows.Err()
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, 0, err
	}
	jobs := make([]store.Job, 0, len(deliveries))
	var orphanMsg, orphanEp []string
	held := &pgx.Batch{}
	for _, d := range deliveries {
		m, e := msgs[d.MsgID], eps[d.EndpointID]
		if m != nil && unreadable[d.EndpointID] != nil {
			held.Queue(holdUnreadable, d.MsgID, d.EndpointID, ms(now.Add(store.UnreadableSecretsRetry)))
			continue
		}
		if m == nil || e == nil || e.Disabled {
			orphanMsg, orphanEp = append(orphanMsg, d.MsgID), append(orphanEp, d.EndpointID)
			continue
		}
		jobs = append(jobs, store.Job{Delivery: d, Message: m, Endpoint: e})
	}
	if len(orphanMsg) > 0 {
		// Rare, so one statement per row: a join would risk a cached plan
		// that scans the table (TestHotStatementsKeepTheirIndexes).
		b := &pgx.Batch{}
		for i := range orphanMsg {
			b.Queue(cancelOrphan, orphanMsg[i], orphanEp[i])
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return nil, 0, err
		}
	}
	if held.Len() > 0 {
		if err := tx.SendBatch(ctx, held).Close(); err != nil {
			return nil, 0, err
		}
		store.WarnUnreadableSecrets(ctx, db.log, &db.lastSecretsWarn, unreadable, held.Len())
	}
	return jobs, held.Len(), nil
}

// jobMessages loads the messages of claimed deliveries one key at a time
// (see the note on the statements in record.go).
const jobMessages = `SELECT m.* FROM (SELECT DISTINCT id FROM unnest($1::text[]) AS k(id)) AS k,
	LATERAL (SELECT ` + messageColumnList + ` FROM messages WHERE id = k.id OFFSET 0) AS m`

// jobEndpoints loads the endpoints of claimed deliveries one key at a time.
const jobEndpoints = `SELECT e.* FROM (SELECT DISTINCT id FROM unnest($1::text[]) AS k(id)) AS k,
	LATERAL (SELECT ` + endpointColumns + ` FROM endpoints WHERE id = k.id OFFSET 0) AS e`

const cancelOrphan = `UPDATE deliveries SET status = 4, next_attempt_at = NULL, lease_owner = NULL
	WHERE msg_id = $1 AND endpoint_id = $2`

// holdUnreadable gives back a claimed delivery whose endpoint's secrets do
// not open, unleased and due at $3 (jobs).
const holdUnreadable = `UPDATE deliveries SET lease_owner = NULL, leased_at = NULL, next_attempt_at = $3
	WHERE msg_id = $1 AND endpoint_id = $2`

// circuitRetry is the RetryAt of d's endpoint's circuit unless it is
// closed (NULL then, which GREATEST ignores).
const circuitRetry = `(SELECT e.circuit_retry_at FROM endpoints e
	WHERE e.id = d.endpoint_id AND e.circuit_state <> 0)`

// ownedRows selects and locks the rows owner holds, in key order: every
// multi-row writer of deliveries locks in that order, so they never
// deadlock each other.
const ownedRows = `SELECT msg_id, endpoint_id FROM deliveries
	WHERE lease_owner = $1 AND status IN (1, 3)
	ORDER BY msg_id, endpoint_id FOR UPDATE`

// extendChunk bounds the keys of one ExtendLeases transaction, so that a
// heartbeat of a large backlog holds its row locks a chunk at a time and
// writers waiting on one of them do not wait for all of it.
const extendChunk = 4000

// extendLeased pushes the leases on the keys $1, $2 that $3 still holds to
// $4. Like releaseLeased, it runs after lockDeliveries, finds each row by
// its key alone and updates it by ctid; the owner and status are checked
// outside the lookup, where OFFSET 0 keeps them.
const extendLeased = `UPDATE deliveries d SET next_attempt_at = $4
	FROM unnest($1::text[], $2::text[]) AS k(msg_id, endpoint_id),
		LATERAL (SELECT x.ctid, x.lease_owner, x.status FROM deliveries x
			WHERE x.msg_id = k.msg_id AND x.endpoint_id = k.endpoint_id OFFSET 0) AS x
	WHERE d.ctid = x.ctid AND x.lease_owner = $3 AND x.status IN (1, 3)`

// ExtendLeases pushes owner's leases on deliveries to until, extendChunk
// keys per transaction, each locking its rows in key order like every
// multi-row writer of deliveries. A delivery owner does not hold is left
// alone, and so are owner's leases not in deliveries. A chunk that fails
// does not stop the others: each lease missed now may run out.
func (db *DB) ExtendLeases(ctx context.Context, owner string, deliveries []store.DeliveryKey, until time.Time) error {
	var errs []error
	for chunk := range slices.Chunk(deliveries, extendChunk) {
		if err := db.extendLeases(ctx, owner, chunk, until); err != nil {
			errs = append(errs, fmt.Errorf("extend leases: %w", err))
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}

func (db *DB) extendLeases(ctx context.Context, owner string, keys []store.DeliveryKey, until time.Time) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	msgIDs, epIDs := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		msgIDs[i], epIDs[i] = k.MsgID, k.EndpointID
	}
	b := &pgx.Batch{}
	b.Queue(lockDeliveries, msgIDs, epIDs)
	b.Queue(extendLeased, msgIDs, epIDs, owner, ms(until))
	return db.mapCallErr(ctx, db.pool.SendBatch(ctx, b).Close())
}

// ReleaseLeases gives up owner's leases on deliveries, or on all of them
// when deliveries is nil: each becomes due again as of when it was leased,
// so any node claims it at once, and idle nodes are notified. A delivery
// whose endpoint's circuit blocks becomes due at the circuit's RetryAt
// instead (hold.go). Concurrent releases of given deliveries share one
// transaction (release.go).
func (db *DB) ReleaseLeases(ctx context.Context, owner string, deliveries []store.DeliveryKey) error {
	switch {
	case deliveries == nil:
		ctx, cancel := db.callCtx(ctx)
		defer cancel()
		n, err := db.changeNotify(ctx, func(tx pgx.Tx) (int64, error) {
			if _, err := tx.Exec(ctx, `SELECT count(*) FROM (SELECT id FROM endpoints WHERE ordered AND id IN
				(SELECT endpoint_id FROM deliveries WHERE lease_owner = $1 AND status IN (1, 3))
				ORDER BY id FOR SHARE) AS l`, owner); err != nil {
				return 0, err // endpoints before deliveries (fifo.go)
			}
			tag, err := tx.Exec(ctx, orderedFrom+`ARRAY(SELECT DISTINCT endpoint_id FROM deliveries
				WHERE lease_owner = $1 AND status IN (1, 3))`+orderedEnd+`UPDATE deliveries d SET lease_owner = NULL,
				next_attempt_at = GREATEST(COALESCE(d.leased_at, d.next_attempt_at), `+circuitRetry+`, `+waitingOrdered+`)
				FROM (`+ownedRows+`) AS o WHERE d.msg_id = o.msg_id AND d.endpoint_id = o.endpoint_id`, owner)
			return tag.RowsAffected(), err
		})
		if err != nil {
			return fmt.Errorf("release leases: %w", db.mapCallErr(ctx, err))
		}
		db.log.DebugContext(ctx, "released leases", "owner", owner, "count", n)
	case len(deliveries) > 0:
		if err := db.release.Do(ctx, &releaseOp{owner: owner, keys: deliveries}); err != nil {
			return fmt.Errorf("release leases: %w", err)
		}
	}
	return nil
}

// DeferLeases releases owner's leases on the deliveries as ReleaseLeases
// does, each due no earlier than its NotBefore; it shares the releases'
// group commits.
func (db *DB) DeferLeases(ctx context.Context, owner string, deliveries []store.Deferral) error {
	if len(deliveries) == 0 {
		return nil
	}
	op := &releaseOp{owner: owner, keys: make([]store.DeliveryKey, len(deliveries)), notBefore: make([]int64, len(deliveries))}
	for i, d := range deliveries {
		op.keys[i], op.notBefore[i] = d.DeliveryKey, ms(d.NotBefore)
	}
	if err := db.release.Do(ctx, op); err != nil {
		return fmt.Errorf("defer leases: %w", err)
	}
	return nil
}

// Resend schedules a manual attempt of the message to the endpoint at now,
// creating the delivery if the message never went there. A final delivery
// starts over, pending with a fresh attempt count; a leased one is left to
// the node that holds it, which is about to attempt it. ErrNotFound if the
// message or the endpoint is not the app's.
func (db *DB) Resend(ctx context.Context, appID, msgID, endpointID string, now time.Time) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	n, err := db.changeNotify(ctx, func(tx pgx.Tx) (int64, error) {
		ordered, err := endpointOrdered(ctx, tx, endpointID, "FOR SHARE")
		if err != nil {
			return 0, err
		}
		// Nothing ties a delivery to its message but this lock: retention
		// deletes a message it holds FOR UPDATE, so a resend waits for a
		// delete in progress and then finds no message, rather than
		// leaving a delivery of a deleted message.
		var one int
		err = tx.QueryRow(ctx, `SELECT 1 FROM messages WHERE id = $1 AND app_id = $2 FOR KEY SHARE`, msgID, appID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO deliveries AS d (msg_id, endpoint_id, app_id, status, attempts,
			next_attempt_at, trigger, created_at, updated_at)
		SELECT m.id, e.id, m.app_id, 1, 0,
			GREATEST($4, CASE WHEN e.circuit_state <> 0 THEN e.circuit_retry_at END), 1, $4, $4
		FROM messages m, endpoints e
		WHERE m.app_id = $1 AND m.id = $2 AND e.app_id = $1 AND e.id = $3
		ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET
			status = CASE WHEN d.status IN (1, 3) THEN d.status ELSE 1 END,
			attempts = CASE WHEN d.status IN (1, 3) THEN d.attempts ELSE 0 END,
			next_attempt_at = EXCLUDED.next_attempt_at, trigger = 1, lease_owner = NULL, leased_at = NULL, updated_at = $4
		WHERE d.lease_owner IS NULL`,
			appID, msgID, endpointID, ms(now))
		if err != nil || !ordered || tag.RowsAffected() == 0 {
			return tag.RowsAffected(), err
		}
		_, err = tx.Exec(ctx, `UPDATE deliveries d SET next_attempt_at = GREATEST(d.next_attempt_at, `+waitingHead+`)
			WHERE d.msg_id = $1 AND d.endpoint_id = $2 AND d.lease_owner IS NULL AND d.status IN (1, 3)`, msgID, endpointID)
		return tag.RowsAffected(), err
	})
	if err == nil && n == 0 {
		// Nothing to insert or update: no such message or endpoint, or a
		// delivery in a node's hands.
		var leased bool
		err = db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries
			WHERE msg_id = $1 AND endpoint_id = $2 AND app_id = $3 AND lease_owner IS NOT NULL)`,
			msgID, endpointID, appID).Scan(&leased)
		if err == nil && !leased {
			err = herald.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("resend %s to %s: %w", msgID, endpointID, db.mapCallErr(ctx, err))
	}
	return nil
}

// Recover schedules a new attempt at now for the endpoint's failed and
// canceled deliveries created in [since, until), except of messages whose
// payload was expunged, and returns how many; each
// starts over, pending with a fresh attempt count. Zero bounds are open.
// ErrNotFound if the endpoint is not the app's.
func (db *DB) Recover(ctx context.Context, appID, endpointID string, since, until, now time.Time) (int, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	if err := db.endpointExists(ctx, appID, endpointID); err != nil {
		return 0, fmt.Errorf("recover %s: %w", endpointID, err)
	}
	var q query
	q.add(`UPDATE deliveries d SET status = 1, attempts = 0, next_attempt_at = GREATEST(`, q.arg(ms(now)),
		`::bigint, `+circuitRetry+`), trigger = 2, lease_owner = NULL, leased_at = NULL, updated_at = `, q.arg(ms(now)),
		` WHERE endpoint_id = `, q.arg(endpointID), ` AND app_id = `, q.arg(appID), ` AND status IN (2, 4)`,
		// An expunged message has nothing to send (Svix's worker drops
		// it), so its delivery stays failed.
		` AND EXISTS (SELECT 1 FROM messages m WHERE m.id = d.msg_id AND m.payload IS NOT NULL)`)
	q.timeRange("d.", since, until)
	n, err := db.changeNotify(ctx, func(tx pgx.Tx) (int64, error) {
		ordered, err := endpointOrdered(ctx, tx, endpointID, "FOR SHARE")
		if err != nil {
			return 0, err
		}
		tag, err := tx.Exec(ctx, q.String(), q.args...)
		if err != nil || !ordered || tag.RowsAffected() == 0 {
			return tag.RowsAffected(), err
		}
		_, err = tx.Exec(ctx, parkWaiting, endpointID)
		return tag.RowsAffected(), err
	})
	if err != nil {
		return 0, fmt.Errorf("recover %s: %w", endpointID, db.mapCallErr(ctx, err))
	}
	return int(n), nil
}

// endpointExists returns ErrNotFound unless the endpoint is the app's.
func (db *DB) endpointExists(ctx context.Context, appID, endpointID string) error {
	var one int
	err := db.pool.QueryRow(ctx, `SELECT 1 FROM endpoints WHERE id = $1 AND app_id = $2`, endpointID, appID).Scan(&one)
	return db.mapCallErr(ctx, err)
}

// Backlog counts deliveries that are not final.
func (db *DB) Backlog(ctx context.Context) (int64, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var n int64
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE status IN (1, 3)`).Scan(&n); err != nil {
		return 0, fmt.Errorf("backlog: %w", db.mapCallErr(ctx, err))
	}
	return n, nil
}

// execNotify runs sql and, in the same transaction, notifies idle nodes if
// it changed any row. It returns the number of rows changed.
func (db *DB) execNotify(ctx context.Context, sql string, args ...any) (int64, error) {
	return db.changeNotify(ctx, func(tx pgx.Tx) (int64, error) {
		tag, err := tx.Exec(ctx, sql, args...)
		return tag.RowsAffected(), err
	})
}

// changeNotify runs change in a transaction and notifies idle nodes in it
// if change reports that it changed rows. It returns that number.
func (db *DB) changeNotify(ctx context.Context, change func(pgx.Tx) (int64, error)) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		if n, err = change(tx); err != nil || n == 0 {
			return err
		}
		_, err = tx.Exec(ctx, notifySQL, db.notifyPayload())
		return err
	})
	return n, err
}
