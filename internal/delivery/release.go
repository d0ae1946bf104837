package delivery

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// unreleased holds the keys of deliveries that may be leased to this node
// in the database although it does not hold them in memory: a release the
// store refused, or a publish that failed but may have committed (its
// fresh deliveries leased to this node, never dispatched).
//
// The heartbeat extends every lease this node owns (store.ExtendLeases
// takes no keys), so such a lease would never run out while the process
// lives: the poller retries these releases, on each poll and heartbeat,
// until the store accepts them. Both stores skip a key not leased to this
// node, so retrying, or releasing a publish that never committed, is
// harmless.
//
// A kept release must never land on a delivery this node holds, or
// another claim would send it a second time: a claim forgets the keys it
// takes (poll.go), and a publish that began with its keys kept sends its
// deliveries through the database (dispatchFresh).
//
// Extending only the leases held in memory instead would need the store
// interface to take keys, and would write tens of thousands of rows by key
// at every heartbeat to catch an error that is rare.
type unreleased struct {
	n    atomic.Int64 // len(keys): the hot path skips the lock while empty
	mu   sync.Mutex
	keys map[store.DeliveryKey]struct{}
}

// maxUnreleased bounds the keys kept, about 10 MB. Past it new keys are
// dropped and stay leased until this node stops (its leases then run out,
// or a restart with the same node ID takes them back). Not extending the
// node's leases any more would free them sooner, but would also expire
// the leases of everything in memory, which this node or another would
// then claim and send a second time.
const maxUnreleased = 1 << 16

// releaseChunk bounds the keys of one retried release, so a long list
// does not hold the store's single writer in one transaction, and
// retryChunks the chunks one retry makes.
const releaseChunk = 1000

const retryChunks = 4

// add keeps keys and returns how many did not fit.
func (u *unreleased) add(keys []store.DeliveryKey) (dropped int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.keys == nil {
		u.keys = make(map[store.DeliveryKey]struct{})
	}
	for _, k := range keys {
		if len(u.keys) >= maxUnreleased {
			if _, ok := u.keys[k]; !ok {
				dropped++
			}
			continue
		}
		u.keys[k] = struct{}{}
	}
	u.n.Store(int64(len(u.keys)))
	return dropped
}

// remove forgets keys whose release the store accepted.
func (u *unreleased) remove(keys []store.DeliveryKey) {
	if u.n.Load() == 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, k := range keys {
		delete(u.keys, k)
	}
	u.n.Store(int64(len(u.keys)))
}

// forgetClaimed forgets the keys of claimed jobs.
func (u *unreleased) forgetClaimed(jobs []store.Job) {
	if u.n.Load() == 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, j := range jobs {
		delete(u.keys, store.DeliveryKey{MsgID: j.Delivery.MsgID, EndpointID: j.Delivery.EndpointID})
	}
	u.n.Store(int64(len(u.keys)))
}

// has reports whether any of deliveries awaits a release.
func (u *unreleased) has(deliveries []herald.Delivery) bool {
	if u.n.Load() == 0 {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, d := range deliveries {
		if _, ok := u.keys[store.DeliveryKey{MsgID: d.MsgID, EndpointID: d.EndpointID}]; ok {
			return true
		}
	}
	return false
}

// peek returns up to limit of the keys, leaving them kept.
func (u *unreleased) peek(limit int) []store.DeliveryKey {
	if u.n.Load() == 0 {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	keys := make([]store.DeliveryKey, 0, min(limit, len(u.keys)))
	for k := range u.keys {
		if len(keys) == limit {
			break
		}
		keys = append(keys, k)
	}
	return keys
}

// release hands the leases of keys, which this node does not hold in
// memory, back to the database. What the store refuses is kept for the
// poller to retry.
func (e *Engine) release(ctx context.Context, keys []store.DeliveryKey, what string) {
	if len(keys) == 0 {
		return // a nil list would release every lease of this node
	}
	if err := e.store.ReleaseLeases(ctx, e.cfg.NodeID, keys); err != nil {
		e.keepUnreleased(keys, "release "+what+"; retrying", err)
		return
	}
	e.unreleased.remove(keys)
}

// keepUnreleased keeps keys for the poller to release.
func (e *Engine) keepUnreleased(keys []store.DeliveryKey, msg string, err error) {
	dropped := e.unreleased.add(keys)
	if e.errLimit.allow("release", e.now()) {
		e.log.Error(msg, slog.Int("deliveries", len(keys)), slog.Any("error", err))
	}
	if dropped > 0 && e.errLimit.allow("release overflow", e.now()) {
		e.log.Error("too many leases to hand back; these stay with this node until it stops",
			slog.Int("deliveries", dropped))
	}
}

// keepPublished keeps the deliveries of a publish that failed: unless the
// store refused the message outright (a conflict), the commit may have
// gone through, leasing them to this node. One case stays open: a caller
// whose first publish did commit, and whose retry of the same message
// fails otherwise than with the conflict it was due, after this node
// claimed the deliveries. Their release then lands on a delivery being
// sent, which may go out twice; at-least-once allows it, and the receiver
// sees the same webhook-id.
func (e *Engine) keepPublished(deliveries []herald.Delivery, err error) {
	if len(deliveries) == 0 || errors.Is(err, herald.ErrConflict) {
		return
	}
	keys := make([]store.DeliveryKey, len(deliveries))
	for i, d := range deliveries {
		keys[i] = store.DeliveryKey{MsgID: d.MsgID, EndpointID: d.EndpointID}
	}
	e.keepUnreleased(keys, "publish failed and may have committed; releasing its deliveries", err)
}

// retryReleases tries again the releases kept by release and keepPublished,
// and reports whether some went through (their deliveries are due now).
// Only the poller calls it, between its claims: a claim therefore never
// races with it.
func (e *Engine) retryReleases(ctx context.Context) (released bool) {
	// A few chunks per call, so neither the heartbeat nor the claims
	// behind it wait long on a database that is slow to answer.
	for range retryChunks {
		if ctx.Err() != nil {
			break
		}
		keys := e.unreleased.peek(releaseChunk)
		if len(keys) == 0 {
			break
		}
		if err := e.store.ReleaseLeases(ctx, e.cfg.NodeID, keys); err != nil {
			if ctx.Err() == nil && e.errLimit.allow("release retry", e.now()) {
				e.log.Error("release leases again", slog.Int("deliveries", int(e.unreleased.n.Load())), slog.Any("error", err))
			}
			break
		}
		e.unreleased.remove(keys)
		released = true
	}
	return released
}
