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
	if *vacuum {
		// A rebuild holds the writer for as long as it takes: a running
		// Herald would stall, so it must be stopped, as its lock shows.
		unlock, err := lockDataDir(cfg.dataDir)
		if err != nil {
			return fmt.Errorf("--vacuum needs Herald stopped: %w", err)
		}
		defer unlock()
	}
	st, err := openStore(ctx, cfg, keys, logger)
	if err != nil {
		return err
	}
	resealed := 0
	if *reencrypt {
		re, ok := st.(store.Reencrypter)
		if !ok {
			st.Close()
			return errors.New("this store cannot re-encrypt secrets")
		}
		// Rows sealed under the primary key's id are skipped as done, so a
		// new key given an old key's id must be refused first.
		ids, err := re.SecretKeyIDs(ctx)
		if err == nil {
			err = checkKeysOpen(ctx, st, ids)
		}
		if err != nil {
			st.Close()
			return err
		}
		if resealed, err = reencryptAll(ctx, re, keys.PrimaryID()); err != nil {
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

// reencryptPasses bounds how often reencryptAll goes over the tables again
// when its recount still finds stale rows.
const reencryptPasses = 3

// reencryptAll rewrites, batch by batch, every secret not yet sealed by
// the primary key, then recounts: a batch comes back short once the rows
// it found ran out, but a row rewritten or added meanwhile (by a node
// still sealing with another key) may remain. It goes over them again,
// and fails rather than report success while stale rows remain. Each
// batch commits on its own, so an interrupted run leaves every row
// readable with the same keys, and running it again finishes the job.
func reencryptAll(ctx context.Context, re store.Reencrypter, primaryID string) (int, error) {
	total := 0
	for pass := 1; ; pass++ {
		for {
			n, err := re.ReencryptSecrets(ctx, reencryptBatch)
			total += n
			if err != nil {
				return total, err
			}
			if n < reencryptBatch {
				break
			}
		}
		ids, err := re.SecretKeyIDs(ctx)
		if err != nil {
			return total, fmt.Errorf("recount after reencrypt: %w", err)
		}
		var stale int64
		for id, n := range ids {
			if id != primaryID {
				stale += n
			}
		}
		if stale == 0 {
			return total, nil
		}
		if pass == reencryptPasses {
			return total, fmt.Errorf("reencrypt: %d endpoint and source rows are still not encrypted under key %s after %d passes (%d rows re-encrypted); "+
				"is a node still running with another --encryption-key? Restart every node with this key first, then run it again", stale, primaryID, pass, total)
		}
	}
}
