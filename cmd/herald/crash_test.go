package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestKill9LosesNothingAcknowledged publishes from several clients, kills
// herald with SIGKILL mid-stream, restarts it on the same data directory,
// and checks that every message it had acknowledged with 2xx is delivered.
func TestKill9LosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	const token = "test-admin-token"
	dataDir := t.TempDir()
	snk := newSink(t)
	args := []string{"--data-dir", dataDir, "--admin-token", token, "--allow-network", "127.0.0.0/8"}

	h := startHerald(t, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var app struct{ ID string }
	if _, err := call(ctx, h.URL, token, "POST", "/api/v1/app", map[string]any{"name": "crash"}, &app); err != nil {
		t.Fatal(err)
	}
	var ep struct{ ID string }
	if _, err := call(ctx, h.URL, token, "POST", "/api/v1/app/"+app.ID+"/endpoint", map[string]any{"url": snk.URL}, &ep); err != nil {
		t.Fatal(err)
	}

	// Publish from 8 clients until herald dies; kill it once 400 messages
	// have been acknowledged, while the clients are still publishing.
	var (
		mu      sync.Mutex
		acked   = map[string]bool{}
		nAcked  atomic.Int64
		killNow = make(chan struct{})
		once    sync.Once
		wg      sync.WaitGroup
	)
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				var msg struct{ ID string }
				payload := map[string]any{"client": c, "n": i, "pad": fmt.Sprintf("%0512d", i)}
				_, err := call(ctx, h.URL, token, "POST", "/api/v1/app/"+app.ID+"/msg",
					map[string]any{"eventType": "crash.test", "payload": payload}, &msg)
				if err != nil {
					return // the server is gone; an unacknowledged publish may or may not be kept
				}
				mu.Lock()
				acked[msg.ID] = true
				mu.Unlock()
				if nAcked.Add(1) >= 400 {
					once.Do(func() { close(killNow) })
				}
			}
		}()
	}
	<-killNow
	h.kill()
	wg.Wait()

	mu.Lock()
	want := len(acked)
	mu.Unlock()
	t.Logf("acknowledged %d messages before SIGKILL", want)

	h2 := startHerald(t, args...)
	defer h2.interrupt()
	dup := snk.waitAllDelivered(t, ctx, acked)
	t.Logf("all %d acknowledged messages delivered; %d delivered more than once (in flight at the kill)", want, dup)

	// Every attempt is logged: once the endpoint's stats count each
	// acknowledged delivery as succeeded (a result moves its delivery in
	// the transaction that logs the attempt), each message lists its
	// successful attempt.
	for tick := time.NewTicker(20 * time.Millisecond); ; {
		var stats struct{ Success int }
		if _, err := call(ctx, h2.URL, token, "GET", "/api/v1/app/"+app.ID+"/endpoint/"+ep.ID+"/stats", nil, &stats); err != nil {
			t.Fatal(err)
		}
		if stats.Success >= want {
			tick.Stop()
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d acknowledged deliveries succeeded on record", stats.Success, want)
		case <-tick.C:
		}
	}
	for id := range acked {
		var attempts struct{ Data []struct{ Status int } }
		if _, err := call(ctx, h2.URL, token, "GET", "/api/v1/app/"+app.ID+"/attempt/msg/"+id, nil, &attempts); err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(attempts.Data, func(a struct{ Status int }) bool { return a.Status == 0 }) {
			t.Errorf("message %s: attempts %+v, want a successful one logged", id, attempts.Data)
		}
	}
}
