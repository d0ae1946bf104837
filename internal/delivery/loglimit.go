package delivery

import (
	"sync"
	"time"
)

// logLimiter lets one log line per key through per interval, so an error
// repeated in a loop (a database down, a bad secret) does not flood the
// log.
type logLimiter struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
}

func newLogLimiter(every time.Duration) *logLimiter {
	return &logLimiter{every: every, last: make(map[string]time.Time)}
}

// allow reports whether a line for key may be logged at now.
func (l *logLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every && now.Sub(t) >= 0 {
		return false
	}
	if len(l.last) > 10000 {
		clear(l.last)
	}
	l.last[key] = now
	return true
}
