package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// fillHeld stores n pending deliveries to ep_bulk, due over the n
// milliseconds after base, and one to ep_up due at base+n+1ms.
func fillHeld(t testing.TB, ctx context.Context, db *DB, n int, base int64) {
	t.Helper()
	for _, s := range []string{
		`INSERT INTO applications (id, name, created_at, updated_at) VALUES ('app_bulk', 'bulk', 0, 0)`,
		`INSERT INTO endpoints (id, app_id, url, created_at, updated_at) VALUES
			('ep_bulk', 'app_bulk', 'https://bulk', 0, 0), ('ep_up', 'app_bulk', 'https://up', 0, 0)`,
		`INSERT INTO messages (id, app_id, event_type, payload, created_at)
			SELECT 'msg_' || lpad(g::text, 12, '0'), 'app_bulk', 'bulk', '{}', $2::bigint + g
			FROM generate_series(1, $1::int + 1) AS g`,
		`INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, next_attempt_at, created_at, updated_at)
			SELECT id, CASE WHEN created_at - $2::bigint > $1::int THEN 'ep_up' ELSE 'ep_bulk' END,
				'app_bulk', 1, created_at, created_at, created_at
			FROM messages WHERE app_id = 'app_bulk' AND $1::int IS NOT NULL`,
		`ANALYZE deliveries`,
	} {
		args := []any{n, base}
		if strings.HasPrefix(s, "INSERT INTO applications") || strings.HasPrefix(s, "INSERT INTO endpoints") || s == `ANALYZE deliveries` {
			args = nil
		}
		if _, err := db.pool.Exec(ctx, s, args...); err != nil {
			t.Fatalf("fill: %v", err)
		}
	}
}

func countDue(t testing.TB, ctx context.Context, db *DB, cond string, args ...any) int {
	t.Helper()
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE `+cond, args...).Scan(&n); err != nil {
		t.Fatalf("count: %v", err)
	}
	return n
}

func TestOpenCircuitTakesItsBacklogOutOfTheDueHead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	base := time.Now().UTC().Truncate(time.Millisecond)
	n := 10_000 // several chunks
	fillHeld(t, ctx, db, n, ms(base))
	now := base.Add(time.Duration(n+1) * time.Millisecond)

	c, err := db.OpenCircuit(ctx, "ep_bulk", herald.CircuitClosed, now, time.Minute)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	db.bg.Wait() // the chunks after the first
	if got := countDue(t, ctx, db, `status IN (1, 3) AND next_attempt_at <= $1`, ms(now)); got != 1 {
		t.Errorf("due at now after opening: %d rows, want 1", got)
	}
	if got := countDue(t, ctx, db, `endpoint_id = 'ep_bulk' AND next_attempt_at = $1`, ms(c.RetryAt)); got != n {
		t.Errorf("held until the circuit's RetryAt: %d rows, want %d", got, n)
	}
	jobs, err := db.Claim(ctx, "node", now, time.Minute, 10)
	if err != nil || len(jobs) != 1 || jobs[0].Delivery.EndpointID != "ep_up" {
		t.Fatalf("claim while held: %d jobs, %v, want the one of ep_up", len(jobs), err)
	}

	closed := now.Add(time.Second)
	if err := db.CloseCircuit(ctx, "ep_bulk", closed); err != nil {
		t.Fatalf("close: %v", err)
	}
	db.bg.Wait()
	if got := countDue(t, ctx, db, `endpoint_id = 'ep_bulk' AND next_attempt_at = $1`, ms(closed)); got != n {
		t.Errorf("due at the close: %d rows, want %d", got, n)
	}
	if jobs, err := db.Claim(ctx, "node", closed, time.Minute, 100); err != nil || len(jobs) != 100 {
		t.Errorf("claim after close: %d jobs, %v, want 100", len(jobs), err)
	}
}

func TestHoldChunkUsesTheEndpointIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	fillHeld(t, ctx, db, 20_000, 0)
	rows, err := db.pool.Query(ctx, `EXPLAIN `+chunkKeys, "ep_bulk", int64(0), "", holdChunk)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatalf("explain: %v", err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("explain: %v", err)
	}
	if plan := strings.Join(lines, "\n"); !strings.Contains(plan, "deliveries_endpoint_open") {
		t.Errorf("chunk keys: plan does not read deliveries_endpoint_open:\n%s", plan)
	}
}

// Not parallel: it shrinks holdChunk, which parallel tests read.
func TestHoldMovesEveryChunkOnce(t *testing.T) {
	old := holdChunk
	holdChunk = 3
	t.Cleanup(func() { holdChunk = old })
	ctx := context.Background()
	db := openTest(t)
	base := time.Now().UTC().Truncate(time.Millisecond)
	fillHeld(t, ctx, db, 10, ms(base))
	// Rows sharing created_at straddle chunk boundaries: the cursor's
	// tie-break on msg_id must neither skip nor repeat them.
	if _, err := db.pool.Exec(ctx, `UPDATE deliveries SET created_at = $1 WHERE msg_id BETWEEN 'msg_000000000002' AND 'msg_000000000008'`, ms(base)); err != nil {
		t.Fatal(err)
	}
	now := base.Add(time.Second)
	c, err := db.OpenCircuit(ctx, "ep_bulk", herald.CircuitClosed, now, time.Minute)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	db.bg.Wait()
	if got := countDue(t, ctx, db, `endpoint_id = 'ep_bulk' AND next_attempt_at = $1`, ms(c.RetryAt)); got != 10 {
		t.Errorf("held until the circuit's RetryAt: %d rows, want 10", got)
	}
	if err := db.CloseCircuit(ctx, "ep_bulk", now); err != nil {
		t.Fatalf("close: %v", err)
	}
	db.bg.Wait()
	if got := countDue(t, ctx, db, `endpoint_id = 'ep_bulk' AND next_attempt_at = $1`, ms(now)); got != 10 {
		t.Errorf("due at the close: %d rows, want 10", got)
	}
}

// TestCloseCircuitWaitsForAHoldChunkInFlight: a chunk of a hold move that
// is still running when the circuit closes must not leave its rows held.
// The close waits for the chunk's transaction, then releases what it moved.
func TestCloseCircuitWaitsForAHoldChunkInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	w := newWorld(t, db, 1)
	ep := w.eps[0].ID
	c, err := db.OpenCircuit(ctx, ep, herald.CircuitClosed, w.t0, time.Minute)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	for range 3 { // published after the open moved the (empty) backlog
		w.publish(w.t0)
	}

	// The rest of the open's move, in flight: it has moved the three
	// deliveries to RetryAt and not committed yet.
	hold, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(ctx)
	if _, n, err := holdUntil(ep, c.RetryAt).step(ctx, hold, start); err != nil || n != 3 {
		t.Fatalf("hold chunk: moved %d, %v; want 3", n, err)
	}
	var xid string
	if err := hold.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&xid); err != nil {
		t.Fatal(err)
	}

	now := w.t0.Add(2 * time.Second)
	closed := make(chan error, 1)
	go func() { closed <- db.CloseCircuit(ctx, ep, now) }()
	// The close must wait for the chunk's transaction.
	waitBlocked(t, db, closed, "the close, with a hold chunk in flight,", `SELECT count(*) FROM pg_locks
		WHERE locktype = 'transactionid' AND NOT granted AND transactionid::text = $1`, xid)
	if err := hold.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("close: %v", err)
	}
	if n := countDue(t, ctx, db, `endpoint_id = $1 AND next_attempt_at > $2`, ep, ms(now)); n != 0 {
		t.Errorf("after the close: %d deliveries still held, want 0", n)
	}
}
