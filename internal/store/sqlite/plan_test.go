package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// fillBacklog inserts n messages with one pending delivery each, due over
// the n milliseconds after base, straight through SQL so it stays quick.
func fillBacklog(t testing.TB, ctx context.Context, db *DB, n int, base time.Time) {
	t.Helper()
	b := ms(base)
	stmts := []string{
		`INSERT INTO applications (id, name, created_at, updated_at) VALUES ('app_bulk', 'bulk', 0, 0)`,
		`INSERT INTO endpoints (id, app_id, url, created_at, updated_at) VALUES ('ep_bulk', 'app_bulk', 'https://bulk', 0, 0)`,
		`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?1)
		 INSERT INTO messages (id, app_id, event_type, payload, created_at)
		 SELECT printf('msg_%012d', i), 'app_bulk', 'bulk', '{}', ?2 + i FROM seq`,
		`INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, next_attempt_at, created_at, updated_at)
		 SELECT id, 'ep_bulk', 'app_bulk', 1, created_at, created_at, created_at FROM messages WHERE app_id = 'app_bulk'`,
	}
	for _, s := range stmts {
		if _, err := db.writer.ExecContext(ctx, s, n, b); err != nil {
			t.Fatalf("fill backlog: %v", err)
		}
	}
}

func TestClaimUsesTheDueIndexOnALargeBacklog(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	base := time.Now().UTC().Truncate(time.Millisecond)
	n := 100_000
	if raceEnabled {
		n = 10_000 // the race detector slows SQLite's engine tenfold; the plan is the same
	}
	fillBacklog(t, ctx, db, n, base)

	plans := map[string]struct {
		query string
		args  []any
		index string
	}{
		"claim":          {sqlClaim, []any{"node", 0, ms(base), 100}, "deliveries_due"},
		"extend lease":   {sqlExtendLease, []any{0, "msg_000000000001", "ep_bulk", "node"}, "PRIMARY KEY (msg_id=? AND endpoint_id=?)"},
		"release leases": {sqlReleaseOwnerLeases, []any{"node"}, "deliveries_lease"},
	}
	for name, p := range plans {
		plan := explain(t, ctx, db, p.query, p.args...)
		if !strings.Contains(plan, p.index) {
			t.Errorf("%s: plan does not use %s:\n%s", name, p.index, plan)
		}
		for _, line := range strings.Split(plan, "\n") {
			if strings.Contains(line, "SCAN deliveries") && !strings.Contains(line, "INDEX") {
				t.Errorf("%s: plan scans the whole table:\n%s", name, plan)
			}
		}
	}

	// And the claim does what the plan says: the oldest due come first.
	jobs, err := db.Claim(ctx, "node", base.Add(10*time.Millisecond), time.Minute, 5)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	if len(jobs) != 5 {
		t.Fatalf("claim: got %d jobs, want 5", len(jobs))
	}
	for i, j := range jobs {
		if j.Delivery.MsgID > "msg_000000000010" {
			t.Errorf("claim: got %s, want one of the ten first due", j.Delivery.MsgID)
		}
		if i > 0 && jobs[i-1].Delivery.MsgID >= j.Delivery.MsgID {
			t.Errorf("claim order: got %s after %s, want message ID order", j.Delivery.MsgID, jobs[i-1].Delivery.MsgID)
		}
	}
	if got, err := db.Backlog(ctx); err != nil || got != int64(n) {
		t.Errorf("backlog: got %d, %v, want %d", got, err, n)
	}
}

// explain returns the EXPLAIN QUERY PLAN of query, one step per line.
func explain(t *testing.T, ctx context.Context, db *DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.writer.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatalf("explain: %v", err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("explain: %v", err)
	}
	return strings.Join(lines, "\n")
}

// TestPollUsesTheAppSeqIndex checks that both parts of a poll, the page
// and, with filters, the application's highest sequence number, read
// messages_app_seq from the application's range: the position a filtered
// poll returns is only worth reading if it costs an index lookup, not a
// scan of the application's messages.
func TestPollUsesTheAppSeqIndex(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	if _, err := db.writer.ExecContext(ctx, `INSERT INTO applications (id, name, created_at, updated_at)
		VALUES ('app_0', 'a', 0, 0), ('app_1', 'b', 0, 0), ('app_2', 'c', 0, 0)`); err != nil {
		t.Fatalf("create applications: %v", err)
	}
	if _, err := db.writer.ExecContext(ctx, `WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 10000)
		INSERT INTO messages (id, app_id, event_type, channels, payload, created_at, seq)
		SELECT printf('msg_%012d', i), 'app_' || (i % 3), 'e' || (i % 7), '["c' || (i % 5) || '"]', '{}', i, i FROM c`); err != nil {
		t.Fatalf("fill messages: %v", err)
	}
	const (
		highest = "SEARCH messages USING COVERING INDEX messages_app_seq (app_id=?"
		page    = "SEARCH messages USING INDEX messages_app_seq (app_id=? AND seq>?)"
	)
	for name, f := range map[string]store.PollFilter{
		"unfiltered":   {After: 10, Limit: 51},
		"from nothing": {Limit: 1},
		"event types":  {After: 10, Limit: 51, EventTypes: []string{"e1", "e2"}},
		"channel":      {After: 10, Limit: 51, Channel: "c1"},
		"any channel":  {After: 10, Limit: 51, AnyChannel: []string{"c1", "c2"}},
		"all filters":  {Limit: 51, EventTypes: []string{"e1"}, Channel: "c1", AnyChannel: []string{"c1"}},
	} {
		query, args := pollQuery("app_1", f)
		plan := explain(t, ctx, db, query, args...)
		if !strings.Contains(plan, page) {
			t.Errorf("%s: plan lacks %q:\n%s", name, page, plan)
		}
		// Both read the index in order; a filtered poll sorts the rows
		// of its page, behind its first row, and nothing else.
		sorts := 0
		if f.Filtered() {
			sorts = 1
			if !strings.Contains(plan, highest) {
				t.Errorf("%s: plan lacks %q:\n%s", name, highest, plan)
			}
		}
		if n := strings.Count(plan, "USE TEMP B-TREE"); n != sorts {
			t.Errorf("%s: plan sorts %d times, want %d:\n%s", name, n, sorts, plan)
		}
		for _, line := range strings.Split(plan, "\n") {
			if strings.HasPrefix(line, "SCAN messages") {
				t.Errorf("%s: plan scans the whole table:\n%s", name, plan)
			}
		}
	}
}
