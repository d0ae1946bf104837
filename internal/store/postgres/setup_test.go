package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/pgtest"
)

func testURL() string { return pgtest.URL() }

func newSchema(t testing.TB) string { return pgtest.NewSchema(t) }

// openSchema opens a store on schema, closed when the test ends (before the
// schema is dropped, since cleanups run last first).
func openSchema(t testing.TB, schema string, mods ...func(*Config)) *DB {
	t.Helper()
	cfg := Config{URL: testURL(), Schema: schema, MaxConns: 4}
	for _, m := range mods {
		m(&cfg)
	}
	db, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open store on schema %s: %v", schema, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// openTest opens a store on a fresh schema.
func openTest(t testing.TB, mods ...func(*Config)) *DB {
	t.Helper()
	return openSchema(t, newSchema(t), mods...)
}

// waitBlocked waits until the call whose result will come on returned is
// waiting for a lock: until waiters, a count over pg_locks with args, is
// above zero. It fails if the call returns first, or after 10 s.
func waitBlocked(t *testing.T, db *DB, returned <-chan error, call, waiters string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := db.pool.QueryRow(context.Background(), waiters, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		select {
		case err := <-returned:
			t.Fatalf("%s returned (%v), want it to wait for the lock", call, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not waiting for the lock after 10s", call)
		}
	}
}
