package main

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A client that never finishes its headers is disconnected after
// --read-header-timeout instead of holding a connection for good.
func TestSlowClientIsDisconnected(t *testing.T) {
	t.Parallel()
	ts := setup(t, "--read-header-timeout", "200ms")
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /api/v1/app HTTP/1.1\r\nHost: herald\r\n"); err != nil {
		t.Fatal(err)
	}
	// Without the header timeout the server would wait for the one-minute
	// read timeout; this deadline is far below that.
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept the half-sent request open: %v", err)
	}
}

// Headers past 64 KiB are refused with 431 before any handler runs.
func TestOversizedHeadersAreRefused(t *testing.T) {
	t.Parallel()
	ts := setup(t)
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "GET /api/v1/health HTTP/1.1\r\nHost: herald\r\nX-Big: " + strings.Repeat("a", 128<<10) + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status: got %d, want 431", resp.StatusCode)
	}
}

func TestReadHeaderTimeoutMustBePositive(t *testing.T) {
	t.Parallel()
	var cfg serveConfig
	env := Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	if err := parseFlags(flagSet(&cfg), []string{"--data-dir", t.TempDir(), "--read-header-timeout", "0s"}, env); err != nil {
		t.Fatal(err)
	}
	if _, err := startServer(t.Context(), cfg, env, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "--read-header-timeout") {
		t.Errorf("start with --read-header-timeout 0s: got %v, want an error naming the flag", err)
	}
}
