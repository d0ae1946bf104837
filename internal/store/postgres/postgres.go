package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
)

var _ store.Store = (*DB)(nil)
var _ store.Waker = (*DB)(nil)

// Config configures Open. Zero values are the documented defaults.
type Config struct {
	// URL is the connection string, e.g.
	// postgres://user@host:5432/db?sslmode=disable.
	URL string
	// Schema, when set, is the search_path of every connection, so several
	// Herald installations (or tests) can share one database. Migrate
	// creates it if it does not exist. Empty: the server's default.
	Schema string
	// MaxConns bounds the pool; 0 means 10.
	MaxConns int32
	// StatementTimeout bounds each statement on the server, and twice it
	// bounds each call on the client, so a call never hangs on a database
	// that stopped answering; 0 means 5s.
	StatementTimeout time.Duration
	// ConnectTimeout bounds each connection attempt; 0 means 5s.
	ConnectTimeout time.Duration
	// Logger receives the store's logs; nil discards them.
	Logger *slog.Logger
	// Workers is the number of group-commit workers for Publish and for
	// Record, each holding one connection while it commits; 0 means 1.
	// One worker commits larger groups, which costs the server less per
	// operation: on two cores shared with PostgreSQL, one delivered 15-30%
	// more than four (docs/benchmarks.md). The nodes of a cluster still
	// commit side by side.
	Workers int
	// MaxBatch bounds the operations committed in one transaction; 0 means
	// 512.
	MaxBatch int
	// Keys seals endpoint secrets and source verifiers at rest. Nil stores
	// them in plaintext; rows sealed earlier then fail to read.
	Keys *secretbox.Keyring

	// tracer sees every statement the pool runs (tests).
	tracer pgx.QueryTracer
}

func (c Config) withDefaults() Config {
	if c.MaxConns == 0 {
		c.MaxConns = 10
	}
	if c.StatementTimeout == 0 {
		c.StatementTimeout = 5 * time.Second
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Workers == 0 {
		c.Workers = 1
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 512
	}
	return c
}

// DB is a Herald store on PostgreSQL. It is safe for concurrent use.
type DB struct {
	cfg     Config
	schema  string // where the tables are; the payload of notifications
	log     *slog.Logger
	pool    *pgxpool.Pool
	publish *store.GroupCommit[*publishOp]
	record  *store.GroupCommit[*recordOp]
	ingest  *store.GroupCommit[*ingestOp]
	release *store.GroupCommit[*releaseOp]
	listen  *listener
	bg      *store.Background // the rest of large held-delivery moves

	lastUnpark      atomic.Int64 // when claims last swept ordered heads (fifo.go)
	lastSecretsWarn atomic.Int64 // when a claim last logged unreadable secrets (queue.go)
	closeOnce       sync.Once
}

// Open connects to PostgreSQL, applies pending migrations, and starts the
// group-commit workers and the LISTEN connection that feeds Wakeups.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	cfg = cfg.withDefaults()
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("parse postgres url: %w", err)
	}
	pcfg.MaxConns = cfg.MaxConns
	setConnParams(pcfg.ConnConfig, cfg)
	if cfg.tracer != nil {
		pcfg.ConnConfig.Tracer = cfg.tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres pool: %w", mapErr(err))
	}
	db := &DB{cfg: cfg, log: cfg.Logger, pool: pool, bg: store.NewBackground()}
	if err := db.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	// The schema the tables landed in names this installation in
	// notifications, however the search path spelled it.
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&db.schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("read current schema: %w", mapErr(err))
	}
	db.listen = newListener(pcfg.ConnConfig.Copy(), db.notifyPayload(), cfg.Logger)
	if err := db.listen.start(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	// No linger: a PostgreSQL commit costs little beside its rows, and the
	// one publish worker is busy back to back under load, so waiting for
	// more operations only idles it (median ratio 0.37 against 0.32 with
	// the linger, docs/benchmarks.md).
	db.publish = store.NewGroupCommit(cfg.Workers, cfg.MaxBatch, 0, db.runPublish)
	db.record = store.NewGroupCommit(cfg.Workers, cfg.MaxBatch, 0, db.runRecord)
	db.ingest = store.NewGroupCommit(cfg.Workers, cfg.MaxBatch, 0, db.runIngest)
	db.release = store.NewGroupCommit(cfg.Workers, cfg.MaxBatch, 0, db.runRelease)
	return db, nil
}

// setConnParams applies the schema, the statement timeout and the connect
// timeout to a connection configuration.
func setConnParams(cc *pgx.ConnConfig, cfg Config) {
	if cfg.Schema != "" {
		cc.RuntimeParams["search_path"] = pgx.Identifier{cfg.Schema}.Sanitize()
	}
	cc.RuntimeParams["statement_timeout"] = strconv.FormatInt(cfg.StatementTimeout.Milliseconds(), 10)
	cc.ConnectTimeout = cfg.ConnectTimeout
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", db.mapCallErr(ctx, err))
	}
	return nil
}

// Wakeups receives a value when deliveries became due in this database,
// published or rescheduled by any node. The channel holds one value, so
// bursts of notifications coalesce into one wakeup.
func (db *DB) Wakeups() <-chan struct{} { return db.listen.c }

// Close finishes pending group commits, stops the listener and closes the
// pool. It is safe to call more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.bg.Close()
		db.publish.Close()
		db.record.Close()
		db.ingest.Close()
		db.release.Close()
		db.listen.stop()
		db.pool.Close()
	})
	return nil
}

// errCallTimeout is the cause of a call's context when the call outlived
// the client-side bound: the database stopped answering.
var errCallTimeout = errors.New("database did not answer in time")

// callCtx bounds one call at twice the statement timeout, so a database
// that stopped answering fails the call instead of hanging it.
func (db *DB) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, 2*db.cfg.StatementTimeout, errCallTimeout)
}

// runGroup commits one group-commit batch of ops with batch, in one
// transaction. A deadlock or serialization failure is tried once more; if
// the group fails on one operation's data, each operation is retried alone
// so the others still commit. Otherwise every operation gets the error.
func runGroup[T any](ctx context.Context, db *DB, ops []T, batch func(context.Context, []T) error) []error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	errs := make([]error, len(ops))
	err := batch(ctx, ops)
	if transient(err) {
		err = batch(ctx, ops)
	}
	if err != nil && dataError(err) && len(ops) > 1 {
		for i := range ops {
			if err := batch(ctx, ops[i:i+1]); err != nil {
				errs[i] = db.mapCallErr(ctx, err)
			}
		}
		return errs
	}
	if err != nil {
		err = db.mapCallErr(ctx, err)
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// mapCallErr maps err like mapErr, and also reports a call that outlived
// its own bound as unavailable.
func (db *DB) mapCallErr(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), errCallTimeout) {
		return fmt.Errorf("%w: %w", errUnavailable, err)
	}
	return mapErr(err)
}

// notifyPayload is the payload of this store's NOTIFY herald_due: its
// schema, so stores in other schemas of the same database ignore it.
func (db *DB) notifyPayload() string { return db.schema }
