package delivery

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// appLimits enforces applications' ThrottleRate: the requests to all of an
// application's endpoints together. Each application has one limiter on
// this node, holding this node's share of the rate, which every one of its
// endpoint queues draws from. The rate is read from the store and reused
// for appRateTTL; InvalidateApplication rereads it at once, so a change
// made through this node's API applies at once and one made through
// another node's within appRateTTL.
type appLimits struct {
	e   *Engine
	ttl time.Duration

	mu sync.RWMutex // every send looks its application up
	m  map[string]*appLimit
}

// appLimit is one application's limiter.
type appLimit struct {
	ready chan struct{} // closed once the rate was first read

	mu       sync.Mutex
	perSec   int // the application's ThrottleRate; 0: unlimited
	loadedAt time.Time
	loading  bool
	limiter  *rate.Limiter
	limit    rate.Limit

	// pace places what the application's queues give back while its
	// rate holds them: one rate for them all (hold.go), which queues
	// (this node's queues it holds with deliveries to send) split what
	// they hold of.
	pace   pacer
	queues atomic.Int64
}

// appRateTTL is how long an application's rate is reused at least: every
// active application costs a read per TTL.
const appRateTTL = 10 * time.Second

func newAppLimits(e *Engine) *appLimits {
	return &appLimits{e: e, ttl: max(e.cfg.EndpointCacheTTL, appRateTTL), m: make(map[string]*appLimit)}
}

// get returns the application's limiter, reading its rate when it is
// unknown or stale. Only the first read is waited for; later ones go on
// with the previous rate while one caller rereads it.
func (a *appLimits) get(ctx context.Context, appID string) *appLimit {
	a.mu.RLock()
	l := a.m[appID]
	a.mu.RUnlock()
	if l == nil {
		a.mu.Lock()
		if l = a.m[appID]; l == nil {
			l = &appLimit{ready: make(chan struct{}), loading: true}
			a.m[appID] = l
			a.mu.Unlock()
			a.load(ctx, appID, l)
			close(l.ready)
			return l
		}
		a.mu.Unlock()
	}
	select {
	case <-l.ready:
	case <-ctx.Done():
		return l
	}
	l.mu.Lock()
	stale := !l.loading && a.e.now().Sub(l.loadedAt) >= a.ttl
	if stale {
		l.loading = true
	}
	l.mu.Unlock()
	if stale {
		a.load(ctx, appID, l)
	}
	return l
}

// load reads the application's rate. On error the previous rate stays for
// another TTL.
func (a *appLimits) load(ctx context.Context, appID string, l *appLimit) {
	e := a.e
	app, err := e.store.GetApplication(ctx, appID)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loading, l.loadedAt = false, e.now()
	if err != nil {
		if ctx.Err() == nil && e.errLimit.allow("app rate", e.now()) {
			e.log.Error("read application rate", slog.String("app_id", appID), slog.Any("error", err))
		}
		return
	}
	l.perSec = app.ThrottleRate
}

// sweep forgets applications this node has not sent to for a while, so
// the map does not grow with every application ever seen. An active
// application rereads its rate every TTL, so an entry not read for three
// TTLs is idle; if it becomes active again, get starts it afresh.
func (a *appLimits) sweep(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, l := range a.m {
		l.mu.Lock()
		// Queues its rate holds still use its pacer.
		idle := !l.loading && now.Sub(l.loadedAt) > 3*a.ttl && l.queues.Load() == 0
		l.mu.Unlock()
		if idle {
			delete(a.m, id)
		}
	}
}

// invalidate makes the next get reread the application's rate.
func (a *appLimits) invalidate(appID string) {
	a.mu.RLock()
	l := a.m[appID]
	a.mu.RUnlock()
	if l != nil {
		l.mu.Lock()
		l.loadedAt = time.Time{}
		l.mu.Unlock()
	}
}

// perSecond is the application's ThrottleRate as last read; 0 when
// unlimited or unknown.
func (l *appLimit) perSecond() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.perSec
}

// joined counts a queue of this node in (n 1) or out (-1) of those the
// application's rate holds.
func (l *appLimit) joined(n int64) {
	if l != nil {
		l.queues.Add(n)
	}
}

// reserve takes one request from this node's share of the application's
// rate. It returns the reservation (nil when unlimited), to cancel if the
// request does not go after all, or how long to wait (nothing reserved).
func (l *appLimit) reserve(nodes share, now time.Time) (*rate.Reservation, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perSec <= 0 {
		l.limiter, l.limit = nil, 0
		return nil, 0
	}
	if limit := nodes.rate(l.perSec); l.limiter == nil || l.limit != limit {
		// As for endpoints: a tenth of a second's worth may go at once.
		l.limiter = rate.NewLimiter(limit, max(1, int(limit/10)))
		l.limit = limit
	}
	r := l.limiter.ReserveN(now, 1)
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return nil, wait
	}
	return r, 0
}

// InvalidateApplication makes the engine reread the application's
// ThrottleRate at once. The API calls it after updating an application.
func (e *Engine) InvalidateApplication(appID string) {
	e.apps.invalidate(appID)
}
