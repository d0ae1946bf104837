package herald

import (
	"strings"
	"testing"
	"time"
)

func TestNewIDSortsByCreation(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	prev := NewID(PrefixMessage, now)
	for i := range 100_000 {
		// Several IDs per millisecond, and a clock that steps back once.
		ts := now.Add(time.Duration(i/7) * time.Millisecond)
		if i == 5000 {
			ts = now
		}
		id := NewID(PrefixMessage, ts)
		if !strings.HasPrefix(id, PrefixMessage) || len(id) != len(PrefixMessage)+idLen {
			t.Fatalf("malformed id %q", id)
		}
		if id <= prev {
			t.Fatalf("id %d: %q does not sort after %q", i, id, prev)
		}
		prev = id
	}
}

func TestEncodeBase62KeepsOrder(t *testing.T) {
	t.Parallel()
	var lo, hi [20]byte
	hi[19] = 1
	if a, b := encodeBase62(lo), encodeBase62(hi); a >= b {
		t.Errorf("got %q >= %q", a, b)
	}
	var max [20]byte
	for i := range max {
		max[i] = 0xff
	}
	if got := encodeBase62(max); len(got) != idLen {
		t.Errorf("largest value: got %d characters, want %d", len(got), idLen)
	}
}
