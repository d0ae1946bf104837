// Package authlimit limits failed authentications per client, so that a
// credential a person chose (an admin token, a source's shared secret)
// cannot be guessed at network speed, and one client's failures never lock
// out another. The dashboard's login, the API's bearer tokens, /metrics
// and the ingest URLs of sources whose requests carry their secret as is
// all use it; it is standard library only.
package authlimit

import (
	"hash/maphash"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultEvery      = time.Second
	DefaultBurst      = 10
	DefaultMaxClients = 1 << 16
	DefaultLogEvery   = 10 * time.Second
)

// Config configures New. Zero values are the defaults above.
type Config struct {
	// Every is how long a client waits for each attempt it gets back once
	// it has spent its burst: one failure a second by default.
	Every time.Duration
	// Burst is how many attempts in a row a client may fail before it is
	// refused.
	Burst int
	// MaxClients bounds how many clients are remembered.
	MaxClients int
	// LogEvery is how often Log lets a line about one client through.
	LogEvery time.Duration
}

// Limiter holds one token bucket of attempts per Key: Burst attempts,
// refilled one per Every. A limited client is refused before its
// credential is checked, even with the right one, so that the answer
// never tells a right guess from a wrong one; only failures spend the
// budget, so correct clients spend nothing, and one behind the same
// address (a NAT) as a failing client is refused only while that client
// keeps guessing: a wrong credential it repeats is charged once (Fail).
//
// Callers use it one of two ways. Take spends an attempt before the
// credential is checked and Refund gives it back on success: concurrent
// guesses cannot all pass before any is counted, but correct clients
// briefly hold attempts too, so it suits a rare action (a login). Allow
// only checks, and Fail charges a failure afterwards: correct clients
// never wait on one another, so it suits paths they call often and
// concurrently (API calls, ingest). Such a caller calls Allow just before
// it tells a right credential from a wrong one, with nothing that waits
// (a body to read, a store lookup) between that check and Fail: requests
// sent at once then pass together only when they race on different CPUs,
// and their failures drive the budget a little below zero, a debt the
// client pays back before its next attempt, so concurrency buys no extra
// attempts over time. A caller that must wait checks again after the
// wait. The debt is capped at two minutes of refill (maxDebt), far more
// than such races build, so that no burst can hold an address back for
// longer.
//
// There is deliberately no global ceiling. One that a right credential
// bypassed would be an oracle (refused means wrong, let in means right);
// one that it did not bypass would let anyone lock the operator out.
//
// Memory is bounded: a client whose bucket is full again is no different
// from one never seen, so it is forgotten, and at most MaxClients are
// kept. A client that cannot be kept because that many others are failing
// right now is let through untracked rather than refused, for the same
// reason as above: refusing it would lock everyone out during a wide
// attack. A Limiter is safe for concurrent use.
type Limiter struct {
	every    time.Duration
	burst    float64
	floor    float64 // the lowest a bucket goes: maxDebt of refill below zero
	max      int
	logEvery time.Duration

	seed maphash.Seed // for the hashes of failed credentials

	mu        sync.Mutex
	clients   map[Key]*bucket
	lastSweep time.Time
	loggedAt  time.Time // the last line about a client that was not tracked
}

// maxDebt is the most a client's failures beyond its budget can make it
// wait.
const maxDebt = 2 * time.Minute

// bucket is one client's attempts left, as of at.
type bucket struct {
	tokens   float64
	at       time.Time
	loggedAt time.Time
	// failed holds hashes of the last credentials that failed (0: none),
	// next the slot the next one takes.
	failed [recentFailures]uint64
	next   int
}

// recentFailures is how many failed credentials a client's bucket
// remembers, so that repeating one of them is not charged again.
const recentFailures = 4

// New returns a Limiter configured by cfg.
func New(cfg Config) *Limiter {
	l := &Limiter{every: cfg.Every, burst: float64(cfg.Burst), max: cfg.MaxClients, logEvery: cfg.LogEvery,
		seed: maphash.MakeSeed(), clients: make(map[Key]*bucket)}
	if l.every <= 0 {
		l.every = DefaultEvery
	}
	if l.burst < 1 {
		l.burst = DefaultBurst
	}
	if l.max <= 0 {
		l.max = DefaultMaxClients
	}
	if l.logEvery <= 0 {
		l.logEvery = DefaultLogEvery
	}
	l.floor = -float64(maxDebt / l.every)
	return l
}

// Key names a budget: a client, and what it authenticates to.
type Key struct {
	scope  string
	client netip.Addr
}

// ClientKey is the key of client authenticating to scope (a source's ID;
// empty for the admin token and the API's tokens). An IPv4 client is its
// address and an IPv6 one its /64, which one host can fill with
// addresses. An invalid address (a peer that is not an IP address, which
// TCP listeners never produce) shares one budget with every other.
func ClientKey(scope string, client netip.Addr) Key {
	client = client.Unmap().WithZone("")
	if client.Is6() {
		client = netip.PrefixFrom(client, 64).Masked().Addr()
	}
	return Key{scope: scope, client: client}
}

// Allow reports whether key may attempt now, spending nothing: false,
// with how long until it may, once its failures have spent its budget.
// Charge a failed attempt with Fail.
func (l *Limiter) Allow(key Key, now time.Time) (wait time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.clients[key]
	if !ok {
		return 0, true
	}
	return l.check(b, now)
}

// Fail charges a failed attempt with credential to key, which Allow let
// through. A credential that is one of the last few key failed with is
// not charged again: a client repeating the same wrong one (a script with
// a revoked token, a provider's webhook left with an old secret) guesses
// nothing new, and charging every repeat would lock out the correct
// clients that share its address (a NAT, a provider's sending pool).
func (l *Limiter) Fail(key Key, credential string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key, now)
	if b == nil || !l.remember(b, credential) {
		return
	}
	l.refill(b, now)
	b.tokens = max(l.floor, b.tokens-1)
}

// Failed notes that the attempt Take spent for key failed with
// credential. One of the last few key failed with gets its attempt back,
// as Fail would not charge it.
func (l *Limiter) Failed(key Key, credential string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.clients[key]
	if !ok || l.remember(b, credential) {
		return
	}
	l.refill(b, now)
	b.tokens = min(l.burst, b.tokens+1)
}

// remember adds credential to b's last failed ones, and reports whether
// it was not among them. l.mu is held.
func (l *Limiter) remember(b *bucket, credential string) bool {
	h := maphash.String(l.seed, credential) | 1 // never 0, an empty slot
	if slices.Contains(b.failed[:], h) {
		return false
	}
	b.failed[b.next], b.next = h, (b.next+1)%recentFailures
	return true
}

// Take spends one attempt of key, before its credential is checked. When
// key has none left it spends nothing and reports false, with how long
// until it has one. Give the attempt back with Refund if it succeeds.
func (l *Limiter) Take(key Key, now time.Time) (wait time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key, now)
	if b == nil {
		return 0, true // untracked; see the type's comment
	}
	if wait, ok := l.check(b, now); !ok {
		return wait, false
	}
	b.tokens--
	return 0, true
}

// Refund gives back the attempt a successful authentication took, or one
// that failed for a reason that is not the credential's (a store error).
func (l *Limiter) Refund(key Key, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.clients[key]; ok {
		l.refill(b, now)
		b.tokens = min(l.burst, b.tokens+1)
	}
}

// Log reports whether a line about key's failures may be logged now: at
// most one per LogEvery for each client, and one per LogEvery for all the
// clients that are not tracked, together.
func (l *Limiter) Log(key Key, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := &l.loggedAt
	if b, ok := l.clients[key]; ok {
		last = &b.loggedAt
	}
	if !last.IsZero() && now.Sub(*last) < l.logEvery && !now.Before(*last) {
		return false
	}
	*last = now
	return true
}

// Len is how many clients are remembered.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// bucket returns key's bucket, made full when key is new, or nil when
// key is new and MaxClients others are kept. l.mu is held.
func (l *Limiter) bucket(key Key, now time.Time) *bucket {
	if now.Sub(l.lastSweep) >= l.refillTime() || now.Before(l.lastSweep) {
		l.sweep(now)
	}
	if b, ok := l.clients[key]; ok {
		return b
	}
	if len(l.clients) >= l.max && now.Sub(l.lastSweep) >= l.every {
		l.sweep(now)
	}
	if len(l.clients) >= l.max {
		return nil
	}
	b := &bucket{tokens: l.burst, at: now}
	l.clients[key] = b
	return b
}

// check brings b up to now and reports whether it has an attempt left,
// or how long until it has. l.mu is held.
func (l *Limiter) check(b *bucket, now time.Time) (time.Duration, bool) {
	l.refill(b, now)
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(l.every)), false
	}
	return 0, true
}

// refill brings b up to now. A time before b's, which a caller racing
// another may pass, leaves it alone: moving b back would refill the
// interval twice.
func (l *Limiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+float64(d)/float64(l.every))
		b.at = now
	}
}

// refillTime is how long an empty bucket takes to fill.
func (l *Limiter) refillTime() time.Duration {
	return time.Duration(l.burst * float64(l.every))
}

// sweep forgets clients whose bucket is full again. l.mu is held.
func (l *Limiter) sweep(now time.Time) {
	l.lastSweep = now
	for key, b := range l.clients {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.clients, key)
		}
	}
}
