package sqlite

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

func TestMigrateUpgradesInPlace(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	raw, err := sql.Open(DriverName, filepath.Join(t.TempDir(), "old.db"))
	must(t, err)
	raw.SetMaxOpenConns(1)
	t.Cleanup(func() { raw.Close() })

	v1 := fstest.MapFS{"0001_first.sql": {Data: []byte("CREATE TABLE a (x INTEGER NOT NULL);")}}
	must(t, migrate(ctx, raw, v1))
	_, err = raw.ExecContext(ctx, "INSERT INTO a (x) VALUES (7)")
	must(t, err)

	v2 := fstest.MapFS{
		"0001_first.sql":  v1["0001_first.sql"],
		"0002_second.sql": {Data: []byte("ALTER TABLE a ADD COLUMN y TEXT NOT NULL DEFAULT 'new';\nCREATE TABLE b (id INTEGER);")},
	}
	must(t, migrate(ctx, raw, v2))
	must(t, migrate(ctx, raw, v2))
	var x int
	var y string
	must(t, raw.QueryRowContext(ctx, "SELECT x, y FROM a").Scan(&x, &y))
	if x != 7 || y != "new" {
		t.Errorf("row after upgrade: got (%d, %q), want (7, \"new\")", x, y)
	}
	if v, err := schemaVersion(ctx, raw); err != nil || v != 2 {
		t.Errorf("version after upgrade: got %d, %v, want 2", v, err)
	}

	// A failing migration leaves nothing half-applied.
	v3 := fstest.MapFS{
		"0001_first.sql":  v1["0001_first.sql"],
		"0002_second.sql": v2["0002_second.sql"],
		"0003_broken.sql": {Data: []byte("CREATE TABLE c (id INTEGER);\nSELECT * FROM missing_table;")},
	}
	if err := migrate(ctx, raw, v3); err == nil {
		t.Fatalf("broken migration: got nil error, want one")
	}
	if v, err := schemaVersion(ctx, raw); err != nil || v != 2 {
		t.Errorf("version after a failed migration: got %d, %v, want 2", v, err)
	}
	var n int
	must(t, raw.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE name = 'c'").Scan(&n))
	if n != 0 {
		t.Errorf("table of the failed migration: got %d, want it rolled back", n)
	}
}

func TestLoadMigrationsRejectsBadNames(t *testing.T) {
	t.Parallel()
	for name, files := range map[string]fstest.MapFS{
		"no number":   {"init.sql": {Data: []byte("SELECT 1;")}},
		"zero":        {"0000_init.sql": {Data: []byte("SELECT 1;")}},
		"same number": {"0001_a.sql": {Data: []byte("SELECT 1;")}, "001_b.sql": {Data: []byte("SELECT 1;")}},
	} {
		if _, err := loadMigrations(files); err == nil {
			t.Errorf("%s: got nil error, want one", name)
		}
	}
	ms, err := loadMigrations(fstest.MapFS{
		"0010_c.sql": {Data: []byte("SELECT 1;")}, "0002_b.sql": {Data: []byte("SELECT 1;")}, "0001_a.sql": {Data: []byte("SELECT 1;")},
	})
	must(t, err)
	if len(ms) != 3 || ms[0].version != 1 || ms[1].version != 2 || ms[2].version != 10 {
		t.Errorf("order: got %+v, want versions 1, 2, 10", ms)
	}
}

// migrationsBefore returns the built-in migrations numbered below v.
func migrationsBefore(t *testing.T, v int) fstest.MapFS {
	t.Helper()
	sub, err := fs.Sub(migrationFiles, "migrations")
	must(t, err)
	ms, err := loadMigrations(sub)
	must(t, err)
	files := fstest.MapFS{}
	for _, m := range ms {
		if m.version < v {
			files[m.name] = &fstest.MapFile{Data: []byte(m.sql)}
		}
	}
	return files
}

// A database numbered by MAX(seq)+1 before migration 9 keeps numbering
// above its highest message, even once retention has deleted them all.
func TestMigrateMessageSeqContinuesAboveExisting(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open(DriverName, path)
	must(t, err)
	raw.SetMaxOpenConns(1)
	must(t, migrate(ctx, raw, migrationsBefore(t, 9)))
	now := time.Now().UTC().Truncate(time.Millisecond)
	_, err = raw.ExecContext(ctx, `INSERT INTO applications (id, name, created_at, updated_at) VALUES ('app_old', 'old', 0, 0)`)
	must(t, err)
	for range 3 {
		_, err = raw.ExecContext(ctx, `INSERT INTO messages (id, app_id, event_type, payload, created_at, expires_at, seq)
			VALUES (?, 'app_old', 'a', '{}', ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM messages))`,
			herald.NewID(herald.PrefixMessage, now), ms(now), ms(now.Add(time.Minute)))
		must(t, err)
	}
	must(t, raw.Close())

	db := openTest(t, path)
	if n, err := db.ExpireMessages(ctx, now.Add(time.Hour), 10); err != nil || n != 3 {
		t.Fatalf("expire messages: got %d, %v, want 3", n, err)
	}
	m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: "app_old", EventType: "a",
		Payload: []byte(`{}`), CreatedAt: now.Add(time.Hour)}
	must(t, db.Publish(ctx, m, nil, "", time.Time{}))
	page, err := db.PollMessages(ctx, "app_old", store.PollFilter{After: 3, Limit: 10})
	must(t, err)
	if got := page.Messages; len(got) != 1 || got[0].Message.ID != m.ID || got[0].Seq != 4 {
		t.Errorf("poll after 3: got %+v, want only %s at 4", got, m.ID)
	}
}
