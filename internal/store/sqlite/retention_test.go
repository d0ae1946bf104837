package sqlite

import (
	"bytes"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// A new file uses incremental auto-vacuum, so expiring messages gives
// their pages back to the file system instead of leaving them free.
func TestExpireMessagesReturnsSpace(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	if mode := autoVacuum(t, db); mode != autoVacuumIncremental {
		t.Fatalf("auto_vacuum: got %d, want %d (incremental)", mode, autoVacuumIncremental)
	}

	t0 := time.Now().UTC().Truncate(time.Millisecond)
	app := &herald.Application{ID: herald.NewID(herald.PrefixApp, t0), Name: "shop", CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateApplication(ctx, app); err != nil {
		t.Fatalf("create application: %v", err)
	}
	payload := bytes.Repeat([]byte("x"), 32<<10)
	const count = 40
	for range count {
		m := &herald.Message{
			ID: herald.NewID(herald.PrefixMessage, t0), AppID: app.ID, EventType: "invoice.paid",
			Payload: payload, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
		}
		if err := db.Publish(ctx, m, nil, "", time.Time{}); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	before := pageCount(t, db)

	n, err := db.ExpireMessages(ctx, t0.Add(time.Hour), 1000)
	if err != nil {
		t.Fatalf("expire messages: %v", err)
	}
	if n != count {
		t.Errorf("expired: got %d, want %d", n, count)
	}
	free, err := db.FreePages(ctx)
	if err != nil {
		t.Fatalf("free pages: %v", err)
	}
	if free != 0 {
		t.Errorf("free pages after expiry: got %d, want 0", free)
	}
	// 40 payloads of 32 KiB fill at least 320 pages of 4 KiB.
	if after := pageCount(t, db); before-after < 300 {
		t.Errorf("pages: got %d before and %d after expiry, want at least 300 fewer", before, after)
	}
}

// Retention reads messages by expiry, and deliveries and attempts by
// message: no statement of ExpireMessages scans a table or sorts what it
// reads.
func TestExpireMessagesUsesIndexes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	fillBacklog(t, ctx, db, 1000, time.Now())
	ids := []any{"msg_000000000001", "msg_000000000002"}
	for name, p := range map[string]struct {
		query string
		args  []any
		index string
	}{
		"expired page":      {sqlExpiredPage, []any{ms(time.Now()), 8}, "messages_expires"},
		"hold event IDs":    {fmt.Sprintf(sqlHoldEventIDs, placeholders(2)), ids, "messages"},
		"expire attempts":   {fmt.Sprintf(sqlExpireAttempts, placeholders(2)), append(ids, 1000), "attempts USING PRIMARY KEY (msg_id=?)"},
		"expire deliveries": {fmt.Sprintf(sqlExpireDeliveries, placeholders(2)), append(ids, 1000), "deliveries USING PRIMARY KEY (msg_id=?)"},
		"expire messages":   {fmt.Sprintf(sqlExpireMessages, placeholders(2)), ids, "messages"},
	} {
		plan := explain(t, ctx, db, p.query, p.args...)
		if !strings.Contains(plan, p.index) {
			t.Errorf("%s: plan does not use %s:\n%s", name, p.index, plan)
		}
		for _, line := range strings.Split(plan, "\n") {
			if strings.Contains(line, "SCAN") || strings.Contains(line, "TEMP B-TREE") {
				t.Errorf("%s: plan scans or sorts a table:\n%s", name, plan)
			}
		}
	}
}

func pageCount(t *testing.T, db *DB) int64 {
	t.Helper()
	var n int64
	if err := db.reader.QueryRowContext(t.Context(), "PRAGMA page_count").Scan(&n); err != nil {
		t.Fatalf("page count: %v", err)
	}
	return n
}

// Vacuum switches a file created without auto-vacuum to incremental mode
// and empties its free list.
func TestVacuumConvertsOlderFiles(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "herald.db")
	old, err := sql.Open(DriverName, path)
	if err != nil {
		t.Fatalf("open plain file: %v", err)
	}
	// A table created first fixes auto_vacuum at NONE, as in files made
	// by earlier versions.
	for _, q := range []string{"PRAGMA auto_vacuum = NONE", "CREATE TABLE filler (b BLOB)",
		"INSERT INTO filler SELECT zeroblob(8192) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 100) SELECT i FROM n)",
		"DELETE FROM filler"} {
		if _, err := old.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatalf("close plain file: %v", err)
	}

	db := openTest(t, path)
	if mode := autoVacuum(t, db); mode != 0 {
		t.Fatalf("auto_vacuum of the older file: got %d, want 0 (none)", mode)
	}
	if free, err := db.FreePages(ctx); err != nil || free < 100 {
		t.Fatalf("free pages before vacuum: got %d (%v), want at least 100", free, err)
	}
	if err := db.Vacuum(ctx); err != nil {
		t.Fatalf("vacuum: %v", err)
	}
	if mode := autoVacuum(t, db); mode != autoVacuumIncremental {
		t.Errorf("auto_vacuum after vacuum: got %d, want %d (incremental)", mode, autoVacuumIncremental)
	}
	if free, err := db.FreePages(ctx); err != nil || free != 0 {
		t.Errorf("free pages after vacuum: got %d (%v), want 0", free, err)
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("ping after vacuum: %v", err)
	}
}

// autoVacuum reads the mode through the writer: an idle reader connection
// answers from the header it read last.
func autoVacuum(t *testing.T, db *DB) int {
	t.Helper()
	var mode int
	if err := db.writer.QueryRowContext(t.Context(), "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		t.Fatalf("auto_vacuum: %v", err)
	}
	return mode
}
