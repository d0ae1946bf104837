package delivery

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// clockStore is a store with a clock of its own, offset from the node's.
type clockStore struct {
	*memStore
	offset time.Duration
}

func (s *clockStore) Now(context.Context) (time.Time, error) { return time.Now().Add(s.offset), nil }

// TestClockFollowsOnlyRealChanges: the engine adopts the store's offset
// when it changes by a step that matters, and keeps its clock steady
// through the few milliseconds one measurement differs from the next, so
// its time does not step back and forth at every heartbeat.
func TestClockFollowsOnlyRealChanges(t *testing.T) {
	t.Parallel()
	s := &clockStore{memStore: newMemStore()}
	e := &Engine{store: s, log: slog.New(slog.DiscardHandler)}
	e.cfg.Now = time.Now
	for _, step := range []struct {
		store, want time.Duration
	}{
		{40 * time.Millisecond, 0},                   // within a step of none: the node keeps its own clock
		{time.Hour, time.Hour},                       // an hour ahead: adopted
		{time.Hour - 30*time.Millisecond, time.Hour}, // jitter: kept
		{time.Hour + 30*time.Millisecond, time.Hour},
		{time.Hour - 2*time.Second, time.Hour - 2*time.Second}, // a real change: adopted
		{0, 0},
	} {
		s.offset = step.store
		e.syncClock(t.Context())
		if got := time.Duration(e.offset.Load()); (got - step.want).Abs() > 20*time.Millisecond {
			t.Errorf("store %v ahead: engine offset %v, want about %v", step.store, got, step.want)
		}
	}
}
