package sqlite

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// The writer never checkpoints (wal_autocheckpoint is 0), so the database
// file only grows if the checkpointer copies committed pages back.
func TestCheckpointerCopiesTheWALBack(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "herald.db")
	db := openTest(t, path)
	var auto int
	if err := db.writer.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil {
		t.Fatal(err)
	}
	if auto != 0 {
		t.Fatalf("writer wal_autocheckpoint: got %d, want 0", auto)
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()

	now := time.Now().UTC()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApp, now), Name: "a", CreatedAt: now, UpdatedAt: now}
	if err := db.CreateApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"data":"x"}`)
	for range 200 {
		m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: app.ID, EventType: "t", Payload: payload, CreatedAt: now}
		if err := db.Publish(ctx, m, nil, "", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for size() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes after 200 commits: nothing was checkpointed", before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
