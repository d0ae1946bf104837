package main

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// A client that sends a request's headers and never its body cannot hold
// up shutdown: its connection is dropped after the HTTP grace, and the
// engine still gets all of --shutdown-timeout to stop cleanly.
func TestStalledClientDoesNotEatShutdownBudget(t *testing.T) {
	t.Parallel()
	ts := setup(t, "--shutdown-timeout", "1s")
	ts.httpGrace = 100 * time.Millisecond
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "POST /api/v1/app HTTP/1.1\r\nHost: herald\r\n" +
		"Authorization: Bearer " + ts.Token + "\r\nContent-Type: application/json\r\n" +
		"Content-Length: 100\r\nExpect: 100-continue\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	// The server answers 100 Continue when the handler first reads the
	// body: from then on the request is in progress, waiting for a body
	// that never comes (the read timeout is a minute).
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("interim response: got %q, %v; want 100 Continue", line, err)
	}

	if err := ts.stop(); err != nil {
		t.Errorf("stop with a stalled client: got %v, want nil", err)
	}
	if !strings.Contains(ts.Logs.String(), "delivery engine stopped") {
		t.Errorf("logs: got %q, want the engine to report it stopped", ts.Logs.String())
	}
	// The stalled client was disconnected, not left to its read timeout.
	if _, err := io.ReadAll(br); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("the stalled connection stayed open after stop: %v", err)
		}
	}
}

func TestShutdownTimeoutMustNotBeNegative(t *testing.T) {
	t.Parallel()
	var cfg serveConfig
	env := Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	if err := parseFlags(flagSet(&cfg), []string{"--data-dir", t.TempDir(), "--shutdown-timeout", "-1s"}, env); err != nil {
		t.Fatal(err)
	}
	if _, err := startServer(t.Context(), cfg, env, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "--shutdown-timeout") {
		t.Errorf("start with --shutdown-timeout -1s: got %v, want an error naming the flag", err)
	}
}
