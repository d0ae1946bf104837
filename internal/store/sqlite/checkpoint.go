package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"
)

// checkpointer copies the WAL back into the database file from its own
// connection. SQLite would otherwise checkpoint inside whichever commit
// crosses the WAL's size threshold, and on the single writer that stalls
// every queued write behind the copy and its fsync. A PASSIVE checkpoint
// from another connection runs beside the writer without blocking it.
type checkpointer struct {
	conn  *sql.DB
	log   *slog.Logger
	kick  chan struct{}
	stop  chan struct{}
	done  sync.WaitGroup
	once  sync.Once
	every time.Duration // at most one checkpoint per interval
}

// checkpointEvery bounds how often the WAL is copied back. Writes that
// land on the same page between two checkpoints are copied once, so a
// longer interval costs less CPU; a shorter one keeps the WAL smaller.
const checkpointEvery = 100 * time.Millisecond

func startCheckpointer(path, busy string, log *slog.Logger) (*checkpointer, error) {
	conn := openConns(path, false, busy)
	conn.SetMaxOpenConns(1)
	conn.SetMaxIdleConns(1)
	conn.SetConnMaxLifetime(0)
	conn.SetConnMaxIdleTime(0)
	c := &checkpointer{conn: conn, log: log, kick: make(chan struct{}, 1), stop: make(chan struct{}), every: checkpointEvery}
	c.done.Add(1)
	go c.loop()
	return c, nil
}

// committed tells the checkpointer the writer appended to the WAL. It
// never blocks.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) loop() {
	defer c.done.Done()
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		c.checkpoint()
		t := time.NewTimer(c.every)
		select {
		case <-c.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (c *checkpointer) checkpoint() {
	var busy, logFrames, copied int
	err := c.conn.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &copied)
	if err != nil {
		c.log.Warn("sqlite checkpoint", slog.Any("error", err))
	}
}

// close stops the loop and closes the connection; the writer's own close
// checkpoints whatever is left. It is safe to call more than once.
func (c *checkpointer) close() error {
	var err error
	c.once.Do(func() {
		close(c.stop)
		c.done.Wait()
		err = c.conn.Close()
	})
	return err
}
