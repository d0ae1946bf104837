package postgres

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/store"
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

// TestHotStatementsKeepTheirIndexes checks the plans the group commits'
// statements get when PostgreSQL caches a generic plan for them, which it
// does after five executions of a prepared statement. On a fresh install
// that happens while the tables are still empty, and the plan is kept for
// the connection's life unless an ANALYZE invalidates it (autovacuum does,
// where it runs): a plan that reads a whole table because it was empty
// would then read it on every batch as it grows.
func TestHotStatementsKeepTheirIndexes(t *testing.T) {
	t.Parallel()
	conn := genericPlanConn(t)
	statements := map[string]string{
		"insert messages":   insertMessages,
		"lock deliveries":   lockDeliveries,
		"insert attempts":   insertAttempts,
		"update deliveries": updateDeliveries,
		"find accepted":     findAccepted,
		"claim deliveries":  claimDeliveries,
		"job messages":      jobMessages,
		"cancel orphan":     cancelOrphan,
		"hold unreadable":   holdUnreadable,
		"lock endpoints":    lockEndpoints,
		"update health":     updateHealth,
		"disable endpoints": disableEndpoints,
		"job endpoints":     jobEndpoints,
		"release leased":    releaseLeased,
		"extend leased":     extendLeased,
		"move chunk":        moveChunk,
		"lock ordered":      lockOrdered,
		"unpark next":       unparkNext,
		"park waiting":      parkWaiting,
		"unpark endpoint":   unparkEndpoint,
	}
	// These find deliveries by key, and must use the primary key: a
	// partial index (open deliveries by endpoint, leases by owner) looks
	// cheaper on an empty table but reads a whole range per key.
	byKey := map[string]bool{"lock_deliveries": true, "update_deliveries": true, "cancel_orphan": true, "hold_unreadable": true,
		"release_leased": true, "extend_leased": true, "move_chunk": true}
	for name, sql := range statements {
		name := strings.ReplaceAll(name, " ", "_")
		plan := genericPlan(t, conn, name, sql)
		if growingScan.MatchString(plan) {
			t.Errorf("%s: the generic plan scans a growing table:\n%s", name, plan)
		}
		if byKey[name] && !onlyByKey(plan) {
			t.Errorf("%s: the generic plan reads deliveries by something else than their key:\n%s", name, plan)
		}
	}
}

// TestPollKeepsItsIndexes checks the generic plans of a poll, made on the
// empty tables of a new installation, whatever its filters: the page reads
// messages_app_seq from the poll's position on, and with filters the
// application's highest number, the position of a page that is not full,
// is one backward step in it. A max() aggregate would get a plan that
// reads all the application's entries, on every poll, once the table has
// grown.
func TestPollKeepsItsIndexes(t *testing.T) {
	t.Parallel()
	conn := genericPlanConn(t)
	const (
		highest = "Index Only Scan Backward using messages_app_seq on messages"
		page    = "Index Scan using messages_app_seq on messages m"
	)
	i := 0
	for name, f := range map[string]store.PollFilter{
		"unfiltered":  {After: 10, Limit: 51},
		"event types": {After: 10, Limit: 51, EventTypes: []string{"a", "b"}},
		"channel":     {After: 10, Limit: 51, Channel: "c"},
		"any channel": {After: 10, Limit: 51, AnyChannel: []string{"c", "d"}},
		"all filters": {After: 10, Limit: 51, EventTypes: []string{"a"}, Channel: "c", AnyChannel: []string{"c"}},
	} {
		i++
		plan := genericPlan(t, conn, "poll"+strconv.Itoa(i), pollQuery("app", f).String())
		if !strings.Contains(plan, page) {
			t.Errorf("%s: the generic plan lacks %q:\n%s", name, page, plan)
		}
		if f.Filtered() && !strings.Contains(plan, highest) {
			t.Errorf("%s: the generic plan lacks %q:\n%s", name, highest, plan)
		}
		if growingScan.MatchString(plan) || strings.Contains(plan, "Aggregate") {
			t.Errorf("%s: the generic plan reads a growing range:\n%s", name, plan)
		}
	}
}

// TestOccasionalStatementsAreNotPrepared checks that retention runs its
// statements one-shot (oneShot), so that no generic plan made on the
// empty tables of a new installation is kept for them: on one connection,
// after more runs than PostgreSQL needs to switch to a generic plan, none
// of them is a prepared statement.
func TestOccasionalStatementsAreNotPrepared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t, func(c *Config) { c.MaxConns = 1 })
	now := time.Now()
	for range 7 {
		if _, err := db.ExpireMessages(ctx, now, 100); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExpireInboundEvents(ctx, now, 100); err != nil {
			t.Fatal(err)
		}
	}
	var prepared []string
	rows, err := db.pool.Query(ctx, `SELECT statement FROM pg_prepared_statements
		WHERE statement LIKE '%expires_at <=%' OR statement LIKE '%DELETE FROM%'`, oneShot)
	if err != nil {
		t.Fatal(err)
	}
	if prepared, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if len(prepared) > 0 {
		t.Errorf("retention statements prepared on the connection: %q", prepared)
	}
}

// onlyByKey reports whether every index scan of deliveries in plan uses
// its primary key, but for the lookup of an ordered endpoint's head
// (alias head, fifo.go), which reads the first of its open deliveries.
func onlyByKey(plan string) bool {
	for _, m := range regexp.MustCompile(`Scan using (\w+) on deliveries(?: (\w+))?`).FindAllStringSubmatch(plan, -1) {
		if m[1] != "deliveries_pkey" && (m[2] != "head" || m[1] != "deliveries_endpoint_open") {
			return false
		}
	}
	return true
}
