package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
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

type testServer struct {
	*server
	URL   string
	Token string
	Logs  *syncBuffer
}

// setup runs the real server in-process on a free loopback port with a
// SQLite store in a temporary directory.
func setup(t *testing.T, extra ...string) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	env := Env{Stdout: io.Discard, Stderr: logs, Getenv: func(string) string { return "" }}
	var cfg serveConfig
	fs := flagSet(&cfg)
	args := append([]string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--admin-token", "admin-secret-token", "--allow-network", "127.0.0.0/8",
		"--retry-schedule", "20ms,40ms", "--log-level", "debug"}, extra...)
	if err := parseFlags(fs, args, env); err != nil {
		t.Fatal(err)
	}
	logger, err := newLogger(env, cfg.logFormat, cfg.logLevel)
	if err != nil {
		t.Fatal(err)
	}
	s, err := startServer(context.Background(), cfg, env, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return &testServer{server: s, URL: "http://" + s.addr, Token: "admin-secret-token", Logs: logs}
}

func TestServePublishDeliverVerify(t *testing.T) {
	t.Parallel()
	ts := setup(t)
	snk := newSink(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var app struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app", map[string]any{"name": "Acme"}, &app); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"user.signup", "user.deleted"} {
		if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/event-type", map[string]any{"name": name, "description": name}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var ep struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/"+app.ID+"/endpoint",
		map[string]any{"url": snk.URL, "eventTypes": []string{"user.signup"}}, &ep); err != nil {
		t.Fatal(err)
	}
	var secret struct{ Key string }
	if _, err := call(ctx, ts.URL, ts.Token, "GET", "/api/v1/app/"+app.ID+"/endpoint/"+ep.ID+"/secret", nil, &secret); err != nil {
		t.Fatal(err)
	}
	// A message of a type the endpoint does not take must not reach it.
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/"+app.ID+"/msg",
		map[string]any{"eventType": "user.deleted", "payload": map[string]any{"id": 0}}, nil); err != nil {
		t.Fatal(err)
	}
	payload := `{"id":42,"email":"ada@example.com","nested":{"b":1,"a":2}}`
	var msg struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/"+app.ID+"/msg",
		map[string]any{"eventType": "user.signup", "payload": rawJSON(payload)}, &msg); err != nil {
		t.Fatal(err)
	}
	if !snk.waitFor(ctx, func(seen map[string]int) bool { return seen[msg.ID] > 0 }) {
		t.Fatalf("message %s was not delivered", msg.ID)
	}

	snk.mu.Lock()
	reqs := append([]sinkRequest(nil), snk.requests...)
	snk.mu.Unlock()
	if len(reqs) != 1 {
		t.Fatalf("sink got %d requests, want 1 (the filtered event type must not be sent)", len(reqs))
	}
	got := reqs[0]
	if string(got.Body) != payload {
		t.Errorf("body: got %s, want the payload byte for byte: %s", got.Body, payload)
	}
	v, err := webhook.NewVerifier(secret.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(got.Body, got.Header); err != nil {
		t.Errorf("delivery does not verify with the endpoint secret: %v", err)
	}
	verifyWithStandardWebhooksJS(t, secret.Key, got)

	// The attempt is logged.
	var attempts struct {
		Data []struct {
			ResponseStatusCode int    `json:"responseStatusCode"`
			Status             int    `json:"status"`
			MsgID              string `json:"msgId"`
		}
	}
	if _, err := call(ctx, ts.URL, ts.Token, "GET", "/api/v1/app/"+app.ID+"/attempt/msg/"+msg.ID, nil, &attempts); err != nil {
		t.Fatal(err)
	}
	if len(attempts.Data) != 1 || attempts.Data[0].ResponseStatusCode != 204 || attempts.Data[0].Status != 0 {
		t.Errorf("attempts: got %+v, want one successful attempt with status code 204", attempts.Data)
	}

	// Metrics (which take the admin token) and health answer.
	_, metrics := scrape(t, ts.URL+"/metrics", ts.Token)
	for _, name := range []string{"herald_messages_published_total", "herald_attempts_total", "herald_delivery_latency_seconds", "herald_backlog"} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	resp, err := http.Get(ts.URL + "/api/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Errorf("health: got %d, want 2xx", resp.StatusCode)
	}

	// The dashboard is served, and / leads to it.
	if page := get(t, ts.URL+"/"); !strings.Contains(page, "<form") || !strings.Contains(page, "Herald") {
		t.Errorf("GET / does not lead to the dashboard login page:\n%.300s", page)
	}

	// Secrets never reach the logs.
	logs := ts.Logs.String()
	for _, s := range []string{secret.Key, strings.TrimPrefix(secret.Key, "whsec_"), ts.Token} {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain a secret %q", s)
		}
	}
}

// verifyWithStandardWebhooksJS checks a delivery with the official
// JavaScript implementation of Standard Webhooks.
func verifyWithStandardWebhooksJS(t *testing.T, secret string, r sinkRequest) {
	t.Helper()
	in, err := json.Marshal(map[string]any{
		"secret": secret,
		"headers": map[string]string{
			"webhook-id":        r.Header.Get("webhook-id"),
			"webhook-timestamp": r.Header.Get("webhook-timestamp"),
			"webhook-signature": r.Header.Get("webhook-signature"),
		},
		"body": base64.StdEncoding.EncodeToString(r.Body),
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "verify.mjs")
	cmd.Dir = filepath.Join("..", "..", "webhook", "testdata", "js")
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("standardwebhooks (npm) rejects the delivery: %v\n%s\n(run `npm ci --prefix webhook/testdata/js` if node_modules is missing)", err, out)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// rawJSON keeps a payload's exact bytes through json.Marshal.
type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }
