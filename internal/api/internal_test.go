package api

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestInternalErrorsAreLoggedNotLeaked(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	b := setup(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	if err := b.store.Close(); err != nil {
		t.Fatal(err)
	}
	r := b.call(t, "GET", "/api/v1/app", nil)
	if r.status < 500 {
		t.Fatalf("got status %d with the store closed, want 5xx", r.status)
	}
	detail, _ := r.obj(t)["detail"].(string)
	if strings.Contains(strings.ToLower(detail), "sql") || strings.Contains(detail, "closed") {
		t.Errorf("got detail %q, want no internal error text", detail)
	}
	if !strings.Contains(logs.String(), "route=\"GET /api/v1/app\"") {
		t.Errorf("got logs %q, want the failure logged with its route", logs.String())
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	b := setup(t, func(c *Config) { c.Registry = reg })
	b.createApp(t, "a", "a")
	b.call(t, "GET", "/api/v1/app/missing", nil).want(t, 404)
	// A second server on the same registry shares the collectors.
	setup(t, func(c *Config) { c.Registry = reg })

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	sawDuration := false
	for _, f := range families {
		switch f.GetName() {
		case "herald_http_requests_total":
			for _, m := range f.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				got[labels["code"]+" "+labels["route"]] = m.GetCounter().GetValue()
			}
		case "herald_http_request_duration_seconds":
			sawDuration = len(f.GetMetric()) > 0
		}
	}
	want := map[string]float64{"201 POST /api/v1/app": 1, "404 GET /api/v1/app/{app_id}": 1}
	if len(got) != len(want) || got["201 POST /api/v1/app"] != 1 || got["404 GET /api/v1/app/{app_id}"] != 1 {
		t.Errorf("got request counts %v, want %v", got, want)
	}
	if !sawDuration {
		t.Error("got no request duration histogram")
	}
}

func TestIdempotencyInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createApp(t, "Acme", "acme")
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	b.pub.before = func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}
	key := map[string][]string{"Idempotency-Key": {"slow"}}
	body := `{"eventType":"a","payload":{}}`
	type result struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", b.url+"/api/v1/app/acme/msg", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Idempotency-Key", "slow")
		resp, err := b.http.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: raw, err: err}
	}()
	<-entered
	b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", body, key).want(t, 409)
	close(release)
	first := <-done
	if first.err != nil || first.status != 202 {
		t.Fatalf("got first request %d, %v; want 202", first.status, first.err)
	}
	again := b.callAs(t, adminToken, "POST", "/api/v1/app/acme/msg", body, key).want(t, 202)
	if string(again.raw) != string(first.body) {
		t.Errorf("got %s after the first finished, want the replay %s", again.raw, first.body)
	}
}
