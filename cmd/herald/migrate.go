package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/heraldhq/herald/internal/store"
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
	reencrypt := fs.Bool("reencrypt", false, "seal every endpoint and source secret under --encryption-key, reading old rows with --encryption-key-old (safe while Herald runs)")
	cfg.enc.flags(fs)
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	keys, err := cfg.enc.keyring()
	if err != nil {
		return err
	}
	if *reencrypt && keys == nil {
		return errors.New("--reencrypt needs --encryption-key")
	}
	logger, err := newLogger(env, "text", "warn")
	if err != nil {
		return err
	}
	if *vacuum && cfg.database != "" {
		return errors.New("--vacuum is for SQLite; PostgreSQL's autovacuum reuses freed space")
	}
	st, err := openStore(ctx, cfg, keys, logger)
	if err != nil {
		return err
	}
	resealed := 0
	if *reencrypt {
		if resealed, err = reencryptAll(ctx, st); err != nil {
			st.Close()
			return err
		}
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
	if err == nil && *reencrypt {
		_, err = fmt.Fprintf(env.Stdout, "%d endpoint and source rows re-encrypted under key %s\n", resealed, keys.PrimaryID())
	}
	if err == nil && *vacuum {
		_, err = fmt.Fprintln(env.Stdout, "database file rebuilt")
	}
	return err
}

// vacuumer is a store whose file can be rebuilt (SQLite).
type vacuumer interface {
	Vacuum(ctx context.Context) error
}

// reencryptBatch is how many rows one re-encryption transaction rewrites.
const reencryptBatch = 500

// reencryptAll rewrites, batch by batch, every secret not yet sealed by
// the primary key.
func reencryptAll(ctx context.Context, st store.Store) (int, error) {
	re, ok := st.(store.Reencrypter)
	if !ok {
		return 0, errors.New("this store cannot re-encrypt secrets")
	}
	total := 0
	for {
		n, err := re.ReencryptSecrets(ctx, reencryptBatch)
		total += n
		if err != nil {
			return total, err
		}
		if n < reencryptBatch {
			return total, nil
		}
	}
}
