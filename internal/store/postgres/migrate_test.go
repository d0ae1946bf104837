package postgres

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/herald"
)

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	const nodes = 4
	dbs := make([]*DB, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			dbs[i], errs[i] = Open(context.Background(), Config{URL: testURL(), Schema: schema, MaxConns: 2})
		})
	}
	wg.Wait()
	for i, db := range dbs {
		if errs[i] != nil {
			t.Errorf("open %d: %v", i, errs[i])
			continue
		}
		t.Cleanup(func() { _ = db.Close() })
	}
	if t.Failed() {
		return
	}
	versions := appliedVersions(t, dbs[0].pool)
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	migs, err := readMigrations(sub)
	if err != nil {
		t.Fatalf("read migrations: %v", err)
	}
	var want []int32
	for _, m := range migs {
		want = append(want, int32(m.version))
	}
	if !slices.Equal(versions, want) {
		t.Errorf("applied versions: got %v, want each of %v once", versions, want)
	}
	if err := dbs[1].Migrate(context.Background()); err != nil {
		t.Errorf("migrate an up-to-date schema: %v", err)
	}
}

func TestMigrateUpgradesInPlace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := newSchema(t)
	pool := testPool(t, schema)
	v1 := fstest.MapFS{
		"0001_notes.sql": {Data: []byte(`CREATE TABLE notes (id integer PRIMARY KEY, body text NOT NULL);`)},
	}
	v2 := fstest.MapFS{
		"0001_notes.sql": v1["0001_notes.sql"],
		"0002_note_author.sql": {Data: []byte(`ALTER TABLE notes ADD COLUMN author text NOT NULL DEFAULT 'unknown';
			CREATE INDEX notes_author ON notes (author);`)},
	}
	if err := migrate(ctx, pool, schema, v1); err != nil {
		t.Fatalf("migrate to v1: %v", err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO notes (id, body) VALUES (1, 'kept')`); err != nil {
		t.Fatalf("insert: %v", err)
	}
	if err := migrate(ctx, pool, schema, v2); err != nil {
		t.Fatalf("migrate to v2: %v", err)
	}
	var body, author string
	if err := pool.QueryRow(ctx, `SELECT body, author FROM notes WHERE id = 1`).Scan(&body, &author); err != nil {
		t.Fatalf("read upgraded row: %v", err)
	}
	if body != "kept" || author != "unknown" {
		t.Errorf("upgraded row: got %q by %q, want %q by %q", body, author, "kept", "unknown")
	}
	if got := appliedVersions(t, pool); !slices.Equal(got, []int32{1, 2}) {
		t.Errorf("applied versions: got %v, want [1 2]", got)
	}
}

func TestMigrateRollsBackAFailedMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := newSchema(t)
	pool := testPool(t, schema)
	bad := fstest.MapFS{
		"0001_ok.sql":     {Data: []byte(`CREATE TABLE a (id integer);`)},
		"0002_broken.sql": {Data: []byte(`CREATE TABLE b (id integer); SELECT no_such_function();`)},
	}
	if err := migrate(ctx, pool, schema, bad); err == nil {
		t.Fatalf("migrate with a broken migration: got nil, want an error")
	}
	if got := appliedVersions(t, pool); !slices.Equal(got, []int32{1}) {
		t.Errorf("applied versions: got %v, want [1]", got)
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('b') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Errorf("table of the failed migration: exists %v (%v), want rolled back", exists, err)
	}
}

func TestReadMigrationsRejectsBadNames(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		fsys fstest.MapFS
	}{
		{"no number", fstest.MapFS{"init.sql": {}}},
		{"zero", fstest.MapFS{"0000_init.sql": {}}},
		{"duplicate version", fstest.MapFS{"0001_a.sql": {}, "01_b.sql": {}}},
	}
	for _, c := range cases {
		if _, err := readMigrations(c.fsys); err == nil {
			t.Errorf("%s: got nil, want an error", c.name)
		}
	}
	migs, err := readMigrations(fstest.MapFS{"10_c.sql": {}, "2_b.sql": {}, "0001_a.sql": {}})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var got []int
	for _, m := range migs {
		got = append(got, m.version)
	}
	if !slices.Equal(got, []int{1, 2, 10}) {
		t.Errorf("order: got %v, want [1 2 10] (numeric, not lexical)", got)
	}
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	w := newWorld(t, db, 0)
	dup := *w.app
	if err := db.CreateApplication(ctx, &dup); !errors.Is(err, herald.ErrConflict) {
		t.Errorf("duplicate application: got %v, want ErrConflict", err)
	}
	if _, err := db.GetMessage(ctx, w.app.ID, "msg_missing"); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("missing message: got %v, want ErrNotFound", err)
	}
	if err := db.Resend(ctx, w.app.ID, "msg_missing", "ep_missing", w.t0); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("resend of a missing message: got %v, want ErrNotFound", err)
	}
}

// testPool opens a bare pool on schema, for migrations of test files.
func testPool(t *testing.T, schema string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func appliedVersions(t *testing.T, pool *pgxpool.Pool) []int32 {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return versions
}
