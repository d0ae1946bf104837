package sqlite

import (
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
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

// Under steady writes the WAL starts over only when the checkpointer
// pauses the writer to catch up. Here the store's own checkpointer is
// stopped, so nothing else copies the WAL back, and a writer commits
// without pause: after restart, the WAL holds only what was written since.
func TestCheckpointerRestartsTheWALUnderSteadyWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "herald.db")
	db := openTest(t, path)
	if err := db.cp.close(); err != nil {
		t.Fatal(err)
	}
	cp, err := startCheckpointer(path, "busy_timeout=10000", db.log, &db.batch)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.close()

	now := time.Now().UTC()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApp, now), Name: "a", CreatedAt: now, UpdatedAt: now}
	if err := db.CreateApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	const before, after = 300, 5
	var written atomic.Int64
	reached := make(chan struct{})
	stop, stopped := make(chan struct{}), make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				stopped <- nil
				return
			default:
			}
			m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: app.ID, EventType: "t", Payload: []byte(`{}`), CreatedAt: now}
			if err := db.Publish(ctx, m, nil, "", time.Time{}); err != nil {
				stopped <- err
				return
			}
			if written.Add(1) == before {
				close(reached)
			}
		}
	}()
	<-reached // each commit appends at least one frame
	cp.restart()
	// Count from when the restart is done: it waits for the writer, which
	// may commit many more times first, and the WAL starts over only at
	// the next commit after it.
	restartedAt := written.Load()
	for written.Load() < restartedAt+after {
		runtime.Gosched()
	}
	close(stop)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}

	var busy, frames, copied int
	if err := cp.conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		t.Fatal(err)
	}
	perCommit := 8 // frames one small publish appends, generously
	// One more commit than counted may have landed between the restart's
	// return and the count.
	if limit := int(written.Load()-restartedAt+1) * perCommit; frames > limit {
		t.Fatalf("WAL holds %d frames after %d commits since the restart (at most %d expected): it did not start over",
			frames, written.Load()-restartedAt, limit)
	}
}
