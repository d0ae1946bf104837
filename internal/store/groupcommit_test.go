package store

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestGroupCommitBatchesConcurrentOps(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var batches [][]int
	g := NewGroupCommit(1, 100, Linger, func(_ context.Context, ops []int) []error {
		if ops[0] == 0 {
			close(entered)
			<-release // hold the first transaction so the rest queue up
		}
		mu.Lock()
		batches = append(batches, append([]int(nil), ops...))
		mu.Unlock()
		errs := make([]error, len(ops))
		for i, op := range ops {
			if op == 7 {
				errs[i] = errors.New("seven fails alone")
			}
		}
		return errs
	})
	defer g.Close()

	first := make(chan error)
	go func() { first <- g.Do(context.Background(), 0) }()
	<-entered // the first op is inside run; queue 20 more behind it
	var wg sync.WaitGroup
	errs := make([]error, 21)
	for i := 1; i <= 20; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = g.Do(context.Background(), i) }()
	}
	waitQueued(t, g, 20)
	close(release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatalf("op 0: got %v, want nil", err)
	}
	for i := 1; i <= 20; i++ {
		if (errs[i] != nil) != (i == 7) {
			t.Errorf("op %d: got error %v", i, errs[i])
		}
	}
	if len(batches) != 2 || len(batches[1]) != 20 {
		t.Fatalf("got batches %v, want [0] then the other 20 together", batches)
	}
}

func TestGroupCommitCloseFinishesQueuedAndRefusesNew(t *testing.T) {
	t.Parallel()
	g := NewGroupCommit(2, 10, Linger, func(_ context.Context, ops []int) []error { return make([]error, len(ops)) })
	if err := g.Do(context.Background(), 1); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	g.Close()
	g.Close()
	if err := g.Do(context.Background(), 2); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: got %v, want ErrClosed", err)
	}
}

// waitQueued waits until n operations are queued. Submitting goroutines have
// no other observable step, so this polls the queue length, yielding.
func waitQueued(t *testing.T, g *GroupCommit[int], n int) {
	t.Helper()
	for len(g.queue) < n {
		runtime.Gosched()
	}
}

func TestLingerFollowsTheTransactions(t *testing.T) {
	t.Parallel()
	c := lingerClock{max: 2 * time.Millisecond}
	if got := c.linger(); got != 0 {
		t.Fatalf("before any transaction: linger %v, want 0", got)
	}
	steady := func(d time.Duration) {
		for range 100 {
			c.observe(d)
		}
	}
	steady(time.Millisecond) // a fast disk: wait half a transaction
	if got := c.linger(); got < 490*time.Microsecond || got > 500*time.Microsecond {
		t.Errorf("1 ms transactions: linger %v, want about 500µs", got)
	}
	c.observe(100 * time.Millisecond) // an eighth of a 99 ms jump
	if got := c.linger(); got != 2*time.Millisecond {
		t.Errorf("after a 100 ms commit: linger %v, want the 2 ms bound", got)
	}
	steady(time.Millisecond)
	if got := c.linger(); got > 510*time.Microsecond {
		t.Errorf("back to 1 ms transactions: linger %v, want about 500µs again", got)
	}
	steady(10 * time.Millisecond) // a slow disk: never more than the bound
	if got := c.linger(); got != 2*time.Millisecond {
		t.Errorf("10 ms transactions: linger %v, want the 2 ms bound", got)
	}

	never := lingerClock{} // a store that asked for no linger
	never.observe(10 * time.Millisecond)
	if got := never.linger(); got != 0 {
		t.Errorf("with no linger allowed: linger %v, want 0", got)
	}
}

func TestWideOperationsLingerLonger(t *testing.T) {
	t.Parallel()
	c := lingerClock{max: 2 * time.Millisecond}
	for range 100 {
		c.observe(time.Millisecond)
	}
	narrow := &pending[int]{spread: 1}
	wideOp := &pending[int]{spread: WideSpread}
	if got := lingerFor([]*pending[int]{narrow}, &c); got != 0 {
		t.Errorf("a lone narrow operation: linger %v, want none", got)
	}
	if got := lingerFor([]*pending[int]{narrow, narrow}, &c); got < 490*time.Microsecond || got > 500*time.Microsecond {
		t.Errorf("narrow operations after 1 ms transactions: linger %v, want about 500µs", got)
	}
	for _, batch := range [][]*pending[int]{{wideOp}, {narrow, wideOp}} {
		if got := lingerFor(batch, &c); got < 1980*time.Microsecond || got > 2*time.Millisecond {
			t.Errorf("%d operations, one wide, after 1 ms transactions: linger %v, want about 2 ms", len(batch), got)
		}
	}
	for range 100 {
		c.observe(10 * time.Millisecond)
	}
	if got := lingerFor([]*pending[int]{wideOp}, &c); got != 8*time.Millisecond {
		t.Errorf("a wide operation after 10 ms transactions: linger %v, want the 8 ms bound", got)
	}
	never := lingerClock{} // a store that asked for no linger
	never.observe(10 * time.Millisecond)
	if got := lingerFor([]*pending[int]{wideOp}, &never); got != 0 {
		t.Errorf("with no linger allowed: linger %v for a wide operation, want 0", got)
	}
}

// TestALoneWideOperationWaitsForCompany runs the worker's loop with a clock
// whose linger is seconds long. A lone wide operation must wait in it, so
// an operation submitted after the worker took the wide one shares its
// commit; a lone narrow operation must commit at once, alone.
func TestALoneWideOperationWaitsForCompany(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		spread int
		want   [][]int
	}{
		{"wide", WideSpread, [][]int{{0}, {1, 2}}},
		{"narrow", 1, [][]int{{0}, {1}, {2}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			entered, release := make(chan struct{}), make(chan struct{})
			var mu sync.Mutex
			var batches [][]int
			slow := lingerClock{max: time.Second, avg: time.Second}
			g := newGroupCommit(1, 2, slow, func(_ context.Context, ops []int) []error {
				if ops[0] == 0 {
					close(entered)
					<-release // keep the worker busy while op 1 queues
				}
				mu.Lock()
				batches = append(batches, append([]int(nil), ops...))
				mu.Unlock()
				return make([]error, len(ops))
			})
			defer g.Close()

			var wg sync.WaitGroup
			do := func(op, spread int) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := g.DoSpread(context.Background(), op, spread); err != nil {
						t.Errorf("op %d: %v", op, err)
					}
				}()
			}
			do(0, 1)
			<-entered
			do(1, c.spread)
			waitQueued(t, g, 1)
			close(release)
			for len(g.queue) > 0 { // until the worker has taken op 1
				runtime.Gosched()
			}
			do(2, 1)
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			if !slices.EqualFunc(batches, c.want, slices.Equal[[]int]) {
				t.Errorf("batches %v, want %v", batches, c.want)
			}
		})
	}
}
