package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heraldhq/herald/internal/store"
)

// releaseOp is one ReleaseLeases of given deliveries waiting for its group
// commit.
type releaseOp struct {
	owner     string
	keys      []store.DeliveryKey
	notBefore []int64 // per key, for DeferLeases; nil: due at once
}

// runRelease commits the releases of one group in one transaction (see
// runGroup). A node spills fresh deliveries back to the database whenever
// an endpoint's queue is full, as it soon is while its circuit is open,
// which can be every publish to a failing endpoint: a transaction each,
// with the NOTIFY that PostgreSQL serializes at commit across the whole
// server, held up the healthy traffic's commits.
func (db *DB) runRelease(ctx context.Context, ops []*releaseOp) []error {
	return runGroup(ctx, db, ops, db.releaseBatch)
}

// The group's rows are locked first (lockDeliveries), in key order like
// every multi-row writer of deliveries, and then updated by ctid, which the
// locks keep current (see the statements in record.go). Each row is looked
// up by its key alone: with the owner and status in the same lookup, a
// generic plan made on an empty table may read the endpoint's open
// deliveries or the owner's leases through their partial indexes instead,
// all of them per key. The owner and status are checked outside, where
// OFFSET 0 keeps them. releaseLeased makes each row due again as of when
// it was leased, or at its circuit's RetryAt, or parks it behind an earlier
// delivery to its ordered endpoint (fifo.go), and a deferred row is not due
// before its own time (0 for a plain release), and is marked for
// ExpeditePaced.
const releaseLeased = orderedFrom + `$2` + orderedEnd + `UPDATE deliveries d SET lease_owner = NULL,
		next_attempt_at = GREATEST(COALESCE(d.leased_at, d.next_attempt_at), ` + circuitRetry + `, ` + waitingOrdered + `,
			k.not_before),
		paced = d.paced OR k.not_before > 0
	FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS k(msg_id, endpoint_id, owner, not_before),
		LATERAL (SELECT x.ctid, x.lease_owner, x.status FROM deliveries x
			WHERE x.msg_id = k.msg_id AND x.endpoint_id = k.endpoint_id OFFSET 0) AS x
	WHERE d.ctid = x.ctid AND x.lease_owner = k.owner AND x.status IN (1, 3)`

func (db *DB) releaseBatch(ctx context.Context, ops []*releaseOp) error {
	var msgIDs, epIDs, owners []string
	var notBefore []int64
	// Deferred rows are not due yet: waking the other nodes for them would
	// have them claim nothing.
	now, notify := ms(time.Now()), false
	for _, op := range ops {
		for i, k := range op.keys {
			msgIDs = append(msgIDs, k.MsgID)
			epIDs = append(epIDs, k.EndpointID)
			owners = append(owners, op.owner)
			var t int64
			if op.notBefore != nil {
				t = op.notBefore[i]
			}
			notBefore = append(notBefore, t)
			notify = notify || t <= now
		}
	}
	var n int64
	b := &pgx.Batch{}
	b.Queue(lockOrdered, epIDs) // endpoints before deliveries, as everywhere (fifo.go)
	b.Queue(lockDeliveries, msgIDs, epIDs)
	b.Queue(releaseLeased, msgIDs, epIDs, owners, notBefore).Exec(func(tag pgconn.CommandTag) error {
		n = tag.RowsAffected()
		return nil
	})
	// Idle nodes claim what became due. A group whose rows had all
	// finished meanwhile (rare) wakes them for nothing.
	if notify {
		b.Queue(notifySQL, db.notifyPayload())
	}
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("release leases: %w", err)
	}
	db.log.DebugContext(ctx, "released leases", "calls", len(ops), "count", n)
	return nil
}
