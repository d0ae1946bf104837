package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

const (
	// sqlClaim leases the oldest due rows through the partial index
	// deliveries_due. A row whose lease belonged to another owner was
	// abandoned by a dead node: its next attempt is a recovery. Rows wait
	// while their endpoint's circuit is open, and, for an ordered
	// endpoint, while an earlier delivery to it is unfinished.
	sqlClaim = `UPDATE deliveries SET lease_owner = ?1, next_attempt_at = ?2, updated_at = ?3,
			trigger = CASE WHEN lease_owner IS NOT NULL AND lease_owner <> ?1 THEN 2 ELSE trigger END
		WHERE (msg_id, endpoint_id) IN (
			SELECT d.msg_id, d.endpoint_id FROM deliveries d
			WHERE d.status IN (1, 3) AND d.next_attempt_at <= ?3 AND NOT EXISTS (` + sqlHeldBack + `)
			ORDER BY d.next_attempt_at LIMIT ?4)
		RETURNING msg_id, endpoint_id, app_id, status, attempts, trigger, created_at`
	// sqlHeldBack finds the endpoint of delivery d if it holds d back at ?3.
	sqlHeldBack = `SELECT 1 FROM endpoints e WHERE e.id = d.endpoint_id AND (
			(e.circuit_state <> 0 AND e.circuit_retry_at > ?3)
			OR (e.ordered = 1 AND (d.created_at, d.msg_id) <> ` + headFrom + `d.endpoint_id` + headEnd + `))`
	// sqlExtendLease finds its row by primary key; the owner and status
	// only filter it (TestClaimUsesTheDueIndexOnALargeBacklog).
	sqlExtendLease = `UPDATE deliveries SET next_attempt_at = ?
		WHERE msg_id = ? AND endpoint_id = ? AND lease_owner = ? AND status IN (1, 3)`
	// A released row becomes due as of when it was last claimed or
	// published, which is never later than any clock reading after that;
	// if its endpoint's circuit blocks, at the circuit's RetryAt (hold.go);
	// if it waits behind an earlier delivery to an ordered endpoint, never
	// until its turn (fifo.go).
	sqlReleaseOwnerLeases = `UPDATE deliveries SET lease_owner = NULL, next_attempt_at = ` + releasedDue + `
		WHERE lease_owner = ?`
	sqlReleaseLease = `UPDATE deliveries SET lease_owner = NULL, next_attempt_at = ` + releasedDue + `
		WHERE msg_id = ? AND endpoint_id = ? AND lease_owner = ?`
	// A deferred row is released, due no earlier than ?4, and marked for
	// ExpeditePaced.
	sqlDeferLease = `UPDATE deliveries SET lease_owner = NULL, next_attempt_at = MAX(` + releasedDue + `, ?4), paced = 1
		WHERE msg_id = ?1 AND endpoint_id = ?2 AND lease_owner = ?3`
	releasedDue = `MAX(updated_at, COALESCE((SELECT e.circuit_retry_at FROM endpoints e
		WHERE e.id = deliveries.endpoint_id AND e.circuit_state <> 0), 0), ` + parkedIfWaiting + `)`
	sqlCancelEndpointDeliveries = `UPDATE deliveries SET status = 4, next_attempt_at = NULL,
			lease_owner = NULL, updated_at = ?
		WHERE endpoint_id = ? AND status IN (1, 3)`
)

// claimChunk bounds the IDs in one IN list when loading claimed rows.
const claimChunk = 500

// extendChunk bounds the leases one write of ExtendLeases extends, so that
// other writes interleave with a heartbeat of a large backlog.
const extendChunk = 1000

// Claim leases up to limit due deliveries to owner until now+lease and
// returns them with their message and endpoint, in message ID order.
// Deliveries whose endpoint is gone or disabled are canceled instead of
// returned; those whose endpoint's secrets do not open are held back, and
// the claim takes more in their place (store.ClaimRefills).
func (db *DB) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	var jobs []store.Job
	sweep := db.sweepDue(now)
	err := db.write(ctx, func(ctx context.Context, w *wtx) error {
		if sweep {
			if _, err := w.exec(ctx, db.st.unparkHeads, ms(now)); err != nil {
				return mapErr("claim deliveries: unpark ordered heads", err)
			}
		}
		jobs = nil
		for round := 0; ; round++ {
			got, held, err := db.claim(ctx, w, owner, now, lease, limit-len(jobs))
			if err != nil {
				return err
			}
			jobs = append(jobs, got...)
			if held == 0 || len(jobs) >= limit || round == store.ClaimRefills {
				return nil
			}
		}
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(jobs, func(a, b store.Job) int {
		return cmp.Or(strings.Compare(a.Delivery.MsgID, b.Delivery.MsgID), strings.Compare(a.Delivery.EndpointID, b.Delivery.EndpointID))
	})
	if sweep {
		db.swept(now)
	}
	return jobs, nil
}

func (db *DB) claim(ctx context.Context, w *wtx, owner string, now time.Time, lease time.Duration, limit int) (jobs []store.Job, held int, err error) {
	until := now.Add(lease)
	rows, err := w.stmt(ctx, db.st.claim).QueryContext(ctx, owner, ms(until), ms(now), limit)
	if err != nil {
		return nil, 0, mapErr("claim deliveries", err)
	}
	var ds []herald.Delivery
	for rows.Next() {
		d := herald.Delivery{NextAttemptAt: until, LeaseOwner: owner, UpdatedAt: now}
		var status, trigger int
		var created int64
		if err := rows.Scan(&d.MsgID, &d.EndpointID, &d.AppID, &status, &d.Attempts, &trigger, &created); err != nil {
			rows.Close()
			return nil, 0, mapErr("claim deliveries", err)
		}
		d.Status, d.Trigger, d.CreatedAt = herald.MessageStatus(status), herald.Trigger(trigger), fromMS(created)
		ds = append(ds, d)
	}
	if err := rows.Close(); err != nil {
		return nil, 0, mapErr("claim deliveries", err)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, mapErr("claim deliveries", err)
	}
	if len(ds) == 0 {
		return nil, 0, nil
	}
	// RETURNING gives no order; message IDs sort by creation, which keeps
	// an endpoint's jobs in publish order for the dispatcher.
	slices.SortFunc(ds, func(a, b herald.Delivery) int {
		return cmp.Or(strings.Compare(a.MsgID, b.MsgID), strings.Compare(a.EndpointID, b.EndpointID))
	})

	msgIDs := make([]string, 0, len(ds))
	epIDs := make([]string, 0, 8)
	seenEp := make(map[string]bool, 8)
	for _, d := range ds {
		msgIDs = append(msgIDs, d.MsgID)
		if !seenEp[d.EndpointID] {
			seenEp[d.EndpointID] = true
			epIDs = append(epIDs, d.EndpointID)
		}
	}
	msgs := make(map[string]*herald.Message, len(msgIDs))
	err = loadByIDs(ctx, w.tx, `SELECT `+messageColumns+` FROM messages WHERE id IN `, msgIDs, func(s scanner) error {
		m, err := scanMessage(s)
		if err == nil {
			msgs[m.ID] = m
		}
		return err
	})
	if err != nil {
		return nil, 0, mapErr("claim deliveries: load messages", err)
	}
	eps := make(map[string]*herald.Endpoint, len(epIDs))
	var unreadable map[string]error // endpoints whose secrets do not open
	err = loadByIDs(ctx, w.tx, `SELECT `+endpointColumns+` FROM endpoints WHERE id IN `, epIDs, func(s scanner) error {
		ep, err := db.scanEndpoint(s)
		if se := (*secretsError)(nil); errors.As(err, &se) {
			if unreadable == nil {
				unreadable = make(map[string]error)
			}
			unreadable[se.endpointID] = se
			return nil
		}
		if err == nil {
			eps[ep.ID] = ep
		}
		return err
	})
	if err != nil {
		return nil, 0, mapErr("claim deliveries: load endpoints", err)
	}

	jobs = make([]store.Job, 0, len(ds))
	for _, d := range ds {
		m, ep := msgs[d.MsgID], eps[d.EndpointID]
		if m != nil && unreadable[d.EndpointID] != nil {
			// Unsigned it must not go, and failing the claim would fail
			// every claim that reaches it: it waits, unleased, for the key.
			_, err := w.tx.ExecContext(ctx, `UPDATE deliveries SET lease_owner = NULL, next_attempt_at = ?
				WHERE msg_id = ? AND endpoint_id = ?`, ms(now.Add(store.UnreadableSecretsRetry)), d.MsgID, d.EndpointID)
			if err != nil {
				return nil, 0, mapErr("claim deliveries: hold back", err)
			}
			held++
			continue
		}
		if m == nil || ep == nil || ep.Disabled {
			_, err := w.tx.ExecContext(ctx, `UPDATE deliveries SET status = 4, next_attempt_at = NULL,
				lease_owner = NULL, updated_at = ? WHERE msg_id = ? AND endpoint_id = ?`, ms(now), d.MsgID, d.EndpointID)
			if err != nil {
				return nil, 0, mapErr("claim deliveries: cancel", err)
			}
			continue
		}
		jobs = append(jobs, store.Job{Delivery: d, Message: m, Endpoint: ep})
	}
	if held > 0 {
		store.WarnUnreadableSecrets(ctx, db.log, &db.lastSecretsWarn, unreadable, held)
	}
	return jobs, held, nil
}

// loadByIDs runs prefix + "(?, ...)" for ids in chunks and scans each row.
func loadByIDs(ctx context.Context, tx *sql.Tx, prefix string, ids []string, scan func(scanner) error) error {
	for len(ids) > 0 {
		n := min(len(ids), claimChunk)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		rows, err := tx.QueryContext(ctx, prefix+"("+placeholders(n)+")", args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// ExtendLeases pushes owner's leases on deliveries to until, one row by
// key at a time, extendChunk rows per write. A delivery owner does not hold
// is left alone, and so are owner's leases not in deliveries. A chunk that
// fails does not stop the others: each lease missed now may run out.
func (db *DB) ExtendLeases(ctx context.Context, owner string, deliveries []store.DeliveryKey, until time.Time) error {
	var errs []error
	for chunk := range slices.Chunk(deliveries, extendChunk) {
		err := db.write(ctx, func(ctx context.Context, w *wtx) error {
			for _, k := range chunk {
				if _, err := w.exec(ctx, db.st.extendLease, ms(until), k.MsgID, k.EndpointID, owner); err != nil {
					return mapErr("extend leases", err)
				}
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// ReleaseLeases makes owner's leased deliveries due at once: those in
// keys, or all of them when keys is nil.
func (db *DB) ReleaseLeases(ctx context.Context, owner string, keys []store.DeliveryKey) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		if keys == nil {
			_, err := w.exec(ctx, db.st.releaseOwnerLeases, owner)
			return mapErr("release leases", err)
		}
		for _, k := range keys {
			if _, err := w.exec(ctx, db.st.releaseLease, k.MsgID, k.EndpointID, owner); err != nil {
				return mapErr("release leases", err)
			}
		}
		return nil
	})
}

// DeferLeases releases owner's leases on the deliveries as ReleaseLeases
// does, each due no earlier than its NotBefore.
func (db *DB) DeferLeases(ctx context.Context, owner string, deliveries []store.Deferral) error {
	if len(deliveries) == 0 {
		return nil
	}
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		for _, d := range deliveries {
			if _, err := w.exec(ctx, db.st.deferLease, d.MsgID, d.EndpointID, owner, ms(d.NotBefore)); err != nil {
				return mapErr("defer leases", err)
			}
		}
		return nil
	})
}

// Resend schedules a manual attempt of the message to the endpoint at now.
// A final delivery starts over with a fresh attempt count. A leased one is
// left to its holder, which is about to attempt it: made due, it would be
// claimed and sent a second time beside that attempt.
func (db *DB) Resend(ctx context.Context, appID, msgID, endpointID string, now time.Time) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		if err := exists(ctx, w.tx, "resend: message", `SELECT 1 FROM messages WHERE id = ? AND app_id = ?`, msgID, appID); err != nil {
			return err
		}
		if err := exists(ctx, w.tx, "resend: endpoint", `SELECT 1 FROM endpoints WHERE id = ? AND app_id = ?`, endpointID, appID); err != nil {
			return err
		}
		t, err := dueAt(ctx, w.tx, endpointID, now)
		if err != nil {
			return err
		}
		_, err = w.tx.ExecContext(ctx, `INSERT INTO deliveries
			(msg_id, endpoint_id, app_id, status, attempts, next_attempt_at, trigger, lease_owner, created_at, updated_at)
			VALUES (?1, ?2, ?3, 1, 0, ?4, 1, NULL, ?5, ?5)
			ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET
				status = CASE WHEN status IN (1, 3) THEN status ELSE 1 END,
				attempts = CASE WHEN status IN (1, 3) THEN attempts ELSE 0 END,
				next_attempt_at = ?4, trigger = 1, lease_owner = NULL, updated_at = ?5
			WHERE lease_owner IS NULL`,
			msgID, endpointID, appID, t, ms(now))
		if err != nil {
			return mapErr("resend", err)
		}
		_, err = w.tx.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = MAX(next_attempt_at, `+parkedIfWaiting+`)
			WHERE msg_id = ? AND endpoint_id = ? AND lease_owner IS NULL AND status IN (1, 3)`, msgID, endpointID)
		return mapErr("resend: park behind the endpoint's head", err)
	})
}

// Recover schedules a new attempt at now for the endpoint's failed or
// canceled deliveries created in [since, until), except of messages whose
// payload was expunged, and returns how many.
func (db *DB) Recover(ctx context.Context, appID, endpointID string, since, until, now time.Time) (int, error) {
	var n int64
	err := db.write(ctx, func(ctx context.Context, w *wtx) error {
		if err := exists(ctx, w.tx, "recover: endpoint", `SELECT 1 FROM endpoints WHERE id = ? AND app_id = ?`, endpointID, appID); err != nil {
			return err
		}
		var c where
		c.add("endpoint_id = ?", endpointID)
		c.add("app_id = ?", appID)
		c.add("status IN (2, 4)")
		// An expunged message has nothing to send (Svix's worker drops
		// it), so its delivery stays failed.
		c.add("EXISTS (SELECT 1 FROM messages m WHERE m.id = deliveries.msg_id AND m.payload IS NOT NULL)")
		timeRange(&c, "created_at", since, until)
		due, err := dueAt(ctx, w.tx, endpointID, now)
		if err != nil {
			return err
		}
		args := append([]any{due, ms(now)}, c.args...)
		res, err := w.tx.ExecContext(ctx, `UPDATE deliveries SET status = 1, attempts = 0, next_attempt_at = ?,
			trigger = 2, lease_owner = NULL, updated_at = ?`+c.String(), args...)
		if err != nil {
			return mapErr("recover", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return mapErr("recover", err)
		}
		var ordered bool
		if err := w.tx.QueryRowContext(ctx, `SELECT ordered FROM endpoints WHERE id = ?`, endpointID).Scan(&ordered); err != nil || !ordered {
			return mapErr("recover", err)
		}
		_, err = w.tx.ExecContext(ctx, sqlParkWaiting, endpointID)
		return mapErr("recover: park behind the endpoint's head", err)
	})
	return int(n), err
}

// dueAt is when a delivery to the endpoint made due at now is due: now,
// or the RetryAt of a circuit that blocks at now, so that a delivery an
// open circuit holds back stays out of the due head (hold.go).
func dueAt(ctx context.Context, tx *sql.Tx, endpointID string, now time.Time) (int64, error) {
	c, err := getCircuit(ctx, tx, endpointID)
	if err != nil {
		return 0, err
	}
	if c.State != herald.CircuitClosed && c.RetryAt.After(now) {
		return ms(c.RetryAt), nil
	}
	return ms(now), nil
}

// Backlog counts deliveries that are not final.
func (db *DB) Backlog(ctx context.Context) (int64, error) {
	var n int64
	err := db.reader.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE status IN (1, 3)`).Scan(&n)
	if err != nil {
		return 0, mapErr("backlog", err)
	}
	return n, nil
}

// timeRange adds col >= since and col < until for the bounds that are set.
func timeRange(w *where, col string, since, until time.Time) {
	if !since.IsZero() {
		w.add(col+" >= ?", ms(since))
	}
	if !until.IsZero() {
		w.add(col+" < ?", ms(until))
	}
}

// exists returns ErrNotFound unless q finds a row.
func exists(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, what, query string, args ...any) error {
	var one int
	if err := q.QueryRowContext(ctx, query, args...).Scan(&one); err != nil {
		return mapErr(what, err)
	}
	return nil
}
