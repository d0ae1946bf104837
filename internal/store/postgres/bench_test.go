package postgres

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/bench"
	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// BenchmarkPublish measures durable publishes from many goroutines, as the
// API issues them: a 1 KiB payload and one delivery each, group-committed.
func BenchmarkPublish(b *testing.B) {
	db := openTest(b, func(c *Config) { c.MaxConns = 10 })
	w := newWorld(b, db, 1)
	payload := []byte(`{"data":"` + string(bytes.Repeat([]byte("x"), 1024-11)) + `"}`)
	ctx := context.Background()
	b.SetBytes(int64(len(payload)))
	// Many publishers in flight, as under API load, so group commits fill
	// up: durable throughput then depends on batching, not on fsync latency.
	b.SetParallelism(128)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := publishOne(ctx, db, w, payload); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPublishRecord measures the store's whole share of one event on
// the fresh path: a durable publish leased to this node, then the record
// of its successful attempt, from many goroutines. server-cpu-µs/op is
// the CPU the PostgreSQL server's processes on this machine used per
// event, where /proc shows them; cpu-µs/op is this process's.
func BenchmarkPublishRecord(b *testing.B) {
	db := openTest(b, func(c *Config) { c.MaxConns = 10 })
	w := newWorld(b, db, 1)
	payload := []byte(`{"data":"` + string(bytes.Repeat([]byte("x"), 1024-11)) + `"}`)
	sent := map[string]string{"Content-Type": "application/json", "Webhook-Id": "msg_2pXbXhVYGh5Jd6wFh8dQx1Ro9Zk",
		"Webhook-Timestamp": "1795982400", "Webhook-Signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
	received := map[string]string{"Content-Length": "0", "Date": "Tue, 24 Nov 2026 19:00:00 GMT"}
	ctx := context.Background()
	b.SetParallelism(64)
	b.ResetTimer()
	cpu0, srv0 := bench.ReadUsage().CPU, serverCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m, err := publishOne(ctx, db, w, payload)
			if err != nil {
				b.Error(err)
				return
			}
			now := m.CreatedAt
			res := []store.Result{{
				Attempt: herald.Attempt{ID: herald.NewID(herald.PrefixAttempt, now), MsgID: m.ID, EndpointID: w.eps[0].ID,
					AppID: w.app.ID, URL: w.eps[0].URL, Status: herald.StatusSuccess, StatusCode: 200,
					RequestHeaders: sent, ResponseHeaders: received, Duration: time.Millisecond, CreatedAt: now},
				Outcome:  herald.Outcome{Status: herald.StatusSuccess},
				Attempts: 1,
				Owner:    "bench-node",
			}}
			if _, err := db.Record(ctx, res); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64((bench.ReadUsage().CPU-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	if srv := serverCPU(); srv > 0 {
		b.ReportMetric(float64((srv-srv0).Microseconds())/float64(b.N), "server-cpu-µs/op")
	}
}

// publishOne durably publishes payload with one delivery to w's first
// endpoint, leased to this node, as the API does.
func publishOne(ctx context.Context, db *DB, w *world, payload []byte) (*herald.Message, error) {
	now := time.Now()
	m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: w.app.ID, EventType: "invoice.paid",
		Payload: payload, CreatedAt: now}
	d := []herald.Delivery{{MsgID: m.ID, EndpointID: w.eps[0].ID, AppID: w.app.ID, Status: herald.StatusPending,
		NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}}
	return m, db.Publish(ctx, m, d, "bench-node", now.Add(time.Minute))
}

// serverCPU is the CPU time used so far by the processes named postgres
// on this machine (the server's), or 0 where /proc does not tell.
func serverCPU() time.Duration {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile("/proc/" + d.Name() + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "postgres" {
			total += bench.ReadProcessUsage(pid).CPU
		}
	}
	return total
}

// BenchmarkClaimPastOrderedBacklog measures a claim with 40,000 deliveries
// waiting behind the in-flight head of an ordered endpoint and one of
// another endpoint due: the waiting ones are parked (fifo.go), so the claim
// does not walk them. The claimed delivery is released after each claim
// (untimed), so every claim finds the same queue.
func BenchmarkClaimPastOrderedBacklog(b *testing.B) {
	ctx := context.Background()
	db := openTest(b)
	base := time.Now().UTC().Truncate(time.Millisecond)
	n := 40_000
	fillHeld(b, ctx, db, n, ms(base))
	ep, err := db.GetEndpoint(ctx, "app_bulk", "ep_bulk")
	if err != nil {
		b.Fatal(err)
	}
	if err := setOrdered(ctx, db, ep, true); err != nil {
		b.Fatal(err)
	}
	now := base.Add(time.Duration(n+2) * time.Millisecond)
	if head, err := db.Claim(ctx, "other", now, time.Hour, 1); err != nil || len(head) != 1 {
		b.Fatalf("claim the head: %d jobs, %v", len(head), err)
	}
	b.ResetTimer()
	for b.Loop() {
		jobs, err := db.Claim(ctx, "node", now, time.Minute, 10)
		if err != nil || len(jobs) != 1 || jobs[0].Delivery.EndpointID != "ep_up" {
			b.Fatalf("claim: %d jobs, %v; want ep_up's one", len(jobs), err)
		}
		b.StopTimer()
		if err := db.ReleaseLeases(ctx, "node", []store.DeliveryKey{{MsgID: jobs[0].Delivery.MsgID, EndpointID: "ep_up"}}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
