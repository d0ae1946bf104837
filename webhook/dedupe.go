package webhook

import (
	"context"
	"sync"
	"time"
)

// DedupeStore remembers which webhook-ids have been received, so that a
// message delivered twice (senders deliver at least once) is handled once.
// Implementations must be safe for concurrent use; a store shared by
// several receiver processes (a database table, Redis) makes deduplication
// work across them.
type DedupeStore interface {
	// Seen marks id as received and reports whether it already was. The
	// check and the mark must be one atomic step, so that of two
	// concurrent calls with one id exactly one reports false.
	Seen(ctx context.Context, id string) (bool, error)
	// Forget removes the mark on id, so that the next delivery of that
	// message is handled again. The Receiver calls it when handling fails.
	Forget(ctx context.Context, id string) error
}

// MemoryDedupeConfig configures NewMemoryDedupe. The zero value is usable.
type MemoryDedupeConfig struct {
	// TTL is how long an id is remembered. It should outlast the sender's
	// retry schedule. Zero means 72 hours.
	TTL time.Duration
	// MaxEntries bounds memory: past it the oldest ids are dropped first,
	// and deduplication of those becomes best effort. Zero means 100,000.
	MaxEntries int
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// MemoryDedupe is the Receiver's default DedupeStore: ids held in memory
// for a TTL, bounded in number. It forgets everything when the process
// restarts, and sees only what reaches this process.
type MemoryDedupe struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.Mutex
	expires map[string]time.Time // id -> when its mark lapses
	order   []mark               // marks in insertion (so expiry) order; may hold stale ones
	head    int                  // order[:head] are already dropped
}

type mark struct {
	id      string
	expires time.Time
}

var _ DedupeStore = (*MemoryDedupe)(nil)

// NewMemoryDedupe returns an empty in-memory store.
func NewMemoryDedupe(cfg MemoryDedupeConfig) *MemoryDedupe {
	d := &MemoryDedupe{ttl: cfg.TTL, max: cfg.MaxEntries, now: cfg.Now, expires: make(map[string]time.Time)}
	if d.ttl <= 0 {
		d.ttl = 72 * time.Hour
	}
	if d.max <= 0 {
		d.max = 100_000
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// Seen marks id and reports whether it was already marked and unexpired.
func (d *MemoryDedupe) Seen(_ context.Context, id string) (bool, error) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
	if exp, ok := d.expires[id]; ok && now.Before(exp) {
		return true, nil
	}
	for len(d.expires) >= d.max {
		d.dropOldest()
	}
	exp := now.Add(d.ttl)
	d.expires[id] = exp
	d.order = append(d.order, mark{id: id, expires: exp})
	return false, nil
}

// Forget removes the mark on id.
func (d *MemoryDedupe) Forget(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.expires, id)
	return nil
}

// Len reports how many ids are currently remembered.
func (d *MemoryDedupe) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(d.now())
	return len(d.expires)
}

// expire drops the marks that have lapsed by now. Marks sit in expiry
// order, so it stops at the first live one.
func (d *MemoryDedupe) expire(now time.Time) {
	for d.head < len(d.order) && !now.Before(d.order[d.head].expires) {
		d.pop()
	}
	d.compact()
}

// dropOldest removes the oldest live mark.
func (d *MemoryDedupe) dropOldest() {
	for d.head < len(d.order) {
		if d.pop() {
			return
		}
	}
}

// pop removes order[head] and reports whether it was a live mark (not one
// already forgotten or replaced by a later mark of the same id).
func (d *MemoryDedupe) pop() bool {
	m := d.order[d.head]
	d.order[d.head] = mark{}
	d.head++
	if exp, ok := d.expires[m.id]; ok && exp.Equal(m.expires) {
		delete(d.expires, m.id)
		return true
	}
	return false
}

// compact reclaims the dropped prefix of order, and the stale marks that
// Forget leaves behind, once they outnumber the live ones.
func (d *MemoryDedupe) compact() {
	stale := d.head > 0 && d.head >= len(d.order)/2
	bloated := len(d.order) >= 2*d.max+16
	if !stale && !bloated {
		return
	}
	live := make([]mark, 0, len(d.expires))
	for _, m := range d.order[d.head:] {
		if exp, ok := d.expires[m.id]; ok && exp.Equal(m.expires) {
			live = append(live, m)
		}
	}
	d.order, d.head = live, 0
}
