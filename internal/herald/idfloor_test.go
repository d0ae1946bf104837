package herald

import (
	"strings"
	"testing"
	"time"
)

func TestIDFloor(t *testing.T) {
	t.Parallel()
	now := time.Now()
	id := NewID(PrefixMessage, now)
	if floor := IDFloor(PrefixMessage, now); id < floor {
		t.Errorf("ID made at now: got %s < floor %s, want >=", id, floor)
	}
	if later := IDFloor(PrefixMessage, now.Add(1000*time.Hour)); id >= later {
		t.Errorf("ID made at now: got %s >= floor of a later time %s, want <", id, later)
	}
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, d := range []time.Duration{time.Millisecond, time.Second, 24 * time.Hour, 10000 * time.Hour} {
		if a, b := IDFloor(PrefixApp, t0), IDFloor(PrefixApp, t0.Add(d)); a >= b {
			t.Errorf("floors %v apart: got %s >= %s, want them in time order", d, a, b)
		}
	}
	if f := IDFloor(PrefixAttempt, t0); !strings.HasPrefix(f, PrefixAttempt) || len(f) != len(PrefixAttempt)+idLen {
		t.Errorf("floor: got %q, want the prefix and %d characters", f, idLen)
	}
}
