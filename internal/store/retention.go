package store

import (
	"context"
	"time"
)

// Retention deletes what outlived its retention period.
type Retention interface {
	// ExpireMessages deletes up to limit messages whose ExpiresAt is at or
	// before now and that have no unfinished delivery (pending or
	// sending), together with their deliveries and attempts, in one short
	// transaction, and returns how many messages it deleted. Inbound events
	// keep their row; they refer to the message by ID only. Callers loop
	// until it returns fewer than limit.
	ExpireMessages(ctx context.Context, now time.Time, limit int) (int, error)
	// ExpireInboundEvents deletes up to limit inbound events received at
	// or before before, oldest first, in one short transaction, and
	// returns how many it deleted. The messages they became stay (they
	// expire on their own). Callers loop until it returns fewer than
	// limit, and keep before older than any source's dedupe window, so
	// no event that still deduplicates is deleted.
	ExpireInboundEvents(ctx context.Context, before time.Time, limit int) (int, error)
	// ExpireIdempotencyKeys deletes up to limit idempotency records whose
	// key expired at or before now (it may be reused; the saved answer,
	// which can hold a message's payload, must not outlive it), in one
	// short transaction, and returns how many. Callers loop until it
	// returns fewer than limit.
	ExpireIdempotencyKeys(ctx context.Context, now time.Time, limit int) (int, error)
}
