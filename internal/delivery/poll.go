package delivery

import (
	"container/heap"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// poller claims due deliveries from the store: when woken (Wake, the
// store's wake-ups, the earliest retry this node scheduled) or every
// PollInterval. It also keeps this node's leases alive and refreshes the
// endpoints of queued deliveries after the API changed them, on this node
// or (syncEndpoints) on another.
type poller struct {
	e      *Engine
	wakeC  chan struct{}
	storeC chan struct{} // the store's wake-ups

	// full is set when the last claim found an endpoint's queue full and
	// released what it could not hold. The store's wake-ups are then
	// ignored until this node's own wake (a spilled queue drained to half)
	// or the next poll: on PostgreSQL the release itself notifies, and
	// claiming again at once would only claim the same rows back, in a
	// loop as fast as the database answers.
	full bool

	mu      sync.Mutex
	retries timeHeap // retry times this node scheduled
	hintC   chan struct{}
	dirty   map[string]bool // applications whose endpoints changed
	dirtyC  chan struct{}
	// expedites are endpoints (to their application) whose paced
	// deliveries may now go sooner (hold.go).
	expedites map[string]string

	// synced is when the endpoints of each application this node holds
	// deliveries for were last reloaded (syncEndpoints); only the poll
	// loop uses it.
	synced    map[string]time.Time
	syncEvery time.Duration
}

// Bounds on syncEndpoints: each busy application is reloaded at most every
// endpointSyncEvery, and at most endpointSyncBatch of them a poll.
const (
	endpointSyncEvery = 5 * time.Second
	endpointSyncBatch = 32
)

// maxHints bounds the retry times remembered; later ones are found by the
// regular poll.
const maxHints = 4096

func newPoller(e *Engine) *poller {
	return &poller{
		e:         e,
		wakeC:     make(chan struct{}, 1),
		storeC:    make(chan struct{}, 1),
		hintC:     make(chan struct{}, 1),
		dirty:     make(map[string]bool),
		dirtyC:    make(chan struct{}, 1),
		expedites: make(map[string]string),
		synced:    make(map[string]time.Time),
		syncEvery: endpointSyncEvery,
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (p *poller) wake() { signal(p.wakeC) }

// hint notes that a retry is due at t.
func (p *poller) hint(t time.Time) {
	p.mu.Lock()
	if len(p.retries) >= maxHints {
		p.mu.Unlock()
		return
	}
	earliest := len(p.retries) == 0 || t.Before(p.retries[0])
	heap.Push(&p.retries, t)
	p.mu.Unlock()
	if earliest {
		signal(p.hintC)
	}
}

// refreshApp asks for the application's queued endpoints to be reloaded.
func (p *poller) refreshApp(appID string) {
	p.mu.Lock()
	p.dirty[appID] = true
	p.mu.Unlock()
	signal(p.dirtyC)
}

// expedite asks for the endpoint's paced deliveries to be made due now.
func (p *poller) expedite(appID, endpointID string) {
	p.mu.Lock()
	p.expedites[endpointID] = appID
	p.mu.Unlock()
	signal(p.dirtyC)
}

// forwardWakeups turns the store's wake-ups into claims.
func (p *poller) forwardWakeups(ctx context.Context, c <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-c:
			if !ok {
				return
			}
			signal(p.storeC)
		}
	}
}

func (p *poller) run(ctx context.Context) {
	e := p.e
	tick := time.NewTicker(e.cfg.PollInterval)
	defer tick.Stop()
	// The heartbeat keeps the leases of what this node holds: on a
	// goroutine of its own, so that a steady run of claims (due retries
	// after an outage) cannot hold it off until they expire.
	beats := make(chan struct{})
	go func() {
		defer close(beats)
		p.beatLoop(ctx)
	}()
	defer func() { <-beats }()
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()

	e.beatNode(ctx)
	p.claim(ctx) // what was left by a previous run of this node or others
	for {
		if p.armRetry(retry) {
			p.claim(ctx)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wakeC:
		case <-p.storeC:
			if p.full {
				continue
			}
		case <-tick.C:
			p.refresh(ctx)
			p.syncEndpoints(ctx)
		case <-retry.C:
			continue // armRetry finds them due and claims
		case <-p.hintC:
			continue
		case <-p.dirtyC:
			p.refresh(ctx)
			continue
		case <-sweep.C:
			e.disp.sweep()
			e.apps.sweep(e.now())
			continue
		}
		p.claim(ctx)
	}
}

// armRetry forgets the remembered retries that are due, reporting whether
// there were any (the caller claims them), and sets t to fire at the
// earliest one still ahead.
func (p *poller) armRetry(t *time.Timer) (due bool) {
	now := p.e.now()
	p.mu.Lock()
	for len(p.retries) > 0 && !p.retries[0].After(now) {
		heap.Pop(&p.retries)
		due = true
	}
	d := time.Hour
	if len(p.retries) > 0 {
		d = p.retries[0].Sub(now)
	}
	p.mu.Unlock()
	t.Reset(d)
	return due
}

// claim takes due deliveries while there is room for them in memory.
func (p *poller) claim(ctx context.Context) {
	e := p.e
	p.full = false
	for ctx.Err() == nil {
		room := e.cfg.MaxHeld - int(e.disp.held.Load())
		limit := e.disp.claimLimit(min(room, e.cfg.ClaimBatch))
		if limit <= 0 {
			return
		}
		jobs, err := e.store.Claim(ctx, e.cfg.NodeID, e.now(), e.cfg.LeaseDuration, limit)
		if err != nil {
			if ctx.Err() == nil && e.errLimit.allow("claim", e.now()) {
				e.log.Error("claim deliveries", slog.Any("error", err))
			}
			return
		}
		spilled := e.disp.enqueue(jobs)
		e.giveBack(ctx, spilled, "spilled deliveries")
		if spilled.dueSoon(e.now()) {
			// Queues are full: claiming again now would only claim the
			// same rows back, or soon. Deferred ones paced further on
			// are not due again before their turn.
			p.full = true
			return
		}
		if len(jobs) < limit {
			return
		}
	}
}

// beatLoop runs the heartbeat every third of a lease until ctx ends.
func (p *poller) beatLoop(ctx context.Context) {
	beat := time.NewTicker(max(p.e.cfg.LeaseDuration/3, time.Millisecond))
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			p.heartbeat(ctx)
		}
	}
}

// heartbeat extends the leases of what this node holds in memory, and
// only those (release.go), and renews its place among the nodes sharing
// the database.
func (p *poller) heartbeat(ctx context.Context) {
	e := p.e
	e.beatNode(ctx)
	err := e.store.ExtendLeases(ctx, e.cfg.NodeID, e.disp.heldKeys(), e.now().Add(e.cfg.LeaseDuration))
	if err != nil && ctx.Err() == nil && e.errLimit.allow("extend", e.now()) {
		e.log.Error("extend leases", slog.Any("error", err))
	}
}

// refresh reloads the endpoints of applications marked dirty and applies
// them to the queued deliveries: a disabled or deleted endpoint's queue is
// canceled, an updated one sends with its new URL, headers and secrets.
func (p *poller) refresh(ctx context.Context) {
	e := p.e
	p.mu.Lock()
	apps := make([]string, 0, len(p.dirty))
	for app := range p.dirty {
		apps = append(apps, app)
	}
	clear(p.dirty)
	p.mu.Unlock()

	for _, app := range apps {
		if err := p.reloadApp(ctx, app); err != nil {
			if ctx.Err() == nil && e.errLimit.allow("refresh", e.now()) {
				e.log.Error("reload endpoints", slog.String("app_id", app), slog.Any("error", err))
			}
			// Try again at the next poll.
			p.mu.Lock()
			p.dirty[app] = true
			p.mu.Unlock()
		}
	}
	p.expediteAll(ctx)
}

// expediteAll makes the waiting deliveries of the endpoints expedite
// asked for due now, and wakes the claims for them.
func (p *poller) expediteAll(ctx context.Context) {
	e := p.e
	p.mu.Lock()
	eps := p.expedites
	if len(eps) > 0 {
		p.expedites = make(map[string]string)
	}
	p.mu.Unlock()
	for ep, app := range eps {
		if _, err := e.store.ExpeditePaced(ctx, app, ep, e.now()); err != nil && !errors.Is(err, herald.ErrNotFound) {
			if ctx.Err() == nil && e.errLimit.allow("expedite", e.now()) {
				e.log.Error("expedite paced deliveries", slog.String("endpoint_id", ep), slog.Any("error", err))
			}
			p.mu.Lock()
			p.expedites[ep] = app // at the next poll
			p.mu.Unlock()
		}
	}
	if len(eps) > 0 {
		p.wake()
	}
}

// reloadApp reloads one application's endpoints into the cache and its
// queues.
func (p *poller) reloadApp(ctx context.Context, appID string) error {
	eps, err := p.e.endpts.reload(ctx, appID)
	if err != nil {
		return err
	}
	active := make(map[string]*herald.Endpoint, len(eps))
	for i := range eps {
		active[eps[i].ID] = &eps[i]
	}
	for _, q := range p.e.disp.queuesOf(appID) {
		resume, expedite := q.setEndpoint(active[q.id], p.e.nodeShare(), p.e.now())
		if resume {
			p.e.disp.resume(q)
		}
		if expedite {
			p.expedite(appID, q.id)
		}
	}
	if _, ok := p.synced[appID]; ok {
		p.synced[appID] = p.e.now()
	}
	return nil
}

// syncEndpoints reloads the endpoints of the applications this node holds
// queued deliveries for, when other nodes share the database: a change
// made through another node's API is only heard of there, and a disabled
// endpoint gets no new jobs whose snapshot would tell this node, so its
// queue would keep sending until it drained. A lone node hears of every
// change from its own API and queries nothing here. Each application is
// reloaded at most every syncEvery, at most endpointSyncBatch a poll, the
// least recently synced first, so many busy applications cost a steady
// trickle of queries.
func (p *poller) syncEndpoints(ctx context.Context) {
	e := p.e
	if e.nodeShare().count <= 1 {
		clear(p.synced)
		return
	}
	now := e.now()
	busy := e.disp.busyApps()
	// Forget the applications with nothing queued any more.
	for app := range p.synced {
		if !busy[app] {
			delete(p.synced, app)
		}
	}
	var due []string
	for app := range busy {
		at, ok := p.synced[app]
		if !ok {
			// Newly busy: its jobs brought fresh snapshots of its
			// endpoints, so it waits a full interval too.
			p.synced[app] = now
			continue
		}
		if now.Sub(at) >= p.syncEvery {
			due = append(due, app)
		}
	}
	slices.SortFunc(due, func(a, b string) int { return p.synced[a].Compare(p.synced[b]) })
	for _, app := range due[:min(len(due), endpointSyncBatch)] {
		// On success reloadApp notes the time; on failure it is tried
		// again at the next poll.
		if err := p.reloadApp(ctx, app); err != nil {
			if ctx.Err() == nil && e.errLimit.allow("sync endpoints", e.now()) {
				e.log.Error("reload endpoints", slog.String("app_id", app), slog.Any("error", err))
			}
		}
	}
}

// timeHeap is a min-heap of times.
type timeHeap []time.Time

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *timeHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// busyApps returns the applications with deliveries queued on this node.
// Each queue is read under its own lock only, as heldKeys does.
func (d *dispatcher) busyApps() map[string]bool {
	apps := make(map[string]bool)
	for _, q := range d.all() {
		q.mu.Lock()
		if len(q.jobs) > q.head {
			apps[q.appID] = true
		}
		q.mu.Unlock()
	}
	return apps
}
