package inbound

import (
	"sync"
	"time"
)

// logLimit lets one log line per key through per interval, so a provider
// hammering a source with bad signatures cannot flood the log.
type logLimit struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
}

// maxLogKeys bounds the limiter's memory; past it the map starts afresh.
const maxLogKeys = 4096

func newLogLimit(every time.Duration) *logLimit {
	return &logLimit{every: every, last: make(map[string]time.Time)}
}

// allow reports whether a line for key may be logged at now.
func (l *logLimit) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every {
		return false
	}
	if len(l.last) >= maxLogKeys {
		clear(l.last)
	}
	l.last[key] = now
	return true
}
