package postgres

import (
	"context"
	"testing"

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
