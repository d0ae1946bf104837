package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEndpointConcurrencyHoldsAcrossNodes runs two nodes on one PostgreSQL
// and an endpoint that holds every request: added up, the nodes never have
// more requests in flight to it than the per-endpoint limit (16), because
// each node takes its share of the limit rather than the whole.
func TestEndpointConcurrencyHoldsAcrossNodes(t *testing.T) {
	t.Parallel()
	const token, limit, total = "limits-admin-token", 16, 60
	db := freshSchema(t)
	common := []string{"--database", db, "--admin-token", token, "--allow-network", "127.0.0.0/8", "--lease-duration", "3s"}
	a := startHerald(t, append([]string{"--data-dir", t.TempDir()}, common...)...)
	b := startHerald(t, append([]string{"--data-dir", t.TempDir()}, common...)...)
	defer a.interrupt()
	defer b.interrupt()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Both nodes must know of each other before the load starts.
	split := regexp.MustCompile(`limits split between nodes.* nodes=2`)
	if !a.waitLog(ctx, split) || !b.waitLog(ctx, split) {
		t.Fatal("the nodes did not learn of each other")
	}

	// The endpoint holds every request until the test lets them all go.
	var (
		mu       sync.Mutex
		inFlight int
		peak     int
		done     = map[string]bool{}
		changed  = make(chan struct{})
		release  = make(chan struct{})
	)
	notify := func() { close(changed); changed = make(chan struct{}) }
	waitUntil := func(cond func() bool) bool {
		for {
			mu.Lock()
			ok, ch := cond(), changed
			mu.Unlock()
			if ok {
				return true
			}
			select {
			case <-ch:
			case <-ctx.Done():
				return false
			}
		}
	}
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		notify()
		mu.Unlock()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		mu.Lock()
		inFlight--
		done[r.Header.Get("webhook-id")] = true
		notify()
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer slow.Close()

	var app struct{ ID string }
	if _, err := call(ctx, a.URL, token, "POST", "/api/v1/app", map[string]any{"name": "limits"}, &app); err != nil {
		t.Fatal(err)
	}
	if _, err := call(ctx, a.URL, token, "POST", "/api/v1/app/"+app.ID+"/endpoint", map[string]any{"url": slow.URL}, nil); err != nil {
		t.Fatal(err)
	}
	for i := range total {
		node := a
		if i%2 == 1 {
			node = b
		}
		if _, err := call(ctx, node.URL, token, "POST", "/api/v1/app/"+app.ID+"/msg",
			map[string]any{"eventType": "limits.test", "payload": map[string]any{"n": i}}, nil); err != nil {
			t.Fatal(err)
		}
	}

	// Each node has 30 deliveries queued: together they fill the limit,
	// and must stop there.
	if !waitUntil(func() bool { return inFlight >= limit }) {
		t.Fatalf("the endpoint never reached %d requests in flight", limit)
	}
	close(release)
	if !waitUntil(func() bool { return len(done) == total }) {
		t.Fatalf("only %d of %d messages delivered", len(done), total)
	}
	mu.Lock()
	defer mu.Unlock()
	if peak > limit {
		t.Errorf("the endpoint had %d requests in flight at once, want at most %d across both nodes", peak, limit)
	}
	t.Logf("peak concurrency %d with two nodes (limit %d)", peak, limit)
}

// Out-of-range numbers would otherwise fall back to a default without a
// word (a concurrency or body limit of zero or less, a lease of 0 meaning
// five minutes) or mean something absurd (a lease of 1ms sends every
// delivery several times; a NaN rate limit is no limit).
func TestServeRejectsOutOfRangeNumbers(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--host-connections", "0"}, {"--endpoint-concurrency", "-4"},
		{"--lease-duration", "0s"}, {"--lease-duration", "1ms"},
		{"--api-rate-limit", "NaN"}, {"--api-rate-limit", "-1"}, {"--api-rate-burst", "-1"},
		{"--max-body-bytes", "-5"},
	} {
		if err := startError(t, args...); !strings.Contains(err.Error(), args[0]) {
			t.Errorf("start with %v: error %q does not name the flag", args, err)
		}
	}
}
