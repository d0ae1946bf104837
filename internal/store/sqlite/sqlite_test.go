package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	})
}

// openTest opens a store at path and closes it when the test ends.
func openTest(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(t.Context(), Config{Path: path})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestOpenCreatesParentDirectory(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a", "b", "herald.db")
	db := openTest(t, path)
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("ping: got %v, want nil", err)
	}
	var mode string
	if err := db.reader.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatalf("journal mode: %v", err)
	}
	if mode != "wal" {
		t.Errorf("journal mode: got %q, want wal", mode)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{{}, {Path: filepath.Join(t.TempDir(), "x.db"), Synchronous: "SOMETIMES"}} {
		if db, err := Open(t.Context(), cfg); err == nil {
			db.Close()
			t.Errorf("open %+v: got nil error, want one", cfg)
		}
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "herald.db")
	now := time.Now().UTC().Truncate(time.Millisecond)
	db, err := Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	app := &herald.Application{ID: herald.NewID(herald.PrefixApp, now), Name: "a", CreatedAt: now, UpdatedAt: now}
	ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: app.ID, URL: "https://e", CreatedAt: now, UpdatedAt: now}
	msg := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: app.ID, EventType: "t", Payload: []byte(`{"x":1}`), CreatedAt: now}
	must(t, db.CreateApplication(ctx, app))
	must(t, db.CreateEndpoint(ctx, ep))
	must(t, db.Publish(ctx, msg, []herald.Delivery{{EndpointID: ep.ID}}, "node-a", now.Add(time.Minute)))
	must(t, db.Close())
	if err := db.Close(); err != nil {
		t.Errorf("second close: got %v, want nil", err)
	}
	late := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: app.ID, EventType: "t", CreatedAt: now}
	if err := db.Publish(ctx, late, nil, "", time.Time{}); !errors.Is(err, store.ErrClosed) || !errors.Is(err, herald.ErrUnavailable) {
		t.Errorf("publish after close: got %v, want store.ErrClosed and herald.ErrUnavailable", err)
	}

	db = openTest(t, path)
	got, err := db.GetMessage(ctx, app.ID, msg.ID)
	if err != nil || string(got.Payload) != `{"x":1}` {
		t.Fatalf("message after reopen: got %v, %v, want the payload back", got, err)
	}
	jobs, err := db.Claim(ctx, "node-b", now.Add(time.Minute), time.Minute, 10)
	must(t, err)
	if len(jobs) != 1 || jobs[0].Endpoint.URL != "https://e" || jobs[0].Delivery.Trigger != herald.TriggerRecovery {
		t.Fatalf("claim after reopen: got %d jobs, want the leased delivery back as recovery", len(jobs))
	}
}

func TestMigrationsAreIdempotent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	db := openTest(t, path)
	ctx := t.Context()
	for range 2 {
		must(t, db.Migrate(ctx))
	}
	v, err := db.SchemaVersion(ctx)
	must(t, err)
	if v != LatestSchemaVersion() || v < 1 {
		t.Errorf("schema version: got %d, want %d", v, LatestSchemaVersion())
	}
	var n int
	must(t, db.writer.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n))
	if n != v {
		t.Errorf("recorded migrations: got %d, want %d", n, v)
	}
	db2 := openTest(t, path) // a second open of a current file applies nothing
	if v2, err := db2.SchemaVersion(ctx); err != nil || v2 != v {
		t.Errorf("version after reopen: got %d, %v, want %d", v2, err, v)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestPingReportsALockedWriter: with another process holding the write
// lock, every write fails, and Ping must say so: a reader that answers is
// not a database that takes publishes.
func TestPingReportsALockedWriter(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	db, err := Open(t.Context(), Config{Path: path, BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	other := openConns(path, true)
	t.Cleanup(func() { _ = other.Close() })
	tx, err := other.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(t.Context()); err == nil || !errors.Is(err, herald.ErrUnavailable) {
		t.Errorf("ping with the write lock held elsewhere: got %v, want ErrUnavailable", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(t.Context()); err != nil {
		t.Errorf("ping once the lock is released: got %v, want nil", err)
	}
}

// TestPingGivesUpAtItsDeadline: with the writer busy, Ping answers when
// its context ends, and a second Ping waits for the same write instead of
// queueing another behind it.
func TestPingGivesUpAtItsDeadline(t *testing.T) {
	t.Parallel()
	db := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	release, started := make(chan struct{}), make(chan struct{})
	stuck := make(chan error, 1)
	go func() {
		stuck <- db.write(t.Context(), func(context.Context, *wtx) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	for range 2 {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		err := db.Ping(ctx)
		cancel()
		if !errors.Is(err, herald.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("ping behind a stuck writer: got %v, want ErrUnavailable at the deadline", err)
		}
	}
	db.pingMu.Lock()
	pending := db.pingWrite
	db.pingMu.Unlock()
	if pending == nil {
		t.Fatal("no ping write pending behind the stuck writer")
	}
	close(release)
	if err := <-stuck; err != nil {
		t.Fatal(err)
	}
	<-pending.done
	if err := db.Ping(t.Context()); err != nil {
		t.Errorf("ping once the writer is free: got %v, want nil", err)
	}
}
