package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"
	"testing/fstest"
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
