package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// BenchmarkRecord measures the writer's cost of recording successful
// attempts, in calls of 128 results as the delivery engine's recorder
// makes them, against deliveries already stored (untimed).
func BenchmarkRecord(b *testing.B) {
	ctx := b.Context()
	db, base := backlogStore(b, b.N)
	sent := map[string]string{
		"content-type": "application/json", "user-agent": "Herald/1.0",
		"webhook-id": "msg_000000000001", "webhook-timestamp": "1795982400",
		"webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
	}
	received := map[string]string{"Content-Length": "0", "Date": "Tue, 24 Nov 2026 19:00:00 GMT"}
	const batch = 128
	results := make([]store.Result, 0, batch)

	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i += batch {
		now := base.Add(time.Duration(i) * time.Millisecond)
		results = results[:0]
		for j := i; j < min(i+batch, b.N); j++ {
			results = append(results, store.Result{
				Attempt: herald.Attempt{
					ID: herald.NewID(herald.PrefixAttempt, now), MsgID: bulkMessageID(j + 1), EndpointID: "ep_bulk",
					AppID: "app_bulk", URL: "https://bulk", Status: herald.StatusSuccess, StatusCode: 200,
					RequestHeaders: sent, ResponseHeaders: received, Duration: time.Millisecond, CreatedAt: now,
				},
				Outcome:  herald.Outcome{Status: herald.StatusSuccess},
				Attempts: 1,
			})
		}
		if _, err := db.Record(ctx, results); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	b.StopTimer()
	// A result whose message is missing is skipped without an error, so
	// check that every result was recorded, not skipped.
	var attempts, open int
	if err := db.reader.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM attempts), (SELECT count(*) FROM deliveries WHERE status IN (1, 3))`).Scan(&attempts, &open); err != nil {
		b.Fatal(err)
	}
	if attempts != b.N || open != 0 {
		b.Fatalf("recorded %d attempts of %d, %d deliveries still open", attempts, b.N, open)
	}
}

// bulkMessageID is the ID fillBacklog gives its i-th message (from 1).
func bulkMessageID(i int) string { return fmt.Sprintf("msg_%012d", i) }
