package postgres

import (
	"context"
	"strings"
	"testing"
)

// TestClaimUsesTheDueIndex checks that a claim reads the partial index of
// due rows rather than the whole queue, which is mostly final rows.
func TestClaimUsesTheDueIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	_, err := db.pool.Exec(ctx, `INSERT INTO deliveries
		(msg_id, endpoint_id, app_id, status, attempts, next_attempt_at, created_at, updated_at)
		SELECT 'msg_' || g, 'ep_' || (g % 10), 'app', CASE WHEN g % 50 = 0 THEN 1 ELSE 0 END, 1,
			CASE WHEN g % 50 = 0 THEN g END, g, g
		FROM generate_series(1, 20000) AS g`)
	if err != nil {
		t.Fatalf("fill the queue: %v", err)
	}
	if _, err := db.pool.Exec(ctx, `ANALYZE deliveries`); err != nil {
		t.Fatalf("analyze: %v", err)
	}
	rows, err := db.pool.Query(ctx, `EXPLAIN `+claimDeliveries, int64(10000), 100, "node", int64(20000))
	if err != nil {
		t.Fatalf("explain claim: %v", err)
	}
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatalf("explain claim: %v", err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("explain claim: %v", err)
	}
	plan := strings.Join(lines, "\n")
	if !strings.Contains(plan, "deliveries_due") {
		t.Errorf("claim plan: got\n%s\nwant a scan of deliveries_due", plan)
	}
}
