package delivery

import (
	"context"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// Leases are written with one node's clock and compared with another's: a
// node whose clock ran ahead of the others by more than a lease's margin
// would claim deliveries another is still sending, and one behind would
// write leases the others already find expired. So with a store that has
// a clock of its own (store.Clock: PostgreSQL, shared by nodes on other
// machines), each node measures its offset from it at every heartbeat and
// keeps the store's time.

const (
	// clockStep is the least change in the measured offset a node
	// adopts: smaller ones are too small to matter to a lease and within
	// what one measurement can tell, and adopting them would step the
	// node's clock back and forth by a few milliseconds at every
	// heartbeat. So a node within it of the store keeps its own clock.
	clockStep = 100 * time.Millisecond
	// maxClockRoundTrip bounds the round trip a measurement may take to
	// count; a slower answer says little about the offset.
	maxClockRoundTrip = 500 * time.Millisecond
	// warnClockOffset is the offset worth telling the operator about.
	warnClockOffset = time.Second
)

// Now is the engine's clock, for the parts of Herald that write times its
// claims compare: the store's time where the store has a clock.
func (e *Engine) Now() time.Time { return e.now() }

// storeTime is the engine's clock: cfg.Now, corrected by the offset to
// the store's clock.
func (e *Engine) storeTime() time.Time {
	return e.cfg.Now().Add(time.Duration(e.offset.Load()))
}

// syncClock measures the offset to the store's clock, if it has one.
func (e *Engine) syncClock(ctx context.Context) {
	c, ok := e.store.(store.Clock)
	if !ok {
		return
	}
	before := e.cfg.Now()
	at, err := c.Now(ctx)
	rtt := e.cfg.Now().Sub(before)
	if err != nil || rtt > maxClockRoundTrip {
		return // the heartbeat reports the store's errors
	}
	off := at.Sub(before.Add(rtt / 2))
	old := time.Duration(e.offset.Load())
	if (off - old).Abs() < clockStep {
		return
	}
	e.offset.Store(int64(off))
	switch {
	case off.Abs() >= warnClockOffset && (off-old).Abs() >= warnClockOffset:
		e.log.Warn("this node's clock differs from the database's; leases use the database's time: check the node's time synchronisation (NTP)",
			slog.Duration("database_minus_node", off.Round(time.Millisecond)))
	case off.Abs() < warnClockOffset && old.Abs() >= warnClockOffset:
		e.log.Info("this node's clock agrees with the database's again")
	}
}
