package api

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

func TestEndpointOrdering(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createApp(t, "Acme", "acme")
	out := b.call(t, "POST", "/api/v1/app/acme/endpoint", map[string]any{"url": "https://example.com/a", "fifo": true}).want(t, 201).obj(t)
	if _, ok := out["fifo"]; ok {
		t.Errorf("got fifo in the endpoint output; the Go SDK rejects unknown fields")
	}
	path := "/api/v1/app/acme/endpoint/" + out["id"].(string)
	wantFIFO := func(want bool) {
		t.Helper()
		if got := b.call(t, "GET", path+"/ordering", nil).want(t, 200).obj(t)["fifo"]; got != want {
			t.Errorf("fifo: got %v, want %v", got, want)
		}
	}
	wantFIFO(true)

	// An SDK's update, which knows nothing of fifo, keeps it.
	b.call(t, "PUT", path, map[string]any{"url": "https://example.com/b"}).want(t, 200)
	wantFIFO(true)
	b.call(t, "PATCH", path, map[string]any{"fifo": false}).want(t, 200)
	wantFIFO(false)
	if got := b.call(t, "PUT", path+"/ordering", map[string]any{"fifo": true}).want(t, 200).obj(t)["fifo"]; got != true {
		t.Errorf("PUT ordering answered fifo %v, want true", got)
	}
	wantFIFO(true)
	b.call(t, "PATCH", path, map[string]any{"fifo": nil}).want(t, 200)
	wantFIFO(false)

	b.call(t, "PUT", path+"/ordering", map[string]any{}).want(t, 422)
	b.call(t, "PUT", path+"/ordering", map[string]any{"fifo": "yes"}).want(t, 422)
	b.call(t, "PATCH", path, map[string]any{"fifo": 1}).want(t, 422)
	b.call(t, "GET", "/api/v1/app/acme/endpoint/ep_missing/ordering", nil).want(t, 404)
	b.call(t, "PUT", "/api/v1/app/acme/endpoint/ep_missing/ordering", map[string]any{"fifo": true}).want(t, 404)
}

func TestEndpointCircuit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createApp(t, "Acme", "acme")
	id := b.call(t, "POST", "/api/v1/app/acme/endpoint", map[string]any{"url": "https://example.com/a"}).want(t, 201).obj(t)["id"].(string)
	path := "/api/v1/app/acme/endpoint/" + id + "/circuit"
	if got := b.call(t, "GET", path, nil).want(t, 200).obj(t); got["state"] != "closed" || got["retryAt"] != nil {
		t.Errorf("new endpoint's circuit: got %v, want closed with no times", got)
	}

	opened := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := b.store.OpenCircuit(context.Background(), id, herald.CircuitClosed, opened, time.Minute); err != nil {
		t.Fatal(err)
	}
	got := b.call(t, "GET", path, nil).want(t, 200).obj(t)
	if got["state"] != "open" || got["openedAt"] != "2026-01-02T03:04:05Z" || got["retryAt"] != "2026-01-02T03:05:05Z" || got["cooldownSeconds"] != float64(60) {
		t.Errorf("open circuit: got %v, want open from 03:04:05 until 03:05:05", got)
	}
	if _, _, err := b.store.ProbeCircuit(context.Background(), id, opened.Add(time.Minute), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := b.call(t, "GET", path, nil).want(t, 200).obj(t); got["state"] != "halfOpen" {
		t.Errorf("probing circuit: got %v, want halfOpen", got["state"])
	}

	_, wakes, invalidated := b.pub.counts()
	if got := b.call(t, "POST", path+"/reset", nil).want(t, 200).obj(t); got["state"] != "closed" {
		t.Errorf("reset answered %v, want closed", got)
	}
	if got := b.call(t, "GET", path, nil).want(t, 200).obj(t); got["state"] != "closed" {
		t.Errorf("circuit after reset: got %v, want closed", got["state"])
	}
	if _, w, inv := b.pub.counts(); w != wakes+1 || inv != invalidated+1 {
		t.Errorf("reset: %d wakes and %d invalidations, want one each so the engine resumes at once", w-wakes, inv-invalidated)
	}
	b.call(t, "GET", "/api/v1/app/acme/endpoint/ep_missing/circuit", nil).want(t, 404)
	b.call(t, "POST", "/api/v1/app/acme/endpoint/ep_missing/circuit/reset", nil).want(t, 404)
}

func TestApplicationUpdateInvalidatesEngine(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.createApp(t, "Acme", "acme")
	b.call(t, "PATCH", "/api/v1/app/acme", map[string]any{"throttleRate": 5}).want(t, 200)
	b.pub.mu.Lock()
	got := slices.Clone(b.pub.appsInvalidated)
	b.pub.mu.Unlock()
	if !slices.Contains(got, id) {
		t.Errorf("application invalidations %v, want %s after its throttleRate changed", got, id)
	}
}
