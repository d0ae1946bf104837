package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/retention"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// serve runs the retention job, which deletes expired messages and logs
// how many.
func TestServeRunsRetention(t *testing.T) {
	t.Parallel()
	ts := setup(t)
	if ts.expiry == nil {
		t.Fatal("retention job: got none, want one by default")
	}
	ctx := t.Context()
	t0 := time.Now().UTC().Truncate(time.Millisecond).Add(-2 * time.Hour)
	app := &herald.Application{ID: herald.NewID(herald.PrefixApp, t0), Name: "shop", CreatedAt: t0, UpdatedAt: t0}
	if err := ts.store.CreateApplication(ctx, app); err != nil {
		t.Fatalf("create application: %v", err)
	}
	msg := &herald.Message{
		ID: herald.NewID(herald.PrefixMessage, t0), AppID: app.ID, EventType: "invoice.paid",
		Payload: []byte(`{"amount":100}`), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
	}
	if err := ts.store.Publish(ctx, msg, nil, "", time.Time{}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	src := &store.Source{ID: herald.NewID(herald.PrefixSource, t0), AppID: app.ID, Name: "gh",
		Verifier: []byte(`{"type":"github"}`), MaxBodyBytes: 1 << 20, CreatedAt: t0, UpdatedAt: t0}
	if err := ts.store.CreateSource(ctx, src); err != nil {
		t.Fatalf("create source: %v", err)
	}
	old := t0.Add(-retention.DefaultInboundAge)
	ev := &store.InboundEvent{ID: herald.NewID(herald.PrefixInbound, old), SourceID: src.ID, ReceivedAt: old,
		Body: []byte("{}"), Headers: map[string][]string{}}
	evMsg := &herald.Message{ID: herald.NewID(herald.PrefixMessage, old), AppID: app.ID, EventType: "push",
		Payload: ev.Body, CreatedAt: old, ExpiresAt: t0.Add(48 * time.Hour)}
	if _, err := ts.store.Ingest(ctx, ev, evMsg, nil, "", time.Time{}); err != nil {
		t.Fatalf("ingest: %v", err)
	}
	if _, err := ts.expiry.RunOnce(ctx); err != nil {
		t.Fatalf("run retention: %v", err)
	}
	if _, err := ts.store.GetMessage(ctx, app.ID, msg.ID); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("expired message: got %v, want %v", err, herald.ErrNotFound)
	}
	if _, err := ts.store.GetInboundEvent(ctx, src.ID, ev.ID); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("inbound event past --inbound-retention: got %v, want %v", err, herald.ErrNotFound)
	}
	if logs := ts.Logs.String(); !strings.Contains(logs, "expired messages deleted") {
		t.Errorf("logs: got %q, want the retention count", logs)
	}
}

func TestServeRetentionIntervalZeroDisables(t *testing.T) {
	t.Parallel()
	if ts := setup(t, "--retention-interval", "0"); ts.expiry != nil {
		t.Errorf("retention job: got one, want none with --retention-interval 0")
	}
}

func TestServeRejectsNegativeRetentionInterval(t *testing.T) {
	t.Parallel()
	env := Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	var cfg serveConfig
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--admin-token", "admin-secret-token", "--retention-interval", "-1h"}
	if err := parseFlags(flagSet(&cfg), args, env); err != nil {
		t.Fatal(err)
	}
	s, err := startServer(context.Background(), cfg, env, slog.New(slog.DiscardHandler))
	if err == nil {
		_ = s.stop()
		t.Fatal("start with --retention-interval -1h: got nil error, want one")
	}
	if !strings.Contains(err.Error(), "--retention-interval") {
		t.Errorf("error: got %q, want it to name --retention-interval", err)
	}
}

// An inbound retention shorter than the longest dedupe window would let a
// provider's retry through twice.
func TestServeRejectsShortInboundRetention(t *testing.T) {
	t.Parallel()
	env := Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	var cfg serveConfig
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--admin-token", "admin-secret-token", "--inbound-retention", "24h"}
	if err := parseFlags(flagSet(&cfg), args, env); err != nil {
		t.Fatal(err)
	}
	s, err := startServer(context.Background(), cfg, env, slog.New(slog.DiscardHandler))
	if err == nil {
		_ = s.stop()
		t.Fatal("start with --inbound-retention 24h: got nil error, want one")
	}
	if !strings.Contains(err.Error(), "--inbound-retention") {
		t.Errorf("error: got %q, want it to name --inbound-retention", err)
	}
}

// `herald migrate --vacuum` rebuilds an older SQLite file so that it gives
// space back from then on, and refuses PostgreSQL.
func TestMigrateVacuum(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dataDir := t.TempDir()
	path := filepath.Join(dataDir, "herald.db")
	old, err := sql.Open(sqlite.DriverName, path)
	if err != nil {
		t.Fatalf("open plain file: %v", err)
	}
	// A table created first fixes auto_vacuum at none, as in files made by
	// earlier versions.
	if _, err := old.ExecContext(ctx, "PRAGMA auto_vacuum = NONE; CREATE TABLE filler (b BLOB)"); err != nil {
		t.Fatalf("create older file: %v", err)
	}
	if err := old.Close(); err != nil {
		t.Fatalf("close older file: %v", err)
	}

	var out, errOut bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	if err := Main(ctx, []string{"migrate", "--data-dir", dataDir, "--vacuum"}, env); err != nil {
		t.Fatalf("migrate --vacuum: %v\n%s", err, errOut.String())
	}
	if got := out.String(); !strings.HasSuffix(got, "database file rebuilt\n") {
		t.Errorf("output: got %q, want it to end with the rebuild", got)
	}
	db, err := sql.Open(sqlite.DriverName, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	var mode int
	if err := db.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		t.Fatalf("auto_vacuum: %v", err)
	}
	if mode != 2 {
		t.Errorf("auto_vacuum after migrate --vacuum: got %d, want 2 (incremental)", mode)
	}

	err = Main(ctx, []string{"migrate", "--database", "postgres://127.0.0.1:1/x", "--vacuum"}, env)
	if err == nil || !strings.Contains(err.Error(), "--vacuum") {
		t.Errorf("migrate --vacuum on PostgreSQL: got %v, want an error naming --vacuum", err)
	}
}
