package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// --circuit-failures reaches the engine: with 2, a message that fails
// twice opens its endpoint's circuit (the default of 5 would not, with two
// retries in the schedule), which holds its last retry back until a reset.
func TestServeCircuitFailuresFlag(t *testing.T) {
	t.Parallel()
	ts := setup(t, "--circuit-failures", "2", "--circuit-cooldown", "1h")
	snk := newSink(t)
	snk.status = func() int { return http.StatusInternalServerError }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var app, ep, msg struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app", map[string]any{"name": "Acme"}, &app); err != nil {
		t.Fatal(err)
	}
	epPath := "/api/v1/app/" + app.ID + "/endpoint"
	if _, err := call(ctx, ts.URL, ts.Token, "POST", epPath, map[string]any{"url": snk.URL}, &ep); err != nil {
		t.Fatal(err)
	}
	circuitPath := epPath + "/" + ep.ID + "/circuit"
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/"+app.ID+"/msg",
		map[string]any{"eventType": "user.signup", "payload": map[string]any{"id": 1}}, &msg); err != nil {
		t.Fatal(err)
	}
	var circuit struct{ State string }
	for circuit.State != "open" {
		if _, err := call(ctx, ts.URL, ts.Token, "GET", circuitPath, nil, &circuit); err != nil {
			t.Fatalf("circuit never opened: %v", err)
		}
		if ctx.Err() == nil && circuit.State != "open" {
			time.Sleep(10 * time.Millisecond) // polling the API with a deadline
		}
	}
	snk.mu.Lock()
	sent := snk.seen[msg.ID]
	snk.mu.Unlock()
	if sent != 2 {
		t.Errorf("attempts before the circuit opened: %d, want 2", sent)
	}

	// A reset lets the held-back retry go.
	if _, err := call(ctx, ts.URL, ts.Token, "POST", circuitPath+"/reset", nil, &circuit); err != nil || circuit.State != "closed" {
		t.Fatalf("reset: state %q, error %v; want closed", circuit.State, err)
	}
	if !snk.waitFor(ctx, func(seen map[string]int) bool { return seen[msg.ID] == 3 }) {
		t.Fatalf("the retry held back by the circuit never went after the reset")
	}
}

func TestServeRejectsBadCircuitCooldown(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--circuit-cooldown", "0s"}, {"--circuit-max-cooldown", "-1m"}} {
		if err := startError(t, args...); !strings.Contains(err.Error(), "--circuit-cooldown") {
			t.Errorf("error: got %q, want it to name --circuit-cooldown", err)
		}
	}
}

// startError starts a server with args and returns why it refused them;
// it fails the test if the server started.
func startError(t *testing.T, args ...string) error {
	t.Helper()
	env := Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	var cfg serveConfig
	args = append([]string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--admin-token", "admin-secret-token"}, args...)
	if err := parseFlags(flagSet(&cfg), args, env); err != nil {
		t.Fatal(err)
	}
	s, err := startServer(context.Background(), cfg, env, slog.New(slog.DiscardHandler))
	if err == nil {
		_ = s.stop()
		t.Fatalf("start with %v: got nil error, want one", args)
	}
	return err
}
