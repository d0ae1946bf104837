package postgres

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// statementRecorder collects the text of every statement a store prepares,
// through pgx's tracer hooks. Statements run one-shot (oneShot) are left
// out: they get a plan for their own arguments each time.
type statementRecorder struct {
	mu  sync.Mutex
	sql map[string]bool
}

func (r *statementRecorder) attach(c *Config) { c.tracer = r }

func (r *statementRecorder) add(sql string, args []any) {
	if len(args) > 0 && args[0] == oneShot {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sql == nil {
		r.sql = make(map[string]bool)
	}
	r.sql[sql] = true
}

func (r *statementRecorder) statements() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for sql := range r.sql {
		out = append(out, sql)
	}
	slices.Sort(out)
	return out
}

func (r *statementRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.add(d.SQL, d.Args)
	return ctx
}

func (r *statementRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *statementRecorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (r *statementRecorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.add(d.SQL, d.Args)
}

func (r *statementRecorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// growingScan matches a plan that reads a whole table that grows with
// traffic.
var growingScan = regexp.MustCompile(`Seq Scan on (deliveries|messages|attempts|inbound_events|endpoints)\b`)

// checkGenericPlans asks, on a fresh schema with empty tables, for the
// generic plan of every statement rec saw, and fails for each that reads a
// growing table whole. Fewer than atLeast statements means the recorder
// was not attached. PostgreSQL switches a prepared statement to its
// generic plan after five runs and keeps it until an ANALYZE of its
// tables, which on a server without autovacuum never comes: a plan made
// while a new installation's tables were empty would then scan them on
// every run as they grow.
func checkGenericPlans(t *testing.T, rec *statementRecorder, atLeast int) {
	t.Helper()
	sqls := rec.statements()
	if len(sqls) < atLeast {
		t.Fatalf("recorded %d statements; the recorder missed the suite's", len(sqls))
	}
	conn := genericPlanConn(t)
	planned := 0
	for i, sql := range sqls {
		if !plannable(sql) {
			continue
		}
		plan := genericPlan(t, conn, "s"+strconv.Itoa(i), sql)
		planned++
		if growingScan.MatchString(plan) {
			t.Errorf("the generic plan of\n%s\nscans a growing table:\n%s", sql, plan)
		}
	}
	t.Logf("checked the generic plans of %d statements", planned)
}

// plannable reports whether sql is one query that EXPLAIN can plan, as
// opposed to a script (migrations) or a utility command.
func plannable(sql string) bool {
	s := strings.ToUpper(strings.TrimSpace(sql))
	for _, verb := range []string{"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"} {
		if strings.HasPrefix(s, verb) {
			return !strings.Contains(strings.TrimSuffix(s, ";"), ";")
		}
	}
	return false
}

// genericPlanConn returns a connection to a fresh schema, with empty
// tables, on which every prepared statement gets its generic plan.
func genericPlanConn(t *testing.T) *pgxpool.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := openTest(t).pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Release)
	if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	return conn
}

// genericPlan prepares sql as name on conn and returns the plan EXPLAIN
// gives for it with every parameter NULL; under force_generic_plan that is
// the generic plan, whatever the values.
func genericPlan(t *testing.T, conn *pgxpool.Conn, name, sql string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `PREPARE `+name+` AS `+sql); err != nil {
		t.Fatalf("prepare %s: %v\n%s", name, err, sql)
	}
	var params int
	if err := conn.QueryRow(ctx, `SELECT cardinality(parameter_types) FROM pg_prepared_statements
		WHERE name = $1`, name).Scan(&params); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	explain := `EXPLAIN EXECUTE ` + name
	if params > 0 {
		explain += `(` + strings.TrimSuffix(strings.Repeat("NULL, ", params), ", ") + `)`
	}
	rows, err := conn.Query(ctx, explain)
	if err != nil {
		t.Fatalf("explain %s: %v", name, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("explain %s: %v", name, err)
	}
	return strings.Join(lines, "\n")
}
