package main

import (
	"io"
	"slices"
	"strings"
	"testing"
)

func envOf(vars map[string]string) Env {
	return Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return vars[k] }}
}

// A word that is not a flag ends flag parsing, so every flag after it
// would be dropped without a word: `--secure-cookies false` (a boolean
// takes its value as --secure-cookies=false) turned them on and ignored
// the rest.
func TestFlagsRefuseALeftoverArgument(t *testing.T) {
	t.Parallel()
	var cfg serveConfig
	err := parseFlags(flagSet(&cfg), []string{"--secure-cookies", "false", "--timeout", "99s"}, envOf(nil))
	if err == nil || !strings.Contains(err.Error(), `"false"`) {
		t.Errorf("parse with a leftover argument: got %v, want an error naming it", err)
	}
}

// The command line wins over the environment, for a repeatable flag too:
// its values replace the environment's instead of widening them.
func TestFlagsWinOverTheEnvironment(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{"HERALD_ALLOW_NETWORK": "127.0.0.1/32,10.1.0.0/16", "HERALD_TIMEOUT": "7s"})
	var cfg serveConfig
	if err := parseFlags(flagSet(&cfg), []string{"--allow-network", "10.0.0.0/8"}, env); err != nil {
		t.Fatal(err)
	}
	if got := []string(cfg.allowNetworks); !slices.Equal(got, []string{"10.0.0.0/8"}) {
		t.Errorf("--allow-network with HERALD_ALLOW_NETWORK set: got %v, want the command line's alone", got)
	}
	if cfg.timeout.String() != "7s" {
		t.Errorf("HERALD_TIMEOUT without --timeout: got %s, want 7s", cfg.timeout)
	}

	cfg = serveConfig{}
	if err := parseFlags(flagSet(&cfg), nil, env); err != nil {
		t.Fatal(err)
	}
	if got := []string(cfg.allowNetworks); !slices.Equal(got, []string{"127.0.0.1/32", "10.1.0.0/16"}) {
		t.Errorf("HERALD_ALLOW_NETWORK alone: got %v, want both networks", got)
	}
}

func TestRedactURLHidesCredentials(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"https://ops:OpsPassw0rd@ops.example.com:8443/hook?token=QueryS3cret&x=1",
		"https://ghp_UserT0ken@ops.example.com:8443/hook",
		"https://ops.example.com:8443/services/T000/B000/PathS3cret#Fr4g",
	} {
		got := redactURL(u)
		for _, secret := range []string{"OpsPassw0rd", "QueryS3cret", "ghp_UserT0ken", "PathS3cret", "Fr4g"} {
			if strings.Contains(got, secret) {
				t.Errorf("redactURL(%s) kept %q: %s", u, secret, got)
			}
		}
		if got != "https://ops.example.com:8443" {
			t.Errorf("redactURL(%s) = %s, want the scheme and host", u, got)
		}
	}
}

// Out-of-range numbers are refused with the flag's name, not wrapped or
// ignored: a pool size past int32 became 1, a negative backlog ran an
// ordinary benchmark, and `herald version extra` took the extra word.
func TestFlagsRefuseOutOfRangeNumbers(t *testing.T) {
	t.Parallel()
	for _, pg := range []string{"0", "-1", "4294967297"} {
		var cfg serveConfig
		if err := parseFlags(flagSet(&cfg), []string{"--pg-max-conns", pg}, envOf(nil)); err != nil {
			t.Fatal(err)
		}
		if err := cfg.check(); err == nil || !strings.Contains(err.Error(), "--pg-max-conns") {
			t.Errorf("--pg-max-conns %s: got %v, want an error naming the flag", pg, err)
		}
	}
	if err := Main(t.Context(), []string{"bench", "--backlog", "-5"}, envOf(nil)); err == nil || !strings.Contains(err.Error(), "--backlog") {
		t.Errorf("bench --backlog -5: got %v, want an error naming the flag", err)
	}
	if err := Main(t.Context(), []string{"version", "extra"}, envOf(nil)); err == nil || !strings.Contains(err.Error(), `"extra"`) {
		t.Errorf("version extra: got %v, want an error naming the argument", err)
	}
}

// TestExitCodes: help asked for is not an error; a missing command is a
// usage error.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	env := Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	for _, tt := range []struct {
		args []string
		want int
	}{
		{[]string{"help"}, 0},
		{[]string{"verify", "-h"}, 0},
		{[]string{"send", "--help"}, 0},
		{nil, 2},
		{[]string{"nope"}, 1},
		{[]string{"verify"}, 1},
	} {
		if got := exitCode(Main(t.Context(), tt.args, env)); got != tt.want {
			t.Errorf("herald %v: exit code %d, want %d", tt.args, got, tt.want)
		}
	}
}

// TestBadEnvironmentValueIsNamed: a wrong value in a HERALD_ variable says
// which value, which variable and which flag, as a wrong flag does.
func TestBadEnvironmentValueIsNamed(t *testing.T) {
	t.Parallel()
	env := Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string {
		return map[string]string{"HERALD_TIMEOUT": "abc"}[k]
	}}
	err := Main(t.Context(), []string{"serve", "--data-dir", t.TempDir()}, env)
	if err == nil || !strings.Contains(err.Error(), `invalid value "abc" for HERALD_TIMEOUT (--timeout)`) {
		t.Errorf("HERALD_TIMEOUT=abc: got %v, want the value, the variable and the flag named", err)
	}
	err = Main(t.Context(), []string{"send", "--server", "localhost:8080", "--token", "t", "--app", "a", "--type", "x"}, env)
	if err == nil || !strings.Contains(err.Error(), "must start with http:// or https://") {
		t.Errorf("send --server localhost:8080: got %v, want the scheme asked for", err)
	}
}
