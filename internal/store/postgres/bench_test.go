package postgres

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
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
			now := time.Now()
			m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: w.app.ID, EventType: "invoice.paid",
				Payload: payload, CreatedAt: now}
			d := []herald.Delivery{{MsgID: m.ID, EndpointID: w.eps[0].ID, AppID: w.app.ID, Status: herald.StatusPending,
				NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}}
			if err := db.Publish(ctx, m, d, "bench-node", now.Add(time.Minute)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
