package store

import (
	"context"
	"time"
)

// Retention deletes what outlived its retention period.
type Retention interface {
	// ExpireMessages deletes messages whose ExpiresAt is at or before now
	// and that have no unfinished delivery (pending or sending), together
	// with their deliveries and attempts, in one short transaction that
	// deletes or changes at most limit rows in all: a message's attempts
	// go first, then its deliveries, then the message once nothing refers
	// to it, so a message sent to many endpoints may take several calls,
	// and stays without its history in between. A message whose event ID
	// is still reserved (see Publish) is not deleted but loses its
	// payload, one row changed, and expires again when the reservation
	// ends, so the ID keeps refusing a second message whatever the batch
	// size. It returns how many rows it deleted or changed. Inbound events
	// keep their row; they refer to the message by ID only. Callers loop
	// until it returns fewer than limit: it does only once it found
	// nothing more to write.
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
	// ExpireRevokedSessions deletes up to limit session revocations (see
	// RevokeSession) that expired at or before now, when their session's
	// cookie is refused as expired anyway, in one short transaction, and
	// returns how many. Callers loop until it returns fewer than limit.
	ExpireRevokedSessions(ctx context.Context, now time.Time, limit int) (int, error)
}

// FirstExpiryPage is how many expired messages a store's ExpireMessages
// reads first, before it knows how many rows a message takes.
const FirstExpiryPage = 8

// NextExpiryPage returns how many messages the rows left will take, when
// the last page's messages took written rows: at least 1, at most left.
// Sizing pages by the rows seen keeps the lookups close to the rows a
// batch actually deletes, however wide its messages.
func NextExpiryPage(left, messages, written int) int {
	return max(1, min(left, (left*messages+written-1)/max(written, 1)))
}
