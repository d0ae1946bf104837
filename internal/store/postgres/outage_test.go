package postgres

import (
	"context"
	"errors"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// proxy forwards loopback TCP connections to PostgreSQL, so a test can cut
// the database off from one store without touching the shared server.
type proxy struct {
	t      *testing.T
	target string
	addr   string

	// stalled drops every byte in both directions while keeping the
	// connections open: a server that hangs rather than fails.
	stalled atomic.Bool

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// startProxy listens on a free loopback port and forwards to target.
func startProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target, conns: make(map[net.Conn]bool)}
	p.listen("127.0.0.1:0", true)
	t.Cleanup(p.down)
	return p
}

// listen accepts on addr; with forward unset it accepts connections and
// holds them without an answer, like a server that stopped responding.
func (p *proxy) listen(addr string, forward bool) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy listen %s: %v", addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !p.track(c) {
				return
			}
			if forward {
				p.wg.Go(func() { p.forward(c) })
			}
		}
	})
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		_ = c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *proxy) forward(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	if !p.track(server) {
		_ = client.Close()
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 && !p.stalled.Load() {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
}

// down closes the listener and every connection: the database is gone.
func (p *proxy) down() {
	p.mu.Lock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
	p.mu.Unlock()
	p.wg.Wait()
}

// url returns u with its host replaced by the proxy's address.
func (p *proxy) url(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		p.t.Fatalf("parse %s: %v", u, err)
	}
	parsed.Host = p.addr
	return parsed.String()
}

func TestOutageFailsFastAndRecovers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	parsed, err := url.Parse(testURL())
	if err != nil {
		t.Fatalf("parse %s: %v", testURL(), err)
	}
	schema := newSchema(t)
	p := startProxy(t, parsed.Host)
	db := openSchema(t, schema, func(c *Config) {
		c.URL = p.url(testURL())
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
	addr := p.addr
	for _, mode := range []string{"stalled", "refused", "silent"} {
		switch mode {
		case "stalled": // open connections stop answering
			p.stalled.Store(true)
		case "refused":
			p.down()
			p.stalled.Store(false)
		case "silent": // new connections are accepted and never answered
			p.down()
			p.listen(addr, false)
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
	p.down()
	drain(db)
	p.listen(addr, true)
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
