// Package retention deletes expired messages in the background: payloads,
// deliveries and attempts older than each message's retention period. It
// deletes in small batches, each its own short transaction, so publishing
// and delivery never wait long behind it.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Store is what the job needs from the store (store.Retention).
type Store interface {
	ExpireMessages(ctx context.Context, now time.Time, limit int) (int, error)
}

// Config configures New. Zero values are the documented defaults.
type Config struct {
	// Store deletes expired messages. Required.
	Store Store
	// Interval is the time between runs. Default 1h.
	Interval time.Duration
	// Batch is the most messages one transaction deletes. Default 1000.
	Batch int
	// Logger receives the count of each run; nil discards it.
	Logger *slog.Logger
	// Now is the clock that decides what has expired. Default time.Now.
	Now func() time.Time
	// Tick, when set, triggers runs instead of a timer of Interval (tests
	// use it to run the job on demand).
	Tick <-chan time.Time
}

// Job runs retention periodically until stopped.
type Job struct {
	cfg Config

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a job configured by cfg; Start runs it.
func New(cfg Config) (*Job, error) {
	if cfg.Store == nil {
		return nil, errors.New("retention: nil store")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Hour
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Job{cfg: cfg}, nil
}

// Start runs the job in a goroutine: once at once, then every Interval,
// until Stop; ctx's values reach the store but its end does not stop the
// job. Starting a started job does nothing.
func (j *Job) Start(ctx context.Context) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.done != nil {
		return
	}
	ctx, j.cancel = context.WithCancel(context.WithoutCancel(ctx))
	j.done = make(chan struct{})
	go j.loop(ctx, j.done)
}

// Stop ends the job and waits for its goroutine, or for ctx. A run in
// progress is interrupted between or inside its short transactions.
// Stopping a stopped job does nothing.
func (j *Job) Stop(ctx context.Context) error {
	j.mu.Lock()
	cancel, done := j.cancel, j.done
	j.mu.Unlock()
	if done == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop retention: %w", ctx.Err())
	}
}

func (j *Job) loop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	tick := j.cfg.Tick
	if tick == nil {
		t := time.NewTicker(j.cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		if _, err := j.RunOnce(ctx); err != nil && ctx.Err() == nil {
			j.cfg.Logger.Error("retention run failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
}

// RunOnce deletes expired messages in batches of Batch until a batch comes
// back short, logs the count, and returns it.
func (j *Job) RunOnce(ctx context.Context) (int, error) {
	now := j.cfg.Now()
	total := 0
	for {
		n, err := j.cfg.Store.ExpireMessages(ctx, now, j.cfg.Batch)
		total += n
		if err != nil {
			if total > 0 {
				j.cfg.Logger.Info("expired messages deleted", "count", total)
			}
			return total, fmt.Errorf("expire messages: %w", err)
		}
		if n < j.cfg.Batch {
			break
		}
		if err := ctx.Err(); err != nil {
			j.cfg.Logger.Info("expired messages deleted", "count", total)
			return total, fmt.Errorf("expire messages: %w", err)
		}
	}
	j.cfg.Logger.Info("expired messages deleted", "count", total)
	return total, nil
}
