package webhook

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/fakeclock"
)

func seen(t *testing.T, d DedupeStore, id string) bool {
	t.Helper()
	ok, err := d.Seen(context.Background(), id)
	if err != nil {
		t.Fatalf("Seen(%q): got error %v, want none", id, err)
	}
	return ok
}

func TestMemoryDedupeSeenAndExpiry(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(testNow)
	d := NewMemoryDedupe(MemoryDedupeConfig{TTL: time.Hour, Now: clock.Now})
	if seen(t, d, "a") {
		t.Fatal("first Seen(a): got true, want false")
	}
	if !seen(t, d, "a") {
		t.Fatal("second Seen(a): got false, want true")
	}
	clock.Advance(59 * time.Minute)
	if !seen(t, d, "a") {
		t.Fatal("Seen(a) within the TTL: got false, want true")
	}
	clock.Advance(time.Minute)
	if got := d.Len(); got != 0 {
		t.Fatalf("Len after the TTL: got %d, want 0", got)
	}
	if seen(t, d, "a") {
		t.Fatal("Seen(a) after the TTL: got true, want false")
	}
}

func TestMemoryDedupeForget(t *testing.T) {
	t.Parallel()
	d := NewMemoryDedupe(MemoryDedupeConfig{})
	seen(t, d, "a")
	if err := d.Forget(context.Background(), "a"); err != nil {
		t.Fatalf("Forget: got error %v, want none", err)
	}
	if seen(t, d, "a") {
		t.Fatal("Seen(a) after Forget: got true, want false")
	}
	if !seen(t, d, "a") {
		t.Fatal("Seen(a) again: got false, want true")
	}
}

func TestMemoryDedupeBounded(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(testNow)
	d := NewMemoryDedupe(MemoryDedupeConfig{MaxEntries: 3, Now: clock.Now})
	for _, id := range []string{"a", "b", "c", "d"} {
		clock.Advance(time.Second)
		seen(t, d, id)
	}
	if got := d.Len(); got != 3 {
		t.Fatalf("Len: got %d, want 3", got)
	}
	for _, id := range []string{"b", "c", "d"} {
		if !seen(t, d, id) {
			t.Fatalf("Seen(%s): got false, want true (recent ids are kept)", id)
		}
	}
	if seen(t, d, "a") {
		t.Fatal("Seen(a): got true, want false (the oldest id is dropped first)")
	}
}

// TestMemoryDedupeForgetChurn checks that marks left behind by Forget do
// not pile up: the bookkeeping stays proportional to MaxEntries.
func TestMemoryDedupeForgetChurn(t *testing.T) {
	t.Parallel()
	d := NewMemoryDedupe(MemoryDedupeConfig{MaxEntries: 10})
	for i := range 10_000 {
		id := strconv.Itoa(i % 5)
		seen(t, d, id)
		if err := d.Forget(context.Background(), id); err != nil {
			t.Fatalf("Forget: %v", err)
		}
	}
	d.mu.Lock()
	n := len(d.order)
	d.mu.Unlock()
	if n > 2*10+16 {
		t.Fatalf("marks kept after churn: got %d, want at most %d", n, 2*10+16)
	}
}

func TestMemoryDedupeConcurrentSeen(t *testing.T) {
	t.Parallel()
	d := NewMemoryDedupe(MemoryDedupeConfig{})
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := d.Seen(context.Background(), "same"); err == nil && !ok {
				fresh.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := fresh.Load(); got != 1 {
		t.Fatalf("concurrent Seen reporting a new id: got %d, want exactly 1", got)
	}
}
