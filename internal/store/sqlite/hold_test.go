package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// countDeliveries counts deliveries matching cond.
func countDeliveries(t testing.TB, ctx context.Context, db *DB, cond string, args ...any) int {
	t.Helper()
	var n int
	if err := db.writer.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE `+cond, args...).Scan(&n); err != nil {
		t.Fatalf("count deliveries: %v", err)
	}
	return n
}

// addDeliverable adds n deliveries to the endpoint ep_up of app_bulk, due
// at due: traffic that must flow past a held-back backlog.
func addDeliverable(t testing.TB, ctx context.Context, db *DB, n int, due time.Time) {
	t.Helper()
	stmts := []string{
		`INSERT INTO endpoints (id, app_id, url, created_at, updated_at) VALUES ('ep_up', 'app_bulk', 'https://up', 0, 0)`,
		`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?1)
		 INSERT INTO messages (id, app_id, event_type, payload, created_at)
		 SELECT printf('msg_up_%06d', i), 'app_bulk', 'up', '{}', ?2 FROM seq`,
		`INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, next_attempt_at, created_at, updated_at)
		 SELECT id, 'ep_up', 'app_bulk', 1, ?2, ?2, ?2 FROM messages WHERE event_type = 'up'`,
	}
	for _, s := range stmts {
		if _, err := db.writer.ExecContext(ctx, s, n, ms(due)); err != nil {
			t.Fatalf("add deliverable: %v", err)
		}
	}
}

func TestOpenCircuitTakesItsBacklogOutOfTheDueHead(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	base := time.Now().UTC().Truncate(time.Millisecond)
	n := 10_000 // several chunks
	fillBacklog(t, ctx, db, n, base)
	now := base.Add(time.Duration(n+1) * time.Millisecond)
	addDeliverable(t, ctx, db, 1, now)

	c, err := db.OpenCircuit(ctx, "ep_bulk", herald.CircuitClosed, now, time.Minute)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	db.bg.Wait() // the chunks after the first
	// What a claim at now walks: only the one deliverable row.
	if got := countDeliveries(t, ctx, db, `status IN (1, 3) AND next_attempt_at <= ?`, ms(now)); got != 1 {
		t.Errorf("due at now after opening: %d rows, want 1", got)
	}
	if got := countDeliveries(t, ctx, db, `endpoint_id = 'ep_bulk' AND next_attempt_at = ?`, ms(c.RetryAt)); got != n {
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
	if got := countDeliveries(t, ctx, db, `endpoint_id = 'ep_bulk' AND next_attempt_at = ?`, ms(closed)); got != n {
		t.Errorf("due at the close: %d rows, want %d", got, n)
	}
	if jobs, err := db.Claim(ctx, "node", closed, time.Minute, 100); err != nil || len(jobs) != 100 {
		t.Errorf("claim after close: %d jobs, %v, want 100", len(jobs), err)
	}
}

// Not parallel: it shrinks holdChunk, which parallel tests read.
func TestHoldMovesEveryChunkOnce(t *testing.T) {
	old := holdChunk
	holdChunk = 3
	t.Cleanup(func() { holdChunk = old })
	ctx := t.Context()
	db := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	base := time.Now().UTC().Truncate(time.Millisecond)
	fillBacklog(t, ctx, db, 10, base)
	// Rows sharing created_at straddle chunk boundaries: the cursor's
	// tie-break on msg_id must neither skip nor repeat them.
	if _, err := db.writer.ExecContext(ctx, `UPDATE deliveries SET created_at = ? WHERE msg_id BETWEEN 'msg_000000000002' AND 'msg_000000000008'`, ms(base)); err != nil {
		t.Fatal(err)
	}
	// A leased row and one waiting for a later retry of its own stay.
	if _, err := db.writer.ExecContext(ctx, `UPDATE deliveries SET lease_owner = 'node', next_attempt_at = ? WHERE msg_id = 'msg_000000000004'`, ms(base.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, err := db.writer.ExecContext(ctx, `UPDATE deliveries SET status = 3, next_attempt_at = ? WHERE msg_id = 'msg_000000000006'`, ms(base.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	now := base.Add(time.Second)
	c, err := db.OpenCircuit(ctx, "ep_bulk", herald.CircuitClosed, now, time.Minute)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	db.bg.Wait()
	want := map[string]int64{"msg_000000000004": ms(base.Add(time.Hour)), "msg_000000000006": ms(base.Add(time.Hour))}
	wantAt := func(what string, at int64) {
		t.Helper()
		rows, err := db.writer.QueryContext(ctx, `SELECT msg_id, next_attempt_at FROM deliveries ORDER BY msg_id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var id string
			var next int64
			if err := rows.Scan(&id, &next); err != nil {
				t.Fatal(err)
			}
			w, ok := want[id]
			if !ok {
				w = at
			}
			if next != w {
				got = append(got, fmt.Sprintf("%s at %d, want %d", id, next-ms(base), w-ms(base)))
			}
		}
		if len(got) > 0 {
			t.Errorf("%s:\n%s", what, strings.Join(got, "\n"))
		}
	}
	wantAt("after opening", ms(c.RetryAt))
	if err := db.CloseCircuit(ctx, "ep_bulk", now.Add(time.Second)); err != nil {
		t.Fatalf("close: %v", err)
	}
	db.bg.Wait()
	wantAt("after closing", ms(now.Add(time.Second)))
}

func TestMoveStopsOnceTheCircuitChanged(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	base := time.Now().UTC().Truncate(time.Millisecond)
	fillBacklog(t, ctx, db, 10, base)
	now := base.Add(time.Second)
	c, err := db.OpenCircuit(ctx, "ep_bulk", herald.CircuitClosed, now, time.Minute)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := db.CloseCircuit(ctx, "ep_bulk", now); err != nil {
		t.Fatalf("close: %v", err)
	}
	// The rest of the opening's move, run late, must not hold the
	// deliveries back behind a circuit that closed.
	stale := holdUntil("ep_bulk", c.RetryAt)
	err = db.write(ctx, func(ctx context.Context, w *wtx) error {
		next, err := stale.step(ctx, w.tx, start)
		if err == nil && !next.done {
			t.Errorf("stale move: not done")
		}
		return err
	})
	if err != nil {
		t.Fatalf("stale move: %v", err)
	}
	if got := countDeliveries(t, ctx, db, `next_attempt_at = ?`, ms(c.RetryAt)); got != 0 {
		t.Errorf("after a stale move: %d rows held until the old RetryAt, want 0", got)
	}
}

func TestHoldQueriesUseTheEndpointIndex(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	fillBacklog(t, ctx, db, 1000, time.Now())
	for name, q := range map[string]struct {
		query string
		args  []any
	}{
		"guard":     {guardHeld, []any{"ep_bulk", 0}},
		"chunk end": {sqlChunkEnd, []any{"ep_bulk", 0, "", 10}},
		"move":      {sqlMoveChunk, []any{"ep_bulk", 0, "", 1, "msg", 5, 0, 5}},
		"release":   {sqlReleaseLease, []any{"msg", "ep_bulk", "node"}},
	} {
		plan := explain(t, ctx, db, q.query, q.args...)
		if name != "release" && name != "guard" && !strings.Contains(plan, "deliveries_endpoint_open (endpoint_id=? AND (created_at,msg_id)>(?,?)") {
			t.Errorf("%s: plan does not seek deliveries_endpoint_open by key:\n%s", name, plan)
		}
		for _, line := range strings.Split(plan, "\n") {
			if strings.Contains(line, "SCAN") {
				t.Errorf("%s: plan scans:\n%s", name, plan)
			}
		}
	}
}
