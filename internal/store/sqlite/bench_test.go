package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// BenchmarkPublish measures durable publishes (synchronous=FULL) of a 1 KiB
// payload with one delivery each, from many concurrent callers, as the API
// would issue them.
func BenchmarkPublish(b *testing.B) {
	ctx := b.Context()
	db, app, ep, payload := benchStore(b)

	b.SetParallelism(64) // many requests in flight, as under load
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := publishOne(ctx, db, app, ep, payload); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "publishes/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkPublishRecord measures the writer's whole share of one event on
// the fresh path: a durable publish leased to this node, then the record
// of its successful attempt, with the headers a real attempt logs, from
// many concurrent callers. written-B/op is what the process wrote to files
// per event (the WAL, and the checkpoints copying it back), where
// /proc/self/io tells.
func BenchmarkPublishRecord(b *testing.B) {
	ctx := b.Context()
	db, app, ep, payload := benchStore(b)
	sent := map[string]string{
		"Content-Type": "application/json", "User-Agent": "Herald/1.0",
		"Webhook-Id": "msg_2pXbXhVYGh5Jd6wFh8dQx1Ro9Zk", "Webhook-Timestamp": "1795982400",
		"Webhook-Signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
	}
	received := map[string]string{"Content-Length": "0", "Date": "Tue, 24 Nov 2026 19:00:00 GMT"}

	b.SetParallelism(64)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, w0 := cpuTime(), writtenBytes()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			msg, err := publishOne(ctx, db, app, ep, payload)
			if err != nil {
				b.Error(err)
				return
			}
			t := msg.CreatedAt
			res := []store.Result{{
				Attempt: herald.Attempt{
					ID: herald.NewID(herald.PrefixAttempt, t), MsgID: msg.ID, EndpointID: ep.ID, AppID: app.ID,
					URL: ep.URL, Status: herald.StatusSuccess, StatusCode: 200,
					RequestHeaders: sent, ResponseHeaders: received, Duration: time.Millisecond, CreatedAt: t,
				},
				Outcome:  herald.Outcome{Status: herald.StatusSuccess},
				Attempts: 1,
				Owner:    "node",
			}}
			if _, err := db.Record(ctx, res); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	if w := writtenBytes(); w > 0 {
		b.ReportMetric(float64(w-w0)/float64(b.N), "written-B/op")
	}
}

// publishOne durably publishes payload with one delivery to ep, leased to
// this node, as the API does.
func publishOne(ctx context.Context, db *DB, app *herald.Application, ep *herald.Endpoint, payload []byte) (*herald.Message, error) {
	t := time.Now()
	msg := &herald.Message{
		ID: herald.NewID(herald.PrefixMessage, t), AppID: app.ID, EventType: "bench.event",
		Payload: payload, CreatedAt: t, ExpiresAt: t.Add(24 * time.Hour),
	}
	ds := []herald.Delivery{{MsgID: msg.ID, EndpointID: ep.ID, AppID: app.ID, Status: herald.StatusPending, CreatedAt: t}}
	return msg, db.Publish(ctx, msg, ds, "node", t.Add(time.Minute))
}

// benchStore opens a store in a temporary directory with one application
// and one endpoint, and returns them with a 1 KiB JSON payload.
func benchStore(b *testing.B) (*DB, *herald.Application, *herald.Endpoint, []byte) {
	ctx := b.Context()
	db, err := Open(ctx, Config{Path: filepath.Join(b.TempDir(), "herald.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	now := time.Now().UTC()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApp, now), Name: "bench", CreatedAt: now, UpdatedAt: now}
	ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: app.ID, URL: "https://bench", CreatedAt: now, UpdatedAt: now}
	if err := db.CreateApplication(ctx, app); err != nil {
		b.Fatal(err)
	}
	if err := db.CreateEndpoint(ctx, ep); err != nil {
		b.Fatal(err)
	}
	payload := append(append([]byte(`{"data":"`), bytes.Repeat([]byte("x"), 1024-11)...), '"', '}')
	return db, app, ep, payload
}

// backlogStore opens a store in a temporary directory holding n due
// deliveries (fillBacklog), and returns it with their base time.
func backlogStore(b *testing.B, n int) (*DB, time.Time) {
	db, err := Open(b.Context(), Config{Path: filepath.Join(b.TempDir(), "herald.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	base := time.Now().UTC().Truncate(time.Millisecond)
	fillBacklog(b, b.Context(), db, n, base)
	return db, base
}

// writtenBytes is what this process has passed to write calls so far
// (wchar in /proc/self/io), or 0 where that file does not exist.
func writtenBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkClaimRecord measures the retry path: claiming due deliveries in
// batches of 128 and recording a successful attempt for each.
func BenchmarkClaimRecord(b *testing.B) {
	ctx := b.Context()
	db, base := backlogStore(b, b.N)
	now := base.Add(time.Duration(b.N+1) * time.Millisecond)
	results := make([]store.Result, 0, 128)
	hdrs := map[string]string{"Content-Type": "application/json"}

	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	done := 0
	for done < b.N {
		jobs, err := db.Claim(ctx, "node", now, time.Minute, 128)
		if err != nil {
			b.Fatal(err)
		}
		if len(jobs) == 0 {
			b.Fatalf("claim: ran dry after %d of %d", done, b.N)
		}
		results = results[:0]
		for _, j := range jobs {
			results = append(results, store.Result{
				Attempt: herald.Attempt{
					ID: herald.NewID(herald.PrefixAttempt, now), MsgID: j.Delivery.MsgID, EndpointID: j.Delivery.EndpointID,
					AppID: j.Delivery.AppID, URL: j.Endpoint.URL, Status: herald.StatusSuccess, StatusCode: 200,
					ResponseBody: `{"ok":true}`, ResponseHeaders: hdrs, Duration: time.Millisecond, CreatedAt: now,
				},
				Outcome:  herald.Outcome{Status: herald.StatusSuccess},
				Attempts: j.Delivery.Attempts + 1,
				Owner:    j.Delivery.LeaseOwner,
			})
		}
		if _, err := db.Record(ctx, results); err != nil {
			b.Fatal(err)
		}
		done += len(jobs)
	}
	b.ReportMetric(float64(done)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(done), "cpu-µs/op")
}

// BenchmarkClaimFromBacklog measures one claim of 128 due deliveries with
// 10,000 and 1,000,000 waiting. Claims walk the partial due index from its
// oldest entry, so their cost must not grow with the backlog. The claimed
// rows are released after each claim (untimed), so every claim sees the
// whole backlog.
func BenchmarkClaimFromBacklog(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("backlog=%d", n), func(b *testing.B) {
			db, base := backlogStore(b, n)
			claimAndRelease(b, db, base.Add(time.Duration(n+1)*time.Millisecond))
		})
	}
}

// BenchmarkClaimPastHeldBacklog is BenchmarkClaimFromBacklog with the
// backlog held back by its endpoint's open circuit and 128 deliveries of
// another endpoint to claim: opening the circuit moves the backlog out of
// the due head, so a claim's cost stays flat however large it is. The time
// opening took (moving the whole backlog) is reported as open-ms.
func BenchmarkClaimPastHeldBacklog(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("backlog=%d", n), func(b *testing.B) {
			ctx := b.Context()
			db, base := backlogStore(b, n)
			now := base.Add(time.Duration(n+1) * time.Millisecond)
			addDeliverable(b, ctx, db, 128, now)
			start := time.Now()
			if _, err := db.OpenCircuit(ctx, "ep_bulk", herald.CircuitClosed, now, time.Hour); err != nil {
				b.Fatal(err)
			}
			db.bg.Wait()
			open := time.Since(start)
			claimAndRelease(b, db, now)
			b.ReportMetric(float64(open.Milliseconds()), "open-ms")
		})
	}
}

// BenchmarkClaimPastOrderedBacklog is BenchmarkClaimFromBacklog with the
// backlog waiting behind the in-flight head of an ordered endpoint and 128
// deliveries of another endpoint to claim: the waiting deliveries are
// parked out of the due head (fifo.go), so a claim's cost stays flat
// however many wait. The time turning ordering on took (parking the whole
// backlog) is reported as order-ms.
func BenchmarkClaimPastOrderedBacklog(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("backlog=%d", n), func(b *testing.B) {
			ctx := b.Context()
			db, base := backlogStore(b, n)
			now := base.Add(time.Duration(n+1) * time.Millisecond)
			start := time.Now()
			if err := setOrdered(ctx, db, "app_bulk", "ep_bulk", true, now); err != nil {
				b.Fatal(err)
			}
			order := time.Since(start)
			if head, err := db.Claim(ctx, "other", now, time.Hour, 1); err != nil || len(head) != 1 {
				b.Fatalf("claim the head: %d jobs, %v", len(head), err)
			}
			addDeliverable(b, ctx, db, 128, now)
			claimAndRelease(b, db, now)
			b.ReportMetric(float64(order.Milliseconds()), "order-ms")
		})
	}
}

// claimAndRelease times claims of 128 due deliveries at now; each claimed
// batch is released again, untimed, so every claim finds the same backlog.
func claimAndRelease(b *testing.B, db *DB, now time.Time) {
	ctx := b.Context()
	keys := make([]store.DeliveryKey, 0, 128)
	b.ResetTimer()
	for b.Loop() {
		jobs, err := db.Claim(ctx, "node", now, time.Minute, 128)
		if err != nil || len(jobs) != 128 {
			b.Fatalf("claim: %d jobs, %v", len(jobs), err)
		}
		b.StopTimer()
		keys = keys[:0]
		for _, j := range jobs {
			keys = append(keys, store.DeliveryKey{MsgID: j.Delivery.MsgID, EndpointID: j.Delivery.EndpointID})
		}
		if err := db.ReleaseLeases(ctx, "node", keys); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkPollFilteredIdle measures a poll filtered on an event type
// that none of the application's 100,000 messages has, from the position
// the previous such poll returned: what an idle filtered poller costs.
// A page that is not full ends at the highest number it scanned, so the
// cost must not grow with the messages behind it.
func BenchmarkPollFilteredIdle(b *testing.B) {
	ctx := b.Context()
	db, err := Open(ctx, Config{Path: filepath.Join(b.TempDir(), "herald.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if _, err := db.writer.ExecContext(ctx, `INSERT INTO applications (id, name, created_at, updated_at)
		VALUES ('app_1', 'a', 0, 0)`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.writer.ExecContext(ctx, `WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100000)
		INSERT INTO messages (id, app_id, event_type, payload, created_at, seq)
		SELECT printf('msg_%012d', i), 'app_1', 'user.signup', '{}', i, i FROM c`); err != nil {
		b.Fatal(err)
	}
	f := store.PollFilter{EventTypes: []string{"invoice.paid"}, Limit: 51}
	page, err := db.PollMessages(ctx, "app_1", f)
	if err != nil || len(page.Messages) != 0 {
		b.Fatalf("first poll: %d messages, %v", len(page.Messages), err)
	}
	// from=start is what every idle poll cost while a page that was not
	// full ended at its last message.
	for name, after := range map[string]int64{"from=start": 0, "from=position": page.Position} {
		b.Run(name, func(b *testing.B) {
			f.After = after
			for b.Loop() {
				if _, err := db.PollMessages(ctx, "app_1", f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkExpireFanout measures one retention call (one transaction of
// the single writer, which every publish waits behind) over messages that
// went to 100 endpoints with 3 attempts each: 401 rows a message. A call
// writes at most its limit (1,000) rows, however wide the messages.
func BenchmarkExpireFanout(b *testing.B) {
	ctx := b.Context()
	db, err := Open(ctx, Config{Path: filepath.Join(b.TempDir(), "herald.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	const messages, endpoints, attempts = 1000, 100, 3
	for _, q := range []string{
		`INSERT INTO applications (id, name, created_at, updated_at) VALUES ('app_1', 'a', 0, 0)`,
		fmt.Sprintf(`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d)
			INSERT INTO messages (id, app_id, event_type, payload, created_at, expires_at, seq)
			SELECT printf('msg_%%06d', i), 'app_1', 'e', '{}', i, i, i FROM c`, messages),
		fmt.Sprintf(`WITH RECURSIVE e(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM e WHERE j < %d)
			INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, attempts, created_at, updated_at)
			SELECT m.id, printf('ep_%%03d', e.j), 'app_1', 0, %d, 0, 0 FROM messages m, e`, endpoints, attempts),
		fmt.Sprintf(`WITH RECURSIVE a(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM a WHERE k < %d)
			INSERT INTO attempts (msg_id, id, endpoint_id, app_id, url, status, response_body, created_at)
			SELECT d.msg_id, d.endpoint_id || '_' || a.k, d.endpoint_id, 'app_1', 'https://example.com', 0, printf('%%.500c', 'x'), 0
			FROM deliveries d, a`, attempts),
	} {
		if _, err := db.writer.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	now := time.UnixMilli(messages + 1)
	rows := 0
	for b.Loop() {
		n, err := db.ExpireMessages(ctx, now, 1000)
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			b.Fatal("nothing left to expire: raise messages")
		}
		rows += n
	}
	b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
}
