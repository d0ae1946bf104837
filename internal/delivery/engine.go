package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// ErrStopped is returned by Start after Stop, and wraps the cause given to
// sends that Stop cut off.
var ErrStopped = errors.New("delivery engine stopped")

// ErrNotRecorded is wrapped by Stop's error when attempt results could not
// be written before its context ended: those deliveries stay leased, and
// are sent again when their leases expire.
var ErrNotRecorded = errors.New("attempt results not recorded")

// Engine delivers messages: it publishes them with their deliveries leased
// to this node, sends those from memory, claims due retries from the store,
// and records every attempt.
type Engine struct {
	cfg    Config
	store  Store
	log    *slog.Logger
	now    func() time.Time
	policy herald.Policy

	metrics  *metrics
	endpts   *endpointCache
	apps     *appLimits
	sender   *sender
	disp     *dispatcher
	rec      *recorder
	poll     *poller
	errLimit *logLimiter
	share    atomic.Pointer[share] // this node's part of per-endpoint limits
	offset   atomic.Int64          // the store's clock minus cfg.Now, in ns (clock.go)

	mu      sync.Mutex
	state   int // stateNew, stateRunning, stateStopped
	stopped chan struct{}

	pollCtx    context.Context // poller, heartbeat, endpoint refresh
	pollCancel context.CancelCauseFunc
	sendCtx    context.Context // HTTP requests
	sendCancel context.CancelCauseFunc
	bgWG       sync.WaitGroup // poller goroutines
}

const (
	stateNew = iota
	stateRunning
	stateStopped
)

// New returns an engine configured by cfg. It starts nothing: call Start.
func New(cfg Config) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:      cfg,
		store:    cfg.Store,
		log:      cfg.Logger,
		policy:   cfg.Policy,
		errLimit: newLogLimiter(10 * time.Second),
		stopped:  make(chan struct{}),
	}
	e.now = e.storeTime
	e.metrics = newMetrics(e)
	if cfg.Registry != nil {
		if err := e.metrics.register(cfg.Registry); err != nil {
			return nil, err
		}
	}
	e.endpts = newEndpointCache(cfg.Store, cfg.EndpointCacheTTL, cfg.Now)
	e.apps = newAppLimits(e)
	e.sender = newSender(cfg)
	e.disp = newDispatcher(e)
	e.rec = newRecorder(e)
	e.poll = newPoller(e)
	return e, nil
}

// NodeID returns the lease owner name this engine uses.
func (e *Engine) NodeID() string { return e.cfg.NodeID }

// Start starts the workers, the recorder and the poller. ctx is used for
// its values only: the engine runs until Stop. Start fails if the engine
// was already started or stopped.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch e.state {
	case stateRunning:
		return errors.New("delivery: start: already started")
	case stateStopped:
		return ErrStopped
	}
	e.syncClock(ctx) // before the first lease: publishes may come at once
	base := context.WithoutCancel(ctx)
	e.pollCtx, e.pollCancel = context.WithCancelCause(base)
	e.sendCtx, e.sendCancel = context.WithCancelCause(base)
	e.rec.start()
	e.disp.start()
	e.bgWG.Add(1)
	go func() {
		defer e.bgWG.Done()
		e.poll.run(e.pollCtx)
	}()
	if w, ok := e.store.(store.Waker); ok {
		e.bgWG.Add(1)
		go func() {
			defer e.bgWG.Done()
			e.poll.forwardWakeups(e.pollCtx, w.Wakeups())
		}()
	}
	e.state = stateRunning
	e.log.Info("delivery engine started", slog.String("node_id", e.cfg.NodeID),
		slog.Int("workers", e.cfg.Workers), slog.Int("endpoint_concurrency", e.cfg.EndpointConcurrency))
	return nil
}

// Stop shuts the engine down: it stops claiming, lets in-flight sends
// finish until ctx ends, then cancels them, writes the pending results,
// and releases the leases of deliveries still queued in memory so another
// node (or this one after a restart) sends them. It is safe to call more
// than once and before Start; later calls wait for the first to finish.
func (e *Engine) Stop(ctx context.Context) error {
	e.mu.Lock()
	switch e.state {
	case stateNew:
		e.state = stateStopped
		close(e.stopped)
		e.mu.Unlock()
		return nil
	case stateStopped:
		e.mu.Unlock()
		select {
		case <-e.stopped:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e.state = stateStopped
	e.mu.Unlock()
	defer close(e.stopped)

	// 1. Stop claiming and heartbeats.
	e.pollCancel(ErrStopped)
	e.bgWG.Wait()

	// 2. Let in-flight sends finish until ctx ends, then cut them off.
	e.disp.beginStop()
	if !e.disp.waitWorkers(ctx) {
		e.sendCancel(ErrStopped)
		// Workers may be waiting to hand results to a recorder that
		// retries a failing store: past the deadline, it gives up.
		e.rec.abandon()
		e.disp.waitWorkers(context.Background())
	}
	e.sendCancel(ErrStopped)

	e.sender.close()

	// 3. Write what was sent, then hand back what was not.
	err := e.rec.stop(ctx)
	keys := e.disp.takeQueued()
	releaseCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if len(keys) > 0 {
		if rerr := e.store.ReleaseLeases(releaseCtx, e.cfg.NodeID, keys); rerr != nil {
			err = errors.Join(err, fmt.Errorf("release leases at stop: %w", rerr))
		}
	}
	e.leaveNodes(releaseCtx)
	if ctx.Err() != nil {
		err = errors.Join(err, fmt.Errorf("stop: in-flight sends cut off: %w", ctx.Err()))
	}
	e.log.Info("delivery engine stopped", slog.String("node_id", e.cfg.NodeID), slog.Int("released", len(keys)))
	return err
}

// Wake tells the engine that deliveries became due in the database (a
// resend or a recover), so it claims now instead of at its next poll.
func (e *Engine) Wake() { e.poll.wake() }

// InvalidateEndpoints drops the cached endpoint list of an application and
// refreshes the endpoints of its queued deliveries. The API calls it after
// creating, updating, disabling or deleting an endpoint.
func (e *Engine) InvalidateEndpoints(appID string) {
	e.endpts.invalidate(appID)
	e.poll.refreshApp(appID)
}

// dropGone forgets deliveries whose endpoint was disabled or deleted. The
// store canceled them when the endpoint went away, so there is no attempt
// to record; releasing the leases lets a claim cancel any the store still
// holds as due (Claim cancels deliveries of gone endpoints).
func (e *Engine) dropGone(keys []store.DeliveryKey) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.release(ctx, keys, "deliveries of a gone endpoint")
}

func (e *Engine) running() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state == stateRunning
}
