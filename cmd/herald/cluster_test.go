package main

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/pgtest"
)

// freshSchema creates an empty schema for one test, dropped afterwards,
// and returns a database URL whose connections use it.
func freshSchema(t *testing.T) string {
	t.Helper()
	return pgtest.SchemaURL(t, pgtest.URL(), pgtest.NewSchema(t))
}

// TestTwoNodesSurviveOneKilled runs two herald nodes on one PostgreSQL,
// publishes through both, kills one with SIGKILL for good, and checks that
// the survivor delivers every acknowledged message, counting duplicates.
func TestTwoNodesSurviveOneKilled(t *testing.T) {
	t.Parallel()
	const token = "cluster-admin-token"
	db := freshSchema(t)
	snk := newSink(t)
	common := []string{"--database", db, "--admin-token", token, "--allow-network", "127.0.0.0/8", "--lease-duration", "3s"}
	a := startHerald(t, append([]string{"--data-dir", t.TempDir()}, common...)...)
	b := startHerald(t, append([]string{"--data-dir", t.TempDir()}, common...)...)
	defer b.interrupt()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var app struct{ ID string }
	if _, err := call(ctx, a.URL, token, "POST", "/api/v1/app", map[string]any{"name": "cluster"}, &app); err != nil {
		t.Fatal(err)
	}
	if _, err := call(ctx, a.URL, token, "POST", "/api/v1/app/"+app.ID+"/endpoint", map[string]any{"url": snk.URL}, nil); err != nil {
		t.Fatal(err)
	}

	var (
		mu          sync.Mutex
		acked       = map[string]bool{}
		ackedByA    atomic.Int64
		killA       = make(chan struct{})
		once        sync.Once
		wg          sync.WaitGroup
		stopPublish = make(chan struct{})
	)
	publishTo := func(node *heraldProcess, client int) {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stopPublish:
				return
			default:
			}
			var msg struct{ ID string }
			_, err := call(ctx, node.URL, token, "POST", "/api/v1/app/"+app.ID+"/msg",
				map[string]any{"eventType": "cluster.test", "payload": map[string]any{"client": client, "n": i}}, &msg)
			if err != nil {
				if node == a {
					return // node A is gone
				}
				t.Errorf("publish to the surviving node: %v", err)
				return
			}
			mu.Lock()
			acked[msg.ID] = true
			mu.Unlock()
			if node == a && ackedByA.Add(1) >= 300 {
				once.Do(func() { close(killA) })
			}
		}
	}
	for c := range 4 {
		wg.Add(2)
		go publishTo(a, c)
		go publishTo(b, c+100)
	}
	<-killA
	a.kill()
	// Keep publishing to the survivor a little longer, then stop.
	if !snk.waitFor(ctx, func(seen map[string]int) bool { return len(seen) > 600 }) {
		t.Fatal("deliveries stalled after the kill")
	}
	close(stopPublish)
	wg.Wait()

	dup := snk.waitAllDelivered(t, ctx, acked)
	t.Logf("%d acknowledged messages (%d through the killed node) all delivered by the survivor; %d delivered twice",
		len(acked), ackedByA.Load(), dup)
}
