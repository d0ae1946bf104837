package postgres

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
)

func TestOutageFailsFastAndRecovers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	parsed, err := url.Parse(testURL())
	if err != nil {
		t.Fatalf("parse %s: %v", testURL(), err)
	}
	schema := newSchema(t)
	p := pgtest.StartProxy(t, parsed.Host)
	db := openSchema(t, schema, func(c *Config) {
		c.URL = p.URL(testURL())
		c.StatementTimeout = time.Second
		c.ConnectTimeout = 500 * time.Millisecond
	})
	w := newWorld(t, db, 1)
	w.publish(w.t0)

	// Every kind of call fails fast with ErrUnavailable, whether the
	// database stops answering on open connections, refuses new ones, or
	// accepts them and never answers.
	calls := map[string]func() error{
		"ping": func() error { return db.Ping(ctx) },
		"get":  func() error { _, err := db.GetApplication(ctx, w.app.ID); return err },
		"publish": func() error {
			m, ds := w.message(w.t0)
			return db.Publish(ctx, m, ds, "", time.Time{})
		},
		"claim": func() error { _, err := db.Claim(ctx, "node", w.t0, time.Minute, 10); return err },
		"record": func() error {
			_, err := db.Record(ctx, []store.Result{{Attempt: herald.Attempt{ID: herald.NewID(herald.PrefixAttempt, w.t0),
				MsgID: "msg_x", EndpointID: w.eps[0].ID, AppID: w.app.ID, CreatedAt: w.t0},
				Outcome: herald.Outcome{Status: herald.StatusSuccess}, Attempts: 1}})
			return err
		},
	}
	addr := p.Addr
	for _, mode := range []string{"stalled", "refused", "silent"} {
		switch mode {
		case "stalled": // open connections stop answering
			p.Stalled.Store(true)
		case "refused":
			p.Down()
			p.Stalled.Store(false)
		case "silent": // new connections are accepted and never answered
			p.Down()
			p.Listen(addr, false)
		}
		for name, call := range calls {
			start := time.Now()
			err := call()
			if !errors.Is(err, herald.ErrUnavailable) {
				t.Errorf("%s while the database is %s: got %v, want ErrUnavailable", name, mode, err)
			}
			d := time.Since(start)
			t.Logf("%s while the database is %s: %v after %v", name, mode, err, d.Round(time.Millisecond))
			if d > 3*time.Second {
				t.Errorf("%s while the database is %s: took %v, want under 3s", name, mode, d)
			}
		}
	}

	// The database returns: the pool reconnects by itself, and so does
	// the listener, which wakes its node since notifications were lost.
	p.Down()
	drain(db)
	p.Listen(addr, true)
	var pingErr error
	for range 5 { // a connection that died with the proxy may fail once
		if pingErr = db.Ping(ctx); pingErr == nil {
			break
		}
	}
	if pingErr != nil {
		t.Fatalf("ping after the database returned: %v", pingErr)
	}
	waitWakeup(t, db, "listener after the database returned")
	w.publish(w.t0.Add(time.Second))
	jobs, err := db.Claim(ctx, "node", w.t0.Add(time.Minute), time.Minute, 10)
	if err != nil || len(jobs) != 2 {
		t.Errorf("claim after the database returned: got %d jobs, %v; want 2", len(jobs), err)
	}
}
