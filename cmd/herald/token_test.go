package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

var generatedTokenRE = regexp.MustCompile(`(?m)^\s+(hrld_\S+)$`)

// TestAdminTokenGeneratedOncePrintedOnce starts without --admin-token
// twice on one data directory: the first start generates and prints a
// token on standard output (never on the log stream), the second reuses it
// silently, and the token works on the API.
func TestAdminTokenGeneratedOncePrintedOnce(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	start := func() (*server, string) {
		var stdout, stderr bytes.Buffer
		env := Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
		var cfg serveConfig
		if err := parseFlags(flagSet(&cfg), []string{"--addr", "127.0.0.1:0", "--data-dir", dataDir}, env); err != nil {
			t.Fatal(err)
		}
		logger, _ := newLogger(Env{Stderr: &bytes.Buffer{}}, "text", "warn")
		s, err := startServer(context.Background(), cfg, env, logger)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stderr.String(), "hrld_") {
			t.Errorf("the log stream holds the token: %q", stderr.String())
		}
		return s, stdout.String()
	}

	s1, out1 := start()
	m := generatedTokenRE.FindStringSubmatch(out1)
	if m == nil {
		t.Fatalf("first start printed %q, want the generated token", out1)
	}
	token := m[1]
	if err := s1.stop(); err != nil {
		t.Fatal(err)
	}

	s2, out2 := start()
	defer s2.stop()
	if out2 != "" {
		t.Errorf("second start printed %q, want nothing: the token is shown only once", out2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := call(ctx, "http://"+s2.addr, token, "GET", "/api/v1/app", nil, nil); err != nil {
		t.Errorf("the generated token does not work after a restart: %v", err)
	}
	if code, _ := call(ctx, "http://"+s2.addr, token+"x", "GET", "/api/v1/app", nil, nil); code != 401 {
		t.Errorf("a wrong token: got %d, want 401", code)
	}
}
