package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
)

// runMigrate creates or upgrades the schema of the configured store and
// exits. `herald serve` migrates at start too; this lets operators do it
// ahead of a rollout.
func runMigrate(ctx context.Context, args []string, env Env) error {
	var cfg serveConfig
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.StringVar(&cfg.dataDir, "data-dir", defaultDataDir(), "directory of the SQLite database")
	fs.StringVar(&cfg.database, "database", "", "PostgreSQL URL; empty means SQLite in --data-dir")
	vacuum := fs.Bool("vacuum", false, "SQLite: rebuild the file to give free space back and to let later deletions give theirs back (stop Herald first)")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	logger, err := newLogger(env, "text", "warn")
	if err != nil {
		return err
	}
	if *vacuum && cfg.database != "" {
		return errors.New("--vacuum is for SQLite; PostgreSQL's autovacuum reuses freed space")
	}
	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	if *vacuum {
		if v, ok := st.(vacuumer); ok {
			if err := v.Vacuum(ctx); err != nil {
				st.Close()
				return err
			}
		}
	}
	if err := st.Close(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(env.Stdout, "%s schema is up to date\n", storeName(cfg.database))
	if err == nil && *vacuum {
		_, err = fmt.Fprintln(env.Stdout, "database file rebuilt")
	}
	return err
}

// vacuumer is a store whose file can be rebuilt (SQLite).
type vacuumer interface {
	Vacuum(ctx context.Context) error
}
