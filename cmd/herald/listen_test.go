package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/webhook"
)

// TestListenForwardsRetriesAndKeepsTheBacklog runs `herald listen` against
// the in-process server: deliveries reach a local sink signed and byte for
// byte, are recorded as attempts, a local 500 is retried, and messages
// published while the listener is down arrive when it comes back.
func TestListenForwardsRetriesAndKeepsTheBacklog(t *testing.T) {
	t.Parallel()
	// The first retry is quick, so a local failure is retried within the
	// test; the next are an hour away, so only a reconnect brings them on.
	ts := setup(t, "--retry-schedule", "100ms,1h,1h,1h")
	snk := newSink(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var app struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app", map[string]any{"name": "Laptop", "uid": "laptop"}, &app); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"invoice.paid", "invoice.voided"} {
		if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/event-type", map[string]any{"name": name, "description": name}, nil); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"listen", "--server", ts.URL, "--app", "laptop", "--forward-to", snk.URL + "/hooks",
		"--events", "invoice.paid", "--name", "dev-box", "--print-secret"}
	env := func(out io.Writer) Env {
		return Env{Stdout: out, Stderr: io.Discard, Getenv: func(k string) string {
			if k == "HERALD_TOKEN" {
				return ts.Token
			}
			return ""
		}}
	}

	l := startListener(t, ctx, args, env)
	l.waitLine(t, ctx, "Ready: ")
	secret := l.waitLine(t, ctx, "Secret: ")
	publish := func(eventType, payload string) string {
		t.Helper()
		var msg struct{ ID string }
		if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/"+app.ID+"/msg",
			map[string]any{"eventType": eventType, "payload": rawJSON(payload)}, &msg); err != nil {
			t.Fatal(err)
		}
		return msg.ID
	}

	// 1. A delivery reaches the sink byte for byte and verifies.
	skipped := publish("invoice.voided", `{"n":0}`)
	payload := `{"id":1,"total":{"b":1,"a":2},"note":"\u00e9"}`
	first := publish("invoice.paid", payload)
	if !snk.waitFor(ctx, func(seen map[string]int) bool { return seen[first] > 0 }) {
		t.Fatalf("message %s did not reach the sink", first)
	}
	got := snk.request(first)
	if string(got.Body) != payload {
		t.Errorf("body: got %s, want the payload byte for byte: %s", got.Body, payload)
	}
	v, err := webhook.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(got.Body, got.Header); err != nil {
		t.Errorf("forwarded delivery does not verify with the printed secret: %v", err)
	}
	l.waitLine(t, ctx, "invoice.paid  "+first+"  204")
	want := []attemptOut{{StatusCode: 204, Status: 0}}
	waitAttempts(t, ctx, ts, app.ID, first, want)
	if n := snk.count(skipped); n != 0 {
		t.Errorf("event type outside --events: sink got it %d times, want 0", n)
	}

	// 2. A local 500 is recorded as a failed attempt and retried.
	snk.failNext(1)
	retried := publish("invoice.paid", `{"id":2}`)
	waitAttempts(t, ctx, ts, app.ID, retried, []attemptOut{{StatusCode: 204, Status: 0}, {StatusCode: 500, Status: 2}})

	// 3. While the listener is down, deliveries wait; they flow when it
	// reconnects with the same name.
	l.stop(t)
	var offline []string
	for i := range 3 {
		offline = append(offline, publish("invoice.paid", fmt.Sprintf(`{"id":%d}`, 10+i)))
	}
	for _, id := range offline {
		// Both quick attempts fail; the next retry is an hour away.
		waitAttempts(t, ctx, ts, app.ID, id, []attemptOut{{Status: 2}, {Status: 2}})
		wantErrorClasses(t, ctx, ts, app.ID, id, "listener_offline")
	}
	l = startListener(t, ctx, args, env)
	l.waitLine(t, ctx, "Ready: ")
	if !snk.waitFor(ctx, func(seen map[string]int) bool {
		for _, id := range offline {
			if seen[id] == 0 {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("messages published while the listener was down did not arrive after it reconnected")
	}
	for _, id := range offline {
		if err := v.Verify(snk.request(id).Body, snk.request(id).Header); err != nil {
			t.Errorf("%s: does not verify after the reconnect: %v", id, err)
		}
	}
	l.stop(t)
}

// listener is `herald listen` running in a goroutine, its output split
// into lines.
type listener struct {
	cancel context.CancelFunc
	done   chan error
	lines  chan string
}

func startListener(t *testing.T, ctx context.Context, args []string, env func(io.Writer) Env) *listener {
	t.Helper()
	pr, pw := io.Pipe()
	lctx, cancel := context.WithCancel(ctx)
	l := &listener{cancel: cancel, done: make(chan error, 1), lines: make(chan string, 100)}
	var readers sync.WaitGroup
	readers.Go(func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case l.lines <- sc.Text():
			default: // nobody waits for it
			}
		}
	})
	go func() {
		err := Main(lctx, args, env(pw))
		pw.Close()
		readers.Wait()
		l.done <- err
	}()
	t.Cleanup(cancel)
	return l
}

// waitLine returns the rest of the first output line that starts with
// (or, for a delivery line, contains) prefix.
func (l *listener) waitLine(t *testing.T, ctx context.Context, prefix string) string {
	t.Helper()
	for {
		select {
		case line := <-l.lines:
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				return rest
			}
			if strings.Contains(line, prefix) {
				return line
			}
		case err := <-l.done:
			t.Fatalf("herald listen ended before printing %q: %v", prefix, err)
		case <-ctx.Done():
			t.Fatalf("herald listen did not print %q", prefix)
		}
	}
}

// stop is Ctrl-C: the listener must end cleanly.
func (l *listener) stop(t *testing.T) {
	t.Helper()
	l.cancel()
	if err := <-l.done; err != nil {
		t.Errorf("herald listen after Ctrl-C: got %v, want a clean exit", err)
	}
}

type attemptOut struct {
	StatusCode int `json:"responseStatusCode"`
	Status     int `json:"status"`
}

// waitAttempts waits until the message's attempt log, read through the
// API, holds exactly want in any order.
func waitAttempts(t *testing.T, ctx context.Context, ts *testServer, appID, msgID string, want []attemptOut) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var list struct{ Data []attemptOut }
		if _, err := call(ctx, ts.URL, ts.Token, "GET", "/api/v1/app/"+appID+"/attempt/msg/"+msgID, nil, &list); err != nil {
			t.Fatal(err)
		}
		if sameAttempts(list.Data, want) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("attempts of %s: got %+v, want %+v", msgID, list.Data, want)
		case <-tick.C:
		}
	}
}

func sameAttempts(got, want []attemptOut) bool {
	if len(got) != len(want) {
		return false
	}
	left := slices.Clone(want)
	for _, g := range got {
		i := slices.Index(left, g)
		if i < 0 {
			return false
		}
		left = slices.Delete(left, i, i+1)
	}
	return true
}

// wantErrorClasses checks the error class of every attempt of a message.
func wantErrorClasses(t *testing.T, ctx context.Context, ts *testServer, appID, msgID string, want herald.ErrorClass) {
	t.Helper()
	atts, err := ts.store.ListAttempts(ctx, appID, store.AttemptFilter{Page: store.Page{Limit: 50}, MsgID: msgID})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range atts {
		if a.ErrorClass != want {
			t.Errorf("attempt %s of %s: got error class %q, want %q", a.ID, msgID, a.ErrorClass, want)
		}
	}
}

// request returns the last request the sink got for a webhook-id.
func (s *sink) request(id string) sinkRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.requests) - 1; i >= 0; i-- {
		if s.requests[i].Header.Get("webhook-id") == id {
			return s.requests[i]
		}
	}
	return sinkRequest{Header: http.Header{}}
}

func (s *sink) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[id]
}

// failNext makes the sink answer 500 to its next n requests.
func (s *sink) failNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	left := n
	s.status = func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		if left > 0 {
			left--
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	}
}

// TestListenToASource is the Stripe-CLI case: a provider posts to a
// receiving source, and its events reach the laptop re-signed by Herald,
// with the provider's exact bytes and headers.
func TestListenToASource(t *testing.T) {
	t.Parallel()
	ts := setup(t)
	snk := newSink(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app", map[string]any{"name": "Shop", "uid": "shop"}, nil); err != nil {
		t.Fatal(err)
	}
	var src struct {
		ID        string
		IngestURL string `json:"ingestUrl"`
	}
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/source", map[string]any{
		"name": "GitHub", "uid": "gh", "app": "shop",
		"verifier": map[string]any{"type": "github", "secrets": []string{githubSecret}},
	}, &src); err != nil {
		t.Fatal(err)
	}
	// HERALD_APP, as set for herald send, does not override --source.
	l := startListener(t, ctx, []string{"listen", "--server", ts.URL, "--token", ts.Token, "--source", "gh",
		"--forward-to", snk.URL, "--name", "gh-dev", "--print-secret"}, func(out io.Writer) Env {
		return Env{Stdout: out, Stderr: io.Discard, Getenv: func(k string) string {
			return map[string]string{"HERALD_APP": "elsewhere"}[k]
		}}
	})
	l.waitLine(t, ctx, "Ready: ")
	secret := l.waitLine(t, ctx, "Secret: ")

	body := []byte("{\"ref\":\"refs/heads/main\",  \"b\":1,\"a\":2}\n")
	if code, out := postGitHub(t, ctx, src.IngestURL, githubSecret, "d1a2b3c4-0000-11e3-81ab-4c9367dc0958", body); code != http.StatusOK {
		t.Fatalf("ingest: got %d %v, want 200", code, out)
	}
	if !snk.waitFor(ctx, func(seen map[string]int) bool { return len(seen) > 0 }) {
		t.Fatal("the source's event did not reach the local sink")
	}
	snk.mu.Lock()
	got := snk.requests[0]
	snk.mu.Unlock()
	if string(got.Body) != string(body) || got.Header.Get("X-GitHub-Event") != "push" {
		t.Errorf("forwarded event: got %q with X-GitHub-Event %q, want the provider's bytes and headers", got.Body, got.Header.Get("X-GitHub-Event"))
	}
	v, err := webhook.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(got.Body, got.Header); err != nil {
		t.Errorf("forwarded event does not verify with the listen secret: %v", err)
	}
	l.stop(t)
}

// TestListenEndsWhenItsTokenExpires: a session outliving its token would
// keep receiving the application's events; it ends at the expiry and the
// CLI exits with the reason instead of reconnecting with a dead token.
func TestListenEndsWhenItsTokenExpires(t *testing.T) {
	t.Parallel()
	ts := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app", map[string]any{"name": "Laptop", "uid": "laptop"}, nil); err != nil {
		t.Fatal(err)
	}
	var portal struct{ Token string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/auth/app-portal-access/laptop", map[string]any{"expiry": 2}, &portal); err != nil {
		t.Fatal(err)
	}
	l := startListener(t, ctx, []string{"listen", "--server", ts.URL, "--token", portal.Token, "--app", "laptop",
		"--forward-to", "http://127.0.0.1:1", "--name", "dev"}, func(out io.Writer) Env {
		return Env{Stdout: out, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	})
	l.waitLine(t, ctx, "Ready: ")
	select {
	case err := <-l.done:
		if err == nil || !strings.Contains(err.Error(), "token expired") {
			t.Errorf("herald listen at the token's expiry: got %v, want it to exit saying the token expired", err)
		}
	case <-ctx.Done():
		t.Fatal("herald listen kept its session after the token expired")
	}
}

func TestListenRefusesInvalidEventTypes(t *testing.T) {
	t.Parallel()
	// Refused before connecting; the deadline only bounds a regression,
	// which would keep trying a server that is not there.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var stderr strings.Builder
	err := Main(ctx, []string{"listen", "--server", "http://127.0.0.1:1", "--token", "t", "--app", "laptop",
		"--forward-to", "http://127.0.0.1:1", "--events", "invoice.paid,x y"},
		Env{Stdout: io.Discard, Stderr: &stderr, Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), `event type "x y" may contain only letters, digits`) {
		t.Errorf("herald listen --events 'x y': got %v, want a refusal naming the event type", err)
	}
}

// TestListenAppOrSource: --app and --source exclude each other when both
// come from the command line, or both from the environment.
func TestListenAppOrSource(t *testing.T) {
	t.Parallel()
	base := []string{"listen", "--server", "http://127.0.0.1:1", "--token", "t", "--forward-to", "http://127.0.0.1:1"}
	for _, tt := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"--app", "a", "--source", "s"}, nil},
		{nil, map[string]string{"HERALD_APP": "a", "HERALD_SOURCE": "s"}},
	} {
		err := Main(t.Context(), append(base, tt.args...), Env{Stdout: io.Discard, Stderr: io.Discard,
			Getenv: func(k string) string { return tt.env[k] }})
		if err == nil || err.Error() != "give --app or --source, not both" {
			t.Errorf("listen %v with %v: got %v, want both refused", tt.args, tt.env, err)
		}
	}
}
