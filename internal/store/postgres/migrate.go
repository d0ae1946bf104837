package postgres

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered .sql file.
type migration struct {
	version int
	name    string
	sql     string
}

// Migrate applies the migrations this binary has and the database lacks, in
// order, each in its own transaction, recording them in schema_migrations.
// It holds an advisory lock meanwhile, so several nodes starting at once
// apply each migration exactly once. Open calls it.
func (db *DB) Migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return migrate(ctx, db.pool, db.cfg.Schema, sub)
}

// migrate applies the migrations in fsys to schema (the search_path's
// default when empty).
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string, fsys fs.FS) error {
	migs, err := readMigrations(fsys)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", mapErr(err))
	}
	defer conn.Release()
	key := migrationLockKey(schema)
	// Migrations may outlast the statement timeout; this session only.
	if _, err := conn.Exec(ctx, "SET statement_timeout = 0"); err != nil {
		return fmt.Errorf("migrate: %w", mapErr(err))
	}
	defer func() {
		// Restore the pool's setting on a connection that goes back to it.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "RESET statement_timeout")
	}()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return fmt.Errorf("migrate: lock: %w", mapErr(err))
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key)
	}()
	if err := applyMigrations(ctx, conn.Conn(), schema, migs); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

func applyMigrations(ctx context.Context, conn *pgx.Conn, schema string, migs []migration) error {
	if schema != "" {
		if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("create schema: %w", mapErr(err))
		}
	}
	const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`
	if _, err := conn.Exec(ctx, createTable); err != nil {
		return fmt.Errorf("create schema_migrations: %w", mapErr(err))
	}
	rows, err := conn.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", mapErr(err))
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", mapErr(err))
	}
	for _, m := range migs {
		if slices.Contains(applied, int32(m.version)) {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("apply %s: %w", m.name, mapErr(err))
		}
	}
	return nil
}

// readMigrations returns the NNNN_name.sql files of fsys in version order.
func readMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	migs := make([]migration, 0, len(names))
	for _, name := range names {
		num, _, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %q: name must start with a positive number and _", name)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		migs = append(migs, migration{version: version, name: path.Base(name), sql: string(body)})
	}
	slices.SortFunc(migs, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(migs); i++ {
		if migs[i].version == migs[i-1].version {
			return nil, fmt.Errorf("migration version %d used twice", migs[i].version)
		}
	}
	return migs, nil
}

// migrationLockKey is the advisory lock that serializes migrations of one
// schema across nodes.
func migrationLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("herald migrate\x00" + schema))
	return int64(h.Sum64())
}
