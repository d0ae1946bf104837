package main

import (
	"context"
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
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	logger, err := newLogger(env, "text", "warn")
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(env.Stdout, "%s schema is up to date\n", storeName(cfg.database))
	return err
}
