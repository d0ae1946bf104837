package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
)

var _ store.Store = (*DB)(nil)

// Config configures Open. Zero values are the documented defaults.
type Config struct {
	// Path is the database file; its directory is created if missing.
	// Required.
	Path string
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// Synchronous is SQLite's synchronous pragma: OFF, NORMAL, FULL or
	// EXTRA. Default FULL, so an acknowledged write survives power loss;
	// group commit keeps the fsyncs affordable.
	Synchronous string
	// ReadConns is the size of the reader pool. Default 4.
	ReadConns int
	// MaxBatch is the most write operations one transaction carries.
	// Default 512.
	MaxBatch int
	// BusyTimeout is how long a connection waits for a lock. Default 10s.
	BusyTimeout time.Duration
	// Now is the clock for the few writes that take no time from the
	// caller (deleting an endpoint). Default time.Now.
	Now func() time.Time
	// Keys seals endpoint secrets and source verifiers at rest. Nil stores
	// them in plaintext; rows sealed earlier then fail to read.
	Keys *secretbox.Keyring
}

// DB is the SQLite store.
type DB struct {
	path   string
	log    *slog.Logger
	writer *sql.DB // exactly one connection
	reader *sql.DB // query_only connections
	gc     *store.GroupCommit[op]
	st     *stmts
	cp     *checkpointer
	batch  sync.Mutex // held while the writer runs a batch (see checkpointer)
	now    func() time.Time
	keys   *secretbox.Keyring
	bg     *store.Background // the rest of large held-delivery moves

	lastUnpark      atomic.Int64 // when claims last swept ordered heads (fifo.go)
	lastSecretsWarn atomic.Int64 // when a claim last logged unreadable secrets (queue.go)
	pingMu          sync.Mutex
	pingWrite       *pingWrite // Ping's write in flight, if any (see Ping)
}

// Open opens (creating if needed) the database at cfg.Path, applies pending
// migrations, and starts the group commit.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.Path == "" {
		return nil, errors.New("open sqlite: empty path")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Synchronous == "" {
		cfg.Synchronous = "FULL"
	}
	switch strings.ToUpper(cfg.Synchronous) {
	case "OFF", "NORMAL", "FULL", "EXTRA":
	default:
		return nil, fmt.Errorf("open sqlite: invalid synchronous %q", cfg.Synchronous)
	}
	if cfg.ReadConns <= 0 {
		cfg.ReadConns = 4
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 512
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BusyTimeout <= 0 {
		cfg.BusyTimeout = 10 * time.Second
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o750); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}

	busy := fmt.Sprintf("busy_timeout=%d", cfg.BusyTimeout.Milliseconds())
	writer := openConns(cfg.Path, true,
		busy, "synchronous="+strings.ToUpper(cfg.Synchronous), "foreign_keys=1",
		// Keeps the savepoints' statement journal in memory instead of a
		// temporary file written on every batch.
		"temp_store=MEMORY",
		// The checkpointer copies the WAL back from its own connection;
		// after a checkpoint resets it, the file is cut back to this size.
		"wal_autocheckpoint=0", "journal_size_limit=67108864",
		// The writer's working set is the right edge of every index plus
		// one insertion point per endpoint in the per-endpoint ones; at
		// SQLite's default 2 MiB, fan-out to 50 endpoints reread pages on
		// most writes (16 MiB: 23% more deliveries/s, docs/benchmarks.md).
		"cache_size=-16384")
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	db := &DB{path: cfg.Path, log: cfg.Logger, writer: writer, now: cfg.Now, keys: cfg.Keys, bg: store.NewBackground()}
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite writer: %w: %w", herald.ErrUnavailable, err)
	}
	if err := setFileFormat(ctx, writer); err != nil {
		writer.Close()
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		writer.Close()
		return nil, err
	}
	if v, err := db.SchemaVersion(ctx); err == nil {
		db.log.Debug("sqlite store open", "path", cfg.Path, "schema_version", v, "synchronous", cfg.Synchronous)
	}

	db.reader = openConns(cfg.Path, false, busy, "query_only=1")
	db.reader.SetMaxOpenConns(cfg.ReadConns)
	db.reader.SetMaxIdleConns(cfg.ReadConns)
	db.reader.SetConnMaxLifetime(0)
	db.reader.SetConnMaxIdleTime(0)

	var err error
	if db.st, err = prepare(ctx, writer); err != nil {
		db.reader.Close()
		writer.Close()
		return nil, err
	}
	if db.cp, err = startCheckpointer(cfg.Path, busy, db.log, &db.batch); err != nil {
		db.st.close()
		db.reader.Close()
		writer.Close()
		return nil, err
	}
	db.gc = store.NewGroupCommit(1, cfg.MaxBatch, store.Linger, db.runBatch)
	return db, nil
}

// setFileFormat puts the file in WAL mode, which persists in the file, so
// readers opened later find it set. A new, empty file also gets
// incremental auto-vacuum, so retention can give freed pages back to the
// file system; SQLite ignores the setting once tables exist, and such
// older files reuse freed pages from their free list instead.
func setFileFormat(ctx context.Context, writer *sql.DB) error {
	if _, err := writer.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
		return fmt.Errorf("set auto vacuum: %w", err)
	}
	var mode string
	if err := writer.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fmt.Errorf("set wal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("set wal mode: got journal mode %q", mode)
	}
	return nil
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Ping reports whether the database answers reads and writes: an empty
// transaction of the writer (joining whatever batch is forming) takes the
// write lock, so a database another process holds locked, or a writer
// that fails, is reported, not just a reader that answers. A write once
// queued is waited for by the writer, not by Ping: Ping gives up when ctx
// ends, and later calls wait for that same write rather than queue more
// behind a stuck writer.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping sqlite: %w: %w", herald.ErrUnavailable, err)
	}
	db.pingMu.Lock()
	w := db.pingWrite
	if w == nil {
		w = &pingWrite{done: make(chan struct{})}
		db.pingWrite = w
		go func() {
			w.err = db.write(context.Background(), func(context.Context, *wtx) error { return nil })
			db.pingMu.Lock()
			db.pingWrite = nil
			db.pingMu.Unlock()
			close(w.done)
		}()
	}
	db.pingMu.Unlock()
	select {
	case <-w.done:
		if w.err != nil {
			return fmt.Errorf("ping sqlite writer: %w: %w", herald.ErrUnavailable, w.err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ping sqlite writer: %w: %w", herald.ErrUnavailable, ctx.Err())
	}
}

// pingWrite is a write Ping queued: err is set before done is closed.
type pingWrite struct {
	done chan struct{}
	err  error
}

// Close finishes the queued writes, then closes the connections. The
// writer's close checkpoints the WAL into the main file.
func (db *DB) Close() error {
	db.bg.Close()
	db.gc.Close()
	db.st.close()
	return errors.Join(db.cp.close(), db.reader.Close(), db.writer.Close())
}
