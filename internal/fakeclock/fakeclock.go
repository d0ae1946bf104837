// Package fakeclock is a clock tests set and move by hand, for code that
// takes its time from a func() time.Time. It is safe for concurrent use.
package fakeclock

import (
	"sync"
	"time"
)

// Clock reads the time it was last set or moved to.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock that reads t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
