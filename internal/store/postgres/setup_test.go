package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// defaultTestURL is the server the tests use unless HERALD_TEST_DATABASE
// names another.
const defaultTestURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func testURL() string {
	if u := os.Getenv("HERALD_TEST_DATABASE"); u != "" {
		return u
	}
	return defaultTestURL
}

// newSchema returns a fresh schema name, dropped with everything in it when
// the test ends. It fails the test, with how to start the server, if
// PostgreSQL cannot be reached.
func newSchema(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testURL())
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable at %s: %v\nStart it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n(or set HERALD_TEST_DATABASE to another server)", testURL(), err)
	}
	_ = conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "herald_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, testURL())
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

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
