package ui

import (
	"net/netip"
	"sync"
	"time"
)

// loginLimiter limits login attempts per client: each client has a token
// bucket of burst attempts refilled one per every, so one client's
// failures never lock out another.
//
// There is deliberately no global ceiling. One that a right token
// bypassed would be an oracle (refused means wrong, let in means right),
// so it would not slow a guesser at all; one that a right token did not
// bypass would let anyone lock the operator out. Clients are keyed by
// their address (clientip.Proxies.Client: the peer's, or behind a trusted
// reverse proxy the one its X-Forwarded-For vouches for; behind a proxy
// that is not trusted, all its clients share the proxy's budget), IPv6
// ones by their /64, which one host can fill with addresses.
//
// Memory is bounded: a client whose bucket has refilled is no different
// from one never seen, so sweep forgets it; and at most max clients are
// kept. A client that cannot be kept because max others are failing right
// now is let through untracked rather than refused, for the same reason
// as above: refusing it would lock the operator out during a wide attack.
type loginLimiter struct {
	every time.Duration
	burst float64
	max   int

	mu        sync.Mutex
	clients   map[string]*loginBucket
	lastSweep time.Time
}

// loginBucket is one client's attempts left, as of at.
type loginBucket struct {
	tokens float64
	at     time.Time
}

func newLoginLimiter(every time.Duration, burst, max int) *loginLimiter {
	return &loginLimiter{every: every, burst: float64(burst), max: max, clients: make(map[string]*loginBucket)}
}

// refill brings b up to now.
func (l *loginLimiter) refill(b *loginBucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+float64(d)/float64(l.every))
	}
	b.at = now
}

// take spends one attempt of key, reporting false (nothing spent) when
// key has none left. It is taken before the token is compared, so
// concurrent guesses cannot all pass a check before any is counted; a
// successful login gives it back with refund.
func (l *loginLimiter) take(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.refillTime() || now.Before(l.lastSweep) {
		l.sweep(now)
	}
	b, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= l.max {
			l.sweep(now)
		}
		if len(l.clients) >= l.max {
			return true // untracked; see the type's comment
		}
		b = &loginBucket{tokens: l.burst, at: now}
		l.clients[key] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refund gives back the attempt a successful login took.
func (l *loginLimiter) refund(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.clients[key]; ok {
		l.refill(b, now)
		b.tokens = min(l.burst, b.tokens+1)
	}
}

// refillTime is how long an empty bucket takes to fill.
func (l *loginLimiter) refillTime() time.Duration {
	return time.Duration(l.burst) * l.every
}

// sweep forgets clients whose bucket is full again. l.mu is held.
func (l *loginLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for key, b := range l.clients {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.clients, key)
		}
	}
}

// size is how many clients are tracked.
func (l *loginLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// clientKey names a client for the login limiter: its IPv4 address, or
// its IPv6 /64; an invalid one (a peer address that could not be parsed)
// is named by remoteAddr as is.
func clientKey(addr netip.Addr, remoteAddr string) string {
	if !addr.IsValid() {
		return remoteAddr
	}
	if addr.Is4() {
		return addr.String()
	}
	return netip.PrefixFrom(addr, 64).Masked().String()
}
