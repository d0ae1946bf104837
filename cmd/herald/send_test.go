package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSendPublishesAndWaitsForDelivery(t *testing.T) {
	t.Parallel()
	ts := setup(t)
	snk := newSink(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app", map[string]any{"name": "Acme", "uid": "acme"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/acme/endpoint", map[string]any{"url": snk.URL}, nil); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	env := Env{Stdin: strings.NewReader(`{"from": "stdin"}`), Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string { return map[string]string{"HERALD_SERVER": ts.URL, "HERALD_TOKEN": ts.Token}[k] }}
	err := Main(ctx, []string{"send", "--app", "acme", "--type", "order.created", "--file", "-", "--wait", "30s"}, env)
	if err != nil {
		t.Fatalf("send: %v\n%s", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "msg_") || !strings.Contains(lines[1], "\tsuccess\t"+snk.URL) {
		t.Fatalf("got output %q, want the message id then one success line", out.String())
	}
	snk.mu.Lock()
	defer snk.mu.Unlock()
	if n := snk.seen[lines[0]]; n != 1 || string(snk.requests[0].Body) != `{"from": "stdin"}` {
		t.Errorf("sink got %d deliveries of %s with body %s", n, lines[0], snk.requests[0].Body)
	}
}

func TestSendRejectsBadInput(t *testing.T) {
	t.Parallel()
	ts := setup(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no app", []string{"--type", "a"}, "--app and --type are required"},
		{"payload not an object", []string{"--app", "x", "--type", "a", "--data", "[1]"}, "must be a JSON object"},
		{"payload not JSON", []string{"--app", "x", "--type", "a", "--data", "{"}, "must be a JSON object"},
		{"unknown application", []string{"--app", "nope", "--type", "a", "--data", "{}"}, "404"},
		{"invalid event type", []string{"--app", "x", "--type", "a b", "--data", "{}"}, "422: body.eventType: eventType may contain only"},
		{"no server", []string{"--server", "", "--app", "x", "--type", "a"}, "--server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			env := Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
			args := append([]string{"send", "--server", ts.URL, "--token", ts.Token}, tt.args...)
			err := Main(context.Background(), args, env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// TestSendWaitReportsPendingDeliveries: a delivery still in flight when
// --wait runs out is reported as pending, with its endpoint, rather than
// as the poll the deadline cut off.
func TestSendWaitReportsPendingDeliveries(t *testing.T) {
	t.Parallel()
	ts := setup(t)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app", map[string]any{"name": "Acme", "uid": "acme"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/acme/endpoint", map[string]any{"url": hang.URL}, nil); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	env := Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	err := Main(ctx, []string{"send", "--server", ts.URL, "--token", ts.Token, "--app", "acme", "--type", "a", "--data", "{}", "--wait", "300ms"}, env)
	if err == nil || !strings.Contains(err.Error(), "1 of 1 deliveries still pending after 300ms") {
		t.Fatalf("got error %v, want one saying the delivery is still pending", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "msg_") || !strings.HasSuffix(lines[1], hang.URL) ||
		!(strings.Contains(lines[1], "\tpending\t") || strings.Contains(lines[1], "\tsending\t")) {
		t.Errorf("got output %q, want the message id then the endpoint's pending line", out.String())
	}
}
