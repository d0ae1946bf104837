package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/pgtest"
)

// TestDatabaseOutageAnswers503AndRecovers cuts herald off from PostgreSQL:
// publishes must answer 503 with a reason quickly instead of hanging, and
// once the database is back herald recovers without a restart and delivers
// everything it acknowledged.
func TestDatabaseOutageAnswers503AndRecovers(t *testing.T) {
	t.Parallel()
	base, err := url.Parse(pgtest.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := pgtest.StartProxy(t, base.Host)
	db := pgtest.SchemaURL(t, proxy.URL(pgtest.URL()), pgtest.NewSchema(t))
	ts := setup(t, "--database", db, "--pg-statement-timeout", "1s")
	snk := newSink(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var app struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app", map[string]any{"name": "outage"}, &app); err != nil {
		t.Fatal(err)
	}
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/"+app.ID+"/endpoint", map[string]any{"url": snk.URL}, nil); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	publish := func() (int, error) {
		var msg struct{ ID string }
		code, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/"+app.ID+"/msg",
			map[string]any{"eventType": "outage.test", "payload": map[string]any{"n": len(acked)}}, &msg)
		if err == nil {
			acked[msg.ID] = true
		}
		return code, err
	}
	if _, err := publish(); err != nil {
		t.Fatal(err)
	}

	addr := proxy.Addr
	// The database first stops answering on open connections, then
	// refuses connections altogether.
	for _, mode := range []string{"hanging", "refusing"} {
		if mode == "hanging" {
			proxy.Stalled.Store(true)
		} else {
			proxy.Down()
			proxy.Stalled.Store(false)
		}
		start := time.Now()
		code, err := publish()
		took := time.Since(start)
		if code != 503 || err == nil || !strings.Contains(err.Error(), "unavailable") {
			t.Fatalf("publish while the database is %s: got %d %v, want 503 with a reason", mode, code, err)
		}
		if took > 10*time.Second {
			t.Errorf("publish while the database is %s took %v; it must fail fast, not hang", mode, took)
		}
		t.Logf("publish while the database is %s: %v after %v", mode, err, took.Round(time.Millisecond))
	}

	proxy.Listen(addr, true)
	// A pooled connection that died with the proxy may fail one call.
	var lastErr error
	for range 5 {
		if _, lastErr = publish(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("publish after the database returned: %v", lastErr)
	}
	snk.waitAllDelivered(t, ctx, acked)
}
