package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// notifyChannel is the channel on which nodes announce due deliveries. The
// payload is the schema, so installations sharing a database in different
// schemas do not wake each other.
const notifyChannel = "herald_due"

// notifySQL notifies every listening node; inside a transaction it is sent
// at commit, and PostgreSQL folds identical notifications of one
// transaction into one.
const notifySQL = `SELECT pg_notify('` + notifyChannel + `', $1)`

// Listener timings.
const (
	// heartbeat is how long the listener waits for a notification before
	// checking that its connection still answers.
	heartbeat = 30 * time.Second
	// backoff bounds the wait between reconnection attempts.
	minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
)

// listener holds one dedicated connection that LISTENs on notifyChannel and
// turns notifications for its schema into wakeups. It reconnects with
// backoff when the connection drops, and wakes once after reconnecting,
// since notifications sent meanwhile were lost.
type listener struct {
	cfg       *pgx.ConnConfig
	payload   string
	log       *slog.Logger
	c         chan struct{}
	heartbeat time.Duration

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func newListener(cfg *pgx.ConnConfig, payload string, log *slog.Logger) *listener {
	return &listener{cfg: cfg, payload: payload, log: log, c: make(chan struct{}, 1), heartbeat: heartbeat,
		done: make(chan struct{})}
}

// start connects and LISTENs before returning, so a notification sent after
// Open returns is never missed, then keeps listening in the background
// until stop.
func (l *listener) start(ctx context.Context) error {
	conn, err := l.connect(ctx)
	if err != nil {
		return fmt.Errorf("listen %s: %w", notifyChannel, mapErr(err))
	}
	runCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.run(runCtx, conn)
	return nil
}

// stop ends the listener and waits for it. It is safe to call more than
// once.
func (l *listener) stop() {
	l.once.Do(func() {
		l.cancel()
		<-l.done
	})
}

func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

func (l *listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	defer func() {
		if conn != nil {
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = conn.Close(closeCtx)
			cancel()
		}
	}()
	wait := minBackoff
	for ctx.Err() == nil {
		if conn == nil {
			var err error
			if conn, err = l.connect(ctx); err != nil {
				if ctx.Err() == nil {
					l.log.DebugContext(ctx, "listener reconnect failed", "err", err, "retry_in", wait)
				}
				if !sleep(ctx, wait) {
					return
				}
				wait = min(2*wait, maxBackoff)
				continue
			}
			l.log.InfoContext(ctx, "listener reconnected", "channel", notifyChannel)
			wait = minBackoff
			l.wake()
		}
		if err := l.receive(ctx, conn); err != nil {
			if ctx.Err() != nil {
				return
			}
			l.log.WarnContext(ctx, "listener connection lost", "err", err)
			closeCtx, cancel := context.WithTimeout(ctx, time.Second)
			_ = conn.Close(closeCtx)
			cancel()
			conn = nil
		}
	}
}

// receive waits for one notification, or for heartbeat to pass and the
// connection to answer a ping.
func (l *listener) receive(ctx context.Context, conn *pgx.Conn) error {
	waitCtx, cancel := context.WithTimeout(ctx, l.heartbeat)
	n, err := conn.WaitForNotification(waitCtx)
	cancel()
	switch {
	case err == nil:
		l.notified(n.Channel, n.Payload)
		return nil
	case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
		pingCtx, cancel := context.WithTimeout(ctx, l.cfg.ConnectTimeout)
		defer cancel()
		return conn.Ping(pingCtx)
	}
	return err
}

// notified wakes for a notification on Herald's channel about this
// installation's schema. Every installation in the database shares the
// channel, so the others' notifications arrive here too.
func (l *listener) notified(channel, payload string) {
	if channel == notifyChannel && payload == l.payload {
		l.wake()
	}
}

// wake signals Wakeups without blocking; a pending wakeup absorbs this one.
func (l *listener) wake() {
	select {
	case l.c <- struct{}{}:
	default:
	}
}

// sleep waits for d or ctx, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
