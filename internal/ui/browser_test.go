package ui_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/delivery"
	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store/sqlite"
	"github.com/heraldhq/herald/internal/ui"
)

// TestBrowser runs browsertest/flow.mjs in headless Chromium against a
// whole Herald (SQLite store, delivery engine, API and interface on one
// server). It fails, with how to fix it, when Chromium or the pinned
// playwright-core is missing. With HERALD_SCREENSHOTS=dir it also seeds a
// day of history and saves the key pages there as PNG.
func TestBrowser(t *testing.T) {
	chromium := os.Getenv("HERALD_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("Chromium is missing at %s (%v): install it with scripts/ensure-browser.sh, or set HERALD_CHROMIUM", chromium, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is missing: install Node.js and run scripts/ensure-node-deps.sh")
	}
	if _, err := os.Stat(filepath.Join("browsertest", "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("playwright-core is not installed in internal/ui/browsertest: run scripts/ensure-node-deps.sh (%v)", err)
	}
	shots := os.Getenv("HERALD_SCREENSHOTS")
	if shots != "" {
		if shots, err = filepath.Abs(shots); err != nil {
			t.Fatalf("screenshots folder: %v", err)
		}
	}

	// The receiver fails with 500 until it is told to heal; the Globex
	// endpoint always answers 200.
	var healthy atomic.Bool
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch {
		case r.URL.Path == "/control/healthy":
			healthy.Store(true)
			w.WriteHeader(http.StatusNoContent)
		case healthy.Load() || strings.HasPrefix(r.URL.Path, "/globex/"):
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"received":true}`)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"error":"database connection refused"}`)
		}
	}))
	t.Cleanup(sink.Close)

	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "herald.db"), Synchronous: "OFF"})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if shots != "" {
		seedHistory(t, db)
	}
	eng, err := delivery.New(delivery.Config{
		Store:         db,
		Policy:        herald.Policy{Schedule: []time.Duration{}}, // no retries: a failure is final at once
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		PollInterval:  100 * time.Millisecond,
		Logger:        log,
	})
	if err != nil {
		t.Fatalf("new engine: %v", err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = eng.Stop(stop)
	})
	const token = "browser-test-admin-token"
	apiSrv := api.New(api.Config{Store: db, Publisher: eng, AdminToken: token, Logger: log})
	uiSrv, err := ui.New(ui.Config{Store: db, Engine: eng, AdminToken: token, Logger: log, RefreshInterval: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("new ui: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", apiSrv.Handler())
	mux.Handle("/ui/", uiSrv.Handler())
	mux.Handle("/ui", uiSrv.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	run, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(run, node, "flow.mjs")
	cmd.Dir = "browsertest"
	cmd.Env = append(os.Environ(),
		"HERALD_URL="+srv.URL, "HERALD_ADMIN_TOKEN="+token, "SINK_URL="+sink.URL,
		"CHROMIUM="+chromium, "SCREENSHOTS="+shots)
	out, err := cmd.CombinedOutput()
	t.Logf("browser flow output:\n%s", out)
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("browser flow failed (exit %d); see the output above", exit.ExitCode())
		}
		t.Fatalf("run browser flow: %v", err)
	}
	if !strings.Contains(string(out), "browser flow passed") {
		t.Fatalf("browser flow ended without passing")
	}
}

// seedHistory writes a day of traffic for the screenshots: a few
// applications whose endpoints receive a daily wave of messages, one
// failing for the last hours and one disabled.
func seedHistory(t *testing.T, db *sqlite.DB) {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC()
	start := now.Add(-24 * time.Hour)
	type target struct {
		app *herald.Application
		ep  *herald.Endpoint
	}
	var targets []target
	for _, a := range []struct{ name, url string }{
		{"Initech Payroll", "https://hooks.initech.example/herald"},
		{"Umbrella Health", "https://api.umbrella-health.example/webhooks/events"},
		{"Hooli Cloud", "https://events.hooli.example/ingest"},
	} {
		app := &herald.Application{ID: herald.NewID(herald.PrefixApp, start), Name: a.name, CreatedAt: start, UpdatedAt: start}
		if err := db.CreateApplication(ctx, app); err != nil {
			t.Fatalf("seed application: %v", err)
		}
		ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, start), AppID: app.ID, URL: a.url,
			Description: "Production receiver", Secrets: []herald.Secret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
			EventTypes: []string{"invoice.paid"}, CreatedAt: start, UpdatedAt: start}
		if err := db.CreateEndpoint(ctx, ep); err != nil {
			t.Fatalf("seed endpoint: %v", err)
		}
		targets = append(targets, target{app, ep})
	}
	for i := 0; i < 24*12; i++ { // every 5 minutes
		at := start.Add(time.Duration(i) * 5 * time.Minute)
		hour := float64(i) / 12
		n := int(6 + 5*math.Sin(hour/24*2*math.Pi-1.2) + float64(i%5))
		for k := 0; k < n; k++ {
			tg := targets[k%len(targets)]
			if tg == targets[2] && hour > 21 { // Hooli's endpoint was disabled 3 hours ago
				continue
			}
			mAt := at.Add(time.Duration(k) * time.Second)
			m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, mAt), AppID: tg.app.ID, EventType: "invoice.paid",
				Payload: []byte(`{"invoice":"in_` + tg.app.ID[len(tg.app.ID)-4:] + `","amount":1200}`), CreatedAt: mAt, ExpiresAt: mAt.Add(72 * time.Hour)}
			d := herald.Delivery{MsgID: m.ID, EndpointID: tg.ep.ID, AppID: tg.app.ID, Status: herald.StatusPending,
				NextAttemptAt: mAt, CreatedAt: mAt, UpdatedAt: mAt}
			if err := db.Publish(ctx, m, []herald.Delivery{d}, "", time.Time{}); err != nil {
				t.Fatalf("seed publish: %v", err)
			}
		}
		jobs, err := db.Claim(ctx, "seed", at.Add(time.Minute), time.Minute, 1000)
		if err != nil {
			t.Fatalf("seed claim: %v", err)
		}
		var results []storeResult
		for k, j := range jobs {
			code, out := 200, herald.Outcome{Status: herald.StatusSuccess}
			switch {
			case j.Endpoint.ID == targets[1].ep.ID && hour > 20: // Umbrella has been failing for hours
				code, out = 503, herald.Outcome{Status: herald.StatusFail}
			case k%23 == 7: // the odd failure elsewhere
				code, out = 500, herald.Outcome{Status: herald.StatusFail}
			}
			results = append(results, seedResult(j, at.Add(time.Minute), code, out))
		}
		if _, err := db.Record(ctx, results); err != nil {
			t.Fatalf("seed record: %v", err)
		}
	}
	// Hooli's endpoint was switched off by its owner.
	ep := targets[2].ep
	_, err := db.UpdateEndpoint(ctx, ep.AppID, ep.ID, func(ep *herald.Endpoint) error {
		ep.Disabled, ep.UpdatedAt = true, now.Add(-3*time.Hour)
		return nil
	})
	if err != nil {
		t.Fatalf("seed disable: %v", err)
	}
}
