package store

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrClosed is returned by GroupCommit.Do after Close.
var ErrClosed = errors.New("store closed")

// GroupCommit gathers write operations submitted concurrently and runs them
// in shared transactions, so durable throughput is not bounded by one fsync
// per operation. Batching is natural: while one transaction commits, new
// operations queue up and go into the next one, so a lone narrow operation
// waits for nothing.
type GroupCommit[Op any] struct {
	run      func(ctx context.Context, ops []Op) []error
	maxBatch int
	queue    chan *pending[Op]

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

type pending[Op any] struct {
	op     Op
	spread int // the index insertion points op writes at (see DoSpread)
	done   chan error
}

// Linger is the longest a worker holding two or more operations waits for
// more before it commits. Concurrent load then shares fewer, larger
// transactions, which costs each writer far less per operation (SQLite
// rewrites its hot pages into the WAL once per commit), while a lone
// operation on an idle store still commits at once. A batch holding a
// wide operation waits up to four times as long (see lingerWide).
//
// Within that bound the wait follows the transactions themselves: a worker
// waits half as long as its recent transactions took (see lingerClock).
// A fixed wait suits only one machine: where a transaction took about
// 4 ms, 2 ms was the best wait measured, but where one took 0.5 ms the
// same wait was most of each operation's latency, and since callers wait
// for their commit, throughput fell by a third.
const Linger = 2 * time.Millisecond

// lingerClock keeps a moving average of how long a worker's transactions
// take, execution and commit, and derives the worker's linger from it.
type lingerClock struct {
	max time.Duration
	avg time.Duration
}

// observe adds one transaction's duration to the average, weighted 1/8, so
// the linger follows the recent trend, not the last transaction.
func (c *lingerClock) observe(d time.Duration) { c.avg += (d - c.avg) / 8 }

// linger is half the average transaction, at most max: waiting that long
// adds at most half a transaction to an operation's latency, and gathers
// the operations that arrive meanwhile into one commit.
func (c *lingerClock) linger() time.Duration { return min(c.max, c.avg/2) }

// WideSpread is the spread from which an operation is wide: it writes a
// page of each per-endpoint index for each of that many endpoints (a
// publish that fans out, or the results of such deliveries).
const WideSpread = 8

// lingerWide is the linger of a batch holding a wide operation: twice the
// average transaction, at most four times max. Each commit rewrites every
// page it touched, and a wide operation touches a page per endpoint in
// each per-endpoint index, which the next wide operation to the same
// endpoints shares; so it is worth waiting for even alone. Narrow
// operations keep the short linger: there, callers waiting for their
// commit lose more to the wait than the commit saves.
func (c *lingerClock) lingerWide() time.Duration { return min(4*c.max, 2*c.avg) }

// NewGroupCommit starts workers goroutines that each take up to maxBatch
// queued operations and pass them to run, which must execute them in one
// transaction and return one error per operation (nil for success). A
// failing operation must not fail the others (use savepoints); an error
// that dooms the whole transaction is returned for every operation.
// maxLinger bounds how long a worker waits for more operations (Linger,
// for a store whose commits cost far more than their operations); 0 never
// waits.
func NewGroupCommit[Op any](workers, maxBatch int, maxLinger time.Duration, run func(ctx context.Context, ops []Op) []error) *GroupCommit[Op] {
	return newGroupCommit(workers, maxBatch, lingerClock{max: maxLinger}, run)
}

// newGroupCommit starts the workers, each with its own copy of clock.
func newGroupCommit[Op any](workers, maxBatch int, clock lingerClock, run func(ctx context.Context, ops []Op) []error) *GroupCommit[Op] {
	g := &GroupCommit[Op]{
		run:      run,
		maxBatch: maxBatch,
		queue:    make(chan *pending[Op], maxBatch*workers*4),
		closed:   make(chan struct{}),
	}
	for range workers {
		g.wg.Add(1)
		go g.loop(clock)
	}
	return g
}

// Do submits op and waits until its transaction has committed or failed.
// Once submitted, op is waited for even if ctx ends, so a caller never
// reports failure for a write that committed.
func (g *GroupCommit[Op]) Do(ctx context.Context, op Op) error {
	return g.DoSpread(ctx, op, 1)
}

// DoSpread is Do for an operation that writes at spread insertion points
// of the per-endpoint indexes (the endpoints it writes deliveries or
// attempts for): a wide one makes its batch linger longer (lingerWide).
func (g *GroupCommit[Op]) DoSpread(ctx context.Context, op Op, spread int) error {
	p := &pending[Op]{op: op, spread: spread, done: make(chan error, 1)}
	select {
	case <-g.closed:
		return ErrClosed
	default:
	}
	select {
	case g.queue <- p:
	case <-ctx.Done():
		return ctx.Err()
	case <-g.closed:
		return ErrClosed
	}
	return <-p.done
}

// gather adds operations that arrive within linger, up to a full batch.
func (g *GroupCommit[Op]) gather(batch []*pending[Op], linger time.Duration) []*pending[Op] {
	if linger <= 0 {
		return batch
	}
	t := time.NewTimer(linger)
	defer t.Stop()
	for len(batch) < g.maxBatch {
		select {
		case p := <-g.queue:
			batch = append(batch, p)
		case <-t.C:
			return batch
		case <-g.closed:
			return batch
		}
	}
	return batch
}

// Close stops accepting operations, finishes the queued ones, and waits
// for the workers. It is safe to call more than once.
func (g *GroupCommit[Op]) Close() {
	g.closeOnce.Do(func() { close(g.closed) })
	g.wg.Wait()
}

func (g *GroupCommit[Op]) loop(clock lingerClock) {
	defer g.wg.Done()
	batch := make([]*pending[Op], 0, g.maxBatch)
	ops := make([]Op, 0, g.maxBatch)
	for {
		var first *pending[Op]
		select {
		case first = <-g.queue:
		case <-g.closed:
			// Drain what was queued before Close.
			select {
			case first = <-g.queue:
			default:
				return
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < g.maxBatch {
			select {
			case p := <-g.queue:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		if len(batch) < g.maxBatch {
			batch = g.gather(batch, lingerFor(batch, &clock))
		}
		start := time.Now()
		ops = ops[:0]
		for _, p := range batch {
			ops = append(ops, p.op)
		}
		errs := g.run(context.Background(), ops)
		clock.observe(time.Since(start))
		for i, p := range batch {
			p.done <- errs[i]
		}
		clear(ops)
	}
}

// lingerFor is how long batch waits for more operations: a batch with a
// wide operation lingerWide, even alone; two or more narrow ones linger;
// a lone narrow one not at all, so an idle store answers at once.
func lingerFor[Op any](batch []*pending[Op], c *lingerClock) time.Duration {
	switch {
	case wide(batch):
		return c.lingerWide()
	case len(batch) > 1:
		return c.linger()
	}
	return 0
}

// wide reports whether batch holds a wide operation.
func wide[Op any](batch []*pending[Op]) bool {
	for _, p := range batch {
		if p.spread >= WideSpread {
			return true
		}
	}
	return false
}
