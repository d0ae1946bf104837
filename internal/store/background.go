package store

import (
	"context"
	"sync"
)

// Background runs a store's deferred work: the rest of a large move of a
// circuit's held deliveries (see Circuits), which the caller should not
// wait for. Close cancels what runs and waits for it.
type Background struct {
	mu     sync.Mutex
	closed bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewBackground returns a Background ready to run work.
func NewBackground() *Background {
	ctx, cancel := context.WithCancel(context.Background())
	return &Background{ctx: ctx, cancel: cancel}
}

// Go runs fn in its own goroutine with a context that Close cancels. It
// reports false, without running fn, once Close was called.
func (b *Background) Go(fn func(ctx context.Context)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.wg.Go(func() { fn(b.ctx) })
	return true
}

// Wait waits for the work started so far.
func (b *Background) Wait() { b.wg.Wait() }

// Close cancels the running work and waits for it. It is safe to call
// twice.
func (b *Background) Close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
}
