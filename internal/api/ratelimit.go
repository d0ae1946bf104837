package api

import (
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/internal/herald"
)

// maxLimiters bounds how many tokens' limiters are kept; past it the set
// starts afresh, which at worst forgives a burst.
const maxLimiters = 100_000

// tokenLimits holds one token bucket per API token.
type tokenLimits struct {
	limit rate.Limit
	burst int

	mu sync.Mutex
	by map[string]*rate.Limiter
}

func newTokenLimits(perSecond float64, burst int) *tokenLimits {
	if perSecond <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = max(1, int(math.Ceil(2*perSecond)))
	}
	return &tokenLimits{limit: rate.Limit(perSecond), burst: burst, by: make(map[string]*rate.Limiter)}
}

// wait reports how long the token must wait before this request would be
// allowed, or 0 when it may go now (and is counted).
func (l *tokenLimits) wait(token []byte, now time.Time) time.Duration {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	lim := l.by[string(token)]
	if lim == nil {
		if len(l.by) >= maxLimiters {
			clear(l.by)
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.by[string(token)] = lim
	}
	l.mu.Unlock()
	r := lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d > 0 {
		r.CancelAt(now)
	}
	return d
}

// rateLimit answers 429 with Retry-After when the caller's token is over
// its rate.
func (s *Server) rateLimit(c *call) error {
	d := s.limits.wait(c.who.hash, c.now)
	if d <= 0 {
		return nil
	}
	secs := int(math.Ceil(d.Seconds()))
	c.w.Header().Set("Retry-After", strconv.Itoa(secs))
	return herald.Errorf(herald.ERATELIMIT, "Too many requests for this token; retry in %d s", secs)
}
