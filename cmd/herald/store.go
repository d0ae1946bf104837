package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// openStore opens (and migrates) PostgreSQL when --database is set, and
// otherwise the SQLite file in the data directory.
// keys (nil: none) seals secrets at rest.
func openStore(ctx context.Context, cfg serveConfig, keys *secretbox.Keyring, logger *slog.Logger) (store.Store, error) {
	if cfg.database != "" {
		if !strings.HasPrefix(cfg.database, "postgres://") && !strings.HasPrefix(cfg.database, "postgresql://") {
			return nil, fmt.Errorf("--database must be a postgres:// URL")
		}
		db, err := postgres.Open(ctx, postgres.Config{
			URL:              cfg.database,
			MaxConns:         int32(cfg.pgMaxConns),
			StatementTimeout: cfg.pgStmtTimeout,
			Logger:           logger,
			Keys:             keys,
		})
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		return db, nil
	}
	db, err := sqlite.Open(ctx, sqlite.Config{
		Path:   filepath.Join(cfg.dataDir, "herald.db"),
		Logger: logger,
		Keys:   keys,
	})
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	return db, nil
}
