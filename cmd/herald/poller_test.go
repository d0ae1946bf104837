package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// svixPollerDir holds the official Svix JavaScript SDK, pinned.
var svixPollerDir = filepath.Join("testdata", "svixpoller")

// sdkPoll is what poll.mjs prints.
type sdkPoll struct {
	Messages []struct {
		ID        string         `json:"id"`
		EventType string         `json:"eventType"`
		Payload   map[string]any `json:"payload"`
	} `json:"messages"`
	Iterator string `json:"iterator"`
	Done     bool   `json:"done"`
}

func (p sdkPoll) ids() []string {
	out := []string{}
	for _, m := range p.Messages {
		out = append(out, m.ID)
	}
	return out
}

// runSDKPoller runs poll.mjs and decodes its output.
func runSDKPoller(t *testing.T, ts *testServer, args ...string) sdkPoll {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{"poll.mjs", args[0], ts.URL, ts.Token}, args[1:]...)...)
	cmd.Dir = svixPollerDir
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("node poll.mjs %v: %v\n%s%s", args, err, out, stderr)
	}
	var p sdkPoll
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("decode poll.mjs output %q: %v", out, err)
	}
	return p
}

// TestSvixSDKMessagePoller reads a polling endpoint with the official Svix
// JavaScript SDK: a poll returns the published message, and a consumer
// that resumes gets exactly the messages it had not read yet.
func TestSvixSDKMessagePoller(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(filepath.Join(svixPollerDir, "node_modules", "svix", "package.json")); err != nil {
		t.Fatalf("the Svix SDK is not installed in %s (run scripts/ensure-node-deps.sh): %v", svixPollerDir, err)
	}
	ts := setup(t)
	ctx := t.Context()
	var app struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app", map[string]any{"name": "Pull"}, &app); err != nil {
		t.Fatal(err)
	}
	var sink struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/"+app.ID+"/poller", map[string]any{"uid": "reader"}, &sink); err != nil {
		t.Fatal(err)
	}
	publish := func(n int) string {
		t.Helper()
		var msg struct{ ID string }
		if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/"+app.ID+"/msg",
			map[string]any{"eventType": "order.created", "payload": map[string]any{"n": n}}, &msg); err != nil {
			t.Fatal(err)
		}
		return msg.ID
	}

	m1 := publish(1)
	p := runSDKPoller(t, ts, "poll", app.ID, "reader")
	if got := p.ids(); !slices.Equal(got, []string{m1}) || !p.Done {
		t.Fatalf("poll: got %v done=%v, want [%s] done=true", got, p.Done, m1)
	}
	if m := p.Messages[0]; m.EventType != "order.created" || m.Payload["n"] != float64(1) {
		t.Errorf("poll: got %+v, want order.created with payload {n: 1}", m)
	}

	if got := runSDKPoller(t, ts, "consumer", app.ID, sink.ID, "c1").ids(); !slices.Equal(got, []string{m1}) {
		t.Fatalf("consumer c1 first poll: got %v, want [%s]", got, m1)
	}
	m2, m3 := publish(2), publish(3)
	if got := runSDKPoller(t, ts, "consumer", app.ID, sink.ID, "c1").ids(); !slices.Equal(got, []string{m2, m3}) {
		t.Errorf("consumer c1 resumed: got %v, want exactly the unread [%s %s]", got, m2, m3)
	}
	if p := runSDKPoller(t, ts, "consumer", app.ID, sink.ID, "c1"); len(p.Messages) != 0 || !p.Done {
		t.Errorf("consumer c1 caught up: got %v done=%v, want none, done", p.ids(), p.Done)
	}

	if p := runSDKPoller(t, ts, "seek", app.ID, sink.ID, "c1"); p.Iterator == "" {
		t.Errorf("seek: got no iterator")
	}
	if got := runSDKPoller(t, ts, "consumer", app.ID, sink.ID, "c1").ids(); !slices.Equal(got, []string{m1, m2, m3}) {
		t.Errorf("consumer c1 after seeking to the start: got %v, want [%s %s %s]", got, m1, m2, m3)
	}

	// No delivery is ever made to the polling endpoint.
	var dests struct{ Data []any }
	if _, err := call(ctx, ts.URL, ts.Token, "GET", "/api/v1/app/"+app.ID+"/msg/"+m1+"/endpoint", nil, &dests); err != nil {
		t.Fatal(err)
	}
	if len(dests.Data) != 0 {
		t.Errorf("message %s went to %d endpoints, want none (polling endpoints are pulled)", m1, len(dests.Data))
	}
}
