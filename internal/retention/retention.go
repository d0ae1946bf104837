// Package retention deletes expired data in the background: messages with
// their deliveries and attempts past each message's retention period, and
// inbound events (the requests sources received) past InboundAge,
// idempotency records past their key's window, and the records of
// dashboard sessions ended at logout once the session would have expired
// anyway. It deletes in small
// batches, each its own short transaction of at most Batch rows, however
// many deliveries and attempts a message has, so publishing, delivery and
// ingestion never wait long behind it.
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
	ExpireInboundEvents(ctx context.Context, before time.Time, limit int) (int, error)
	ExpireIdempotencyKeys(ctx context.Context, now time.Time, limit int) (int, error)
	ExpireRevokedSessions(ctx context.Context, now time.Time, limit int) (int, error)
}

// DefaultInboundAge keeps inbound events as long as the messages they
// became keep their payload by default, and well past any dedupe window.
const DefaultInboundAge = 90 * 24 * time.Hour

// Config configures New. Zero values are the documented defaults.
type Config struct {
	// Store deletes expired messages. Required.
	Store Store
	// Interval is the time between runs. Default 1h.
	Interval time.Duration
	// Batch is the most rows one transaction deletes or changes: messages,
	// deliveries and attempts all count, as do inbound events,
	// idempotency records and session revocations. Default 1000.
	Batch int
	// InboundAge is how long inbound events are kept after they were
	// received. It must outlast every source's dedupe window, or a
	// provider's retry could be forwarded twice. Default
	// DefaultInboundAge.
	InboundAge time.Duration
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
	if cfg.InboundAge <= 0 {
		cfg.InboundAge = DefaultInboundAge
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

// Counts is what one run deleted.
type Counts struct {
	// MessageRows counts the messages, deliveries and attempts deleted,
	// and the messages whose payload was dropped while their event ID
	// stays reserved.
	MessageRows     int
	InboundEvents   int
	IdempotencyKeys int
	RevokedSessions int
}

// RunOnce deletes expired messages, then inbound events older than
// InboundAge, then expired idempotency records, then expired session
// revocations, each in batches of Batch rows until a batch comes back
// short, logs the counts, and returns them.
func (j *Job) RunOnce(ctx context.Context) (Counts, error) {
	now := j.cfg.Now()
	var c Counts
	var err error
	c.MessageRows, err = j.expire(ctx, func(ctx context.Context, limit int) (int, error) {
		return j.cfg.Store.ExpireMessages(ctx, now, limit)
	})
	if err != nil {
		err = fmt.Errorf("expire messages: %w", err)
	} else {
		before := now.Add(-j.cfg.InboundAge)
		c.InboundEvents, err = j.expire(ctx, func(ctx context.Context, limit int) (int, error) {
			return j.cfg.Store.ExpireInboundEvents(ctx, before, limit)
		})
		if err != nil {
			err = fmt.Errorf("expire inbound events: %w", err)
		}
	}
	if err == nil {
		c.IdempotencyKeys, err = j.expire(ctx, func(ctx context.Context, limit int) (int, error) {
			return j.cfg.Store.ExpireIdempotencyKeys(ctx, now, limit)
		})
		if err != nil {
			err = fmt.Errorf("expire idempotency keys: %w", err)
		}
	}
	if err == nil {
		c.RevokedSessions, err = j.expire(ctx, func(ctx context.Context, limit int) (int, error) {
			return j.cfg.Store.ExpireRevokedSessions(ctx, now, limit)
		})
		if err != nil {
			err = fmt.Errorf("expire revoked sessions: %w", err)
		}
	}
	if err == nil || c.MessageRows+c.InboundEvents+c.IdempotencyKeys+c.RevokedSessions > 0 {
		j.cfg.Logger.Info("expired messages deleted", "message_rows", c.MessageRows, "inbound_events", c.InboundEvents,
			"idempotency_keys", c.IdempotencyKeys, "revoked_sessions", c.RevokedSessions)
	}
	return c, err
}

// expire calls fn with Batch until it deletes fewer, and returns the total.
func (j *Job) expire(ctx context.Context, fn func(ctx context.Context, limit int) (int, error)) (int, error) {
	total := 0
	for {
		n, err := fn(ctx, j.cfg.Batch)
		total += n
		if err != nil {
			return total, err
		}
		if n < j.cfg.Batch {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}
