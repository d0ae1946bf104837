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
	conn   *sql.DB
	log    *slog.Logger
	writer *sync.Mutex // held by the writer around each batch
	kick   chan struct{}
	stop   chan struct{}
	done   sync.WaitGroup
	once   sync.Once
	every  time.Duration // at most one checkpoint per interval

	restartAt int // WAL frames past which the writer is paused for a restart
}

// checkpointEvery bounds how often the WAL is copied back. Writes that
// land on the same page between two checkpoints are copied once, so a
// longer interval costs less CPU; a shorter one keeps the WAL smaller.
const checkpointEvery = 100 * time.Millisecond

// walRestartFrames is how long the WAL may grow before the checkpointer
// makes it start over (see checkpoint): about 48 MiB of 4 KiB pages, below
// the writer's journal_size_limit, so a restart never has to cut the file
// back, which took the writer up to 135 ms.
const walRestartFrames = 12288

func startCheckpointer(path, busy string, log *slog.Logger, writer *sync.Mutex) (*checkpointer, error) {
	conn := openConns(path, false, busy)
	conn.SetMaxOpenConns(1)
	conn.SetMaxIdleConns(1)
	conn.SetConnMaxLifetime(0)
	conn.SetConnMaxIdleTime(0)
	c := &checkpointer{conn: conn, log: log, writer: writer, kick: make(chan struct{}, 1), stop: make(chan struct{}),
		every: checkpointEvery, restartAt: walRestartFrames}
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

// checkpoint copies the WAL back, and makes it start over once it has
// grown past restartAt frames. SQLite starts the WAL over only when a
// write transaction begins with every frame already copied back; under
// steady writes a checkpoint running beside the writer never gets there,
// because the writer has always appended more by the time it finishes,
// and the WAL grew to hundreds of megabytes. So a second checkpoint, with
// the writer paused (restart), copies the few frames written during the
// first.
func (c *checkpointer) checkpoint() {
	if frames := c.passive(); frames >= c.restartAt {
		c.restart()
	}
}

// restart pauses the writer between two batches while it copies back what
// is left of the WAL, so that the writer's next transaction starts the WAL
// over.
func (c *checkpointer) restart() {
	c.writer.Lock()
	defer c.writer.Unlock()
	c.passive()
}

// passive runs one PASSIVE checkpoint and returns the WAL's length in
// frames.
func (c *checkpointer) passive() int {
	var busy, logFrames, copied int
	err := c.conn.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &copied)
	if err != nil {
		c.log.Warn("sqlite checkpoint", slog.Any("error", err))
	}
	return logFrames
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
