//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"context"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// startOn starts herald serve in-process on dataDir, or returns why not.
func startOn(t *testing.T, dataDir string) (*server, error) {
	t.Helper()
	var cfg serveConfig
	env := Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--admin-token", "admin-secret-token"}
	if err := parseFlags(flagSet(&cfg), args, env); err != nil {
		t.Fatal(err)
	}
	return startServer(t.Context(), cfg, env, slog.New(slog.DiscardHandler))
}

// A second herald serve on a data directory in use is refused: it would
// share the first's node id and release its leases. Once the first stops,
// the directory is free again.
func TestSecondServeOnSameDataDirIsRefused(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	first, err := startOn(t, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := startOn(t, dataDir); err == nil || !strings.Contains(err.Error(), "in use by another herald serve") {
		if s != nil {
			s.stop()
		}
		t.Errorf("second start on the same data dir: got %v, want it refused as in use", err)
	}
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	again, err := startOn(t, dataDir)
	if err != nil {
		t.Fatalf("start after the first stopped: %v", err)
	}
	// A rebuild of the file would stall the running server's writer.
	env := Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	err = Main(t.Context(), []string{"migrate", "--data-dir", dataDir, "--vacuum"}, env)
	if err == nil || !strings.Contains(err.Error(), "--vacuum needs Herald stopped") {
		t.Errorf("migrate --vacuum while serving: got %v, want it refused", err)
	}
	if err := again.stop(); err != nil {
		t.Error(err)
	}
}

// The real binary exits at once with the message while another holds the
// data directory, and the lock goes with a process killed by SIGKILL.
func TestDataDirLockProcess(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	first := startHerald(t, "--data-dir", dataDir)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, heraldBinary(t), "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir).CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "in use by another herald serve") {
		t.Errorf("second herald serve: got %v with %q, want a quick exit saying the data dir is in use", err, out)
	}

	first.kill()
	startHerald(t, "--data-dir", dataDir).interrupt()
}
