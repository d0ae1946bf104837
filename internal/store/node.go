package store

import (
	"context"
	"time"
)

// Nodes tracks the Herald nodes sharing one database, so a per-endpoint
// limit (concurrency, throttle rate) can be split between them and holds
// however many nodes run. Both engines implement it.
type Nodes interface {
	// HeartbeatNode records that nodeID is alive at now, forgets nodes not
	// seen since now-ttl, and returns the IDs of the live nodes, sorted.
	HeartbeatNode(ctx context.Context, nodeID string, now time.Time, ttl time.Duration) ([]string, error)
	// ForgetNode removes nodeID, when it shuts down.
	ForgetNode(ctx context.Context, nodeID string) error
}

// Clock is a store with a clock of its own, shared by nodes that may run
// on other machines (PostgreSQL). Leases are written by one node's clock
// and compared by another's, so each node measures how far its clock is
// from the store's and keeps the store's time.
type Clock interface {
	Now(ctx context.Context) (time.Time, error)
}
