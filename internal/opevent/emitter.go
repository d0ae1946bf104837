package opevent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/herald"
)

// Publisher stores a message with its deliveries: the delivery engine.
type Publisher interface {
	Publish(ctx context.Context, msg *herald.Message) error
}

// Lookup finds what an event names but its source did not know: the
// application's and endpoint's UIDs, a message's event ID, and when a
// disabled endpoint began failing. store.Store implements it.
type Lookup interface {
	GetApplication(ctx context.Context, idOrUID string) (*herald.Application, error)
	GetEndpoint(ctx context.Context, appID, idOrUID string) (*herald.Endpoint, error)
	GetMessage(ctx context.Context, appID, idOrEventID string) (*herald.Message, error)
}

// Config configures an Emitter. Zero values are the documented defaults.
type Config struct {
	// AppID is the operational application's ID (see Setup). Required.
	AppID string
	// Lookup resolves UIDs. Required.
	Lookup Lookup
	// QueueSize is how many events may wait to be published; beyond it new
	// events are dropped and counted. Default 4096.
	QueueSize int
	// Retention is how long an event's message keeps its payload; default
	// 90 days, as for published messages.
	Retention time.Duration
	// Logger receives drops and publish errors; nil discards them.
	Logger *slog.Logger
	// Registry, when set, receives herald_operational_events_published_total
	// and herald_operational_events_dropped_total.
	Registry prometheus.Registerer
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Emitter turns what the API and the delivery engine report into
// operational events, and publishes them into the operational application.
//
// Its methods never block: they put the event on a bounded queue. One
// goroutine publishes the queue in order, retrying while the store is
// unavailable. An event is dropped (logged, and counted by
// herald_operational_events_dropped_total) only when the queue is full,
// when publishing fails for another reason, or when Stop runs out of time.
// Events still queued when the process dies are lost: the changes they
// describe are committed, the events are not.
type Emitter struct {
	cfg       Config
	log       *slog.Logger
	queue     chan event
	stopping  chan struct{}
	done      chan struct{}
	published prometheus.Counter
	dropped   *prometheus.CounterVec
	lastWarn  atomic.Int64 // unix nanoseconds of the last drop logged

	mu      sync.Mutex
	started bool
	stopped bool
	ctx     context.Context // publishing; canceled when Stop runs out of time
	cancel  context.CancelCauseFunc
}

// errStopped cuts off publishing when Stop's context ends.
var errStopped = errors.New("operational events stopped")

// New returns an Emitter for cfg. It publishes nothing until Start.
func New(cfg Config) (*Emitter, error) {
	if cfg.AppID == "" || cfg.Lookup == nil {
		return nil, errors.New("opevent: AppID and Lookup are required")
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 4096
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 90 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Emitter{
		cfg:      cfg,
		log:      cfg.Logger,
		queue:    make(chan event, cfg.QueueSize),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_operational_events_published_total",
			Help: "Operational events published to the operational application.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_operational_events_dropped_total",
			Help: "Operational events never published, by reason: queue_full, error or stopped.",
		}, []string{"reason"}),
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.ctx, e.cancel = context.WithCancelCause(context.Background())
	if cfg.Registry != nil {
		for _, c := range []prometheus.Collector{e.published, e.dropped} {
			if err := cfg.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("opevent: register metrics: %w", err)
			}
		}
	}
	return e, nil
}

// Start publishes queued events through pub until Stop. Events emitted
// before Start wait in the queue.
func (e *Emitter) Start(pub Publisher) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started || e.stopped {
		return errors.New("opevent: start: already started or stopped")
	}
	e.started = true
	go e.run(pub)
	return nil
}

// Stop publishes what is queued and returns. When ctx ends first, the
// events left are dropped and counted. Stop the sources first (the API,
// then the engine, whose last results still emit events); events emitted
// after Stop are dropped. Safe to call more than once, and before Start.
func (e *Emitter) Stop(ctx context.Context) error {
	e.mu.Lock()
	first := !e.stopped
	e.stopped = true
	started := e.started
	if first {
		close(e.stopping)
	}
	e.mu.Unlock()
	if !started {
		return nil
	}
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
	}
	left := len(e.queue)
	e.cancel(errStopped)
	<-e.done
	return fmt.Errorf("operational events: about %d left unpublished at stop: %w", left, ctx.Err())
}

// emit queues ev without blocking.
func (e *Emitter) emit(ev event) {
	select {
	case <-e.stopping:
		e.drop(ev, "stopped", nil)
		return
	default:
	}
	select {
	case e.queue <- ev:
	default:
		e.drop(ev, "queue_full", nil)
	}
}

// drop counts an event that will never be published, and logs it unless
// another drop was logged in the last ten seconds.
func (e *Emitter) drop(ev event, reason string, err error) {
	e.dropped.WithLabelValues(reason).Inc()
	now := e.cfg.Now().UnixNano()
	last := e.lastWarn.Load()
	if now-last < int64(10*time.Second) || !e.lastWarn.CompareAndSwap(last, now) {
		return
	}
	attrs := []any{slog.String("type", ev.typ), slog.String("reason", reason),
		slog.String("app_id", ev.appID), slog.String("endpoint_id", ev.endpointID)}
	if err != nil {
		attrs = append(attrs, slog.Any("error", err))
	}
	e.log.Warn("operational event dropped (see herald_operational_events_dropped_total)", attrs...)
}

func (e *Emitter) run(pub Publisher) {
	defer close(e.done)
	for {
		select {
		case ev := <-e.queue:
			e.publish(pub, ev)
		case <-e.stopping:
			for {
				select {
				case ev := <-e.queue:
					e.publish(pub, ev)
				default:
					return
				}
			}
		}
	}
}

// publish publishes ev, retrying while the store is unavailable.
func (e *Emitter) publish(pub Publisher, ev event) {
	backoff := 100 * time.Millisecond
	for retried := false; ; retried = true {
		err := e.publishOnce(pub, &ev)
		if err == nil || (retried && errors.Is(err, herald.ErrConflict)) {
			e.published.Inc()
			return
		}
		if e.ctx.Err() != nil {
			e.drop(ev, "stopped", err)
			return
		}
		if !errors.Is(err, herald.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
			e.drop(ev, "error", err)
			return
		}
		e.log.Debug("publish operational event; retrying", slog.String("type", ev.typ), slog.Any("error", err))
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-e.ctx.Done():
			t.Stop()
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (e *Emitter) publishOnce(pub Publisher, ev *event) error {
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	if err := e.resolve(ctx, ev); err != nil {
		return err
	}
	body, err := ev.payload()
	if err != nil {
		return fmt.Errorf("encode %s: %w", ev.typ, err)
	}
	now := e.cfg.Now()
	if ev.id == "" {
		ev.id = herald.NewID(herald.PrefixMessage, now)
	}
	return pub.Publish(ctx, &herald.Message{
		ID:        ev.id,
		AppID:     e.cfg.AppID,
		EventType: ev.typ,
		Payload:   body,
		CreatedAt: now,
		ExpiresAt: now.Add(e.cfg.Retention),
	})
}

// resolve looks up the UIDs the event's source did not know. Something
// deleted since is left out; a store error is returned to retry.
func (e *Emitter) resolve(ctx context.Context, ev *event) error {
	if ev.resolved {
		return nil
	}
	app, err := e.cfg.Lookup.GetApplication(ctx, ev.appID)
	if err == nil {
		ev.appUID = app.UID
	} else if !errors.Is(err, herald.ErrNotFound) {
		return err
	}
	if ev.msgID != "" {
		msg, err := e.cfg.Lookup.GetMessage(ctx, ev.appID, ev.msgID)
		if err == nil {
			ev.msgEventID = msg.EventID
		} else if !errors.Is(err, herald.ErrNotFound) {
			return err
		}
	} else {
		ep, err := e.cfg.Lookup.GetEndpoint(ctx, ev.appID, ev.endpointID)
		if err == nil {
			ev.endpointUID = ep.UID
			if !ep.FailingSince.IsZero() {
				ev.failSince = ep.FailingSince
			}
		} else if !errors.Is(err, herald.ErrNotFound) {
			return err
		}
	}
	ev.resolved = true
	return nil
}
