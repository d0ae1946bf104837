package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// verifyRun is the outcome of one in-process `herald verify`.
type verifyRun struct {
	stdout, stderr string
	err            error
}

func runVerifyCmd(t *testing.T, stdin string, environ map[string]string, args ...string) verifyRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := Env{
		Stdin:  strings.NewReader(stdin),
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: func(k string) string { return environ[k] },
	}
	err := Main(context.Background(), append([]string{"verify"}, args...), env)
	return verifyRun{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// signedMessage is a message signed now with a fresh secret, its body
// written to a file.
type signedMessage struct {
	secret, id, timestamp, signature, bodyFile string
	body                                       []byte
}

func newSignedMessage(t *testing.T, at time.Time) signedMessage {
	t.Helper()
	secret := webhook.NewSecret()
	s, err := webhook.NewSigner(secret)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	body := []byte(`{"type":"invoice.paid","data":{"id":"in_1"}}`)
	path := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return signedMessage{
		secret:    secret,
		id:        "msg_cli",
		timestamp: strconv.FormatInt(at.Unix(), 10),
		signature: s.Sign("msg_cli", at, body),
		bodyFile:  path,
		body:      body,
	}
}

func (m signedMessage) args(extra ...string) []string {
	return append([]string{"--secret", m.secret, "--id", m.id, "--timestamp", m.timestamp,
		"--signature", m.signature, "--body", m.bodyFile}, extra...)
}

func TestVerifyValid(t *testing.T) {
	t.Parallel()
	m := newSignedMessage(t, time.Now())
	tests := []struct {
		name    string
		stdin   string
		environ map[string]string
		args    []string
	}{
		{"flags", "", nil, m.args()},
		{"headers", "", nil, []string{"--secret", m.secret, "--body", m.bodyFile,
			"--header", "webhook-id: " + m.id, "--header", "Webhook-Timestamp:" + m.timestamp,
			"--header", "webhook-signature: " + m.signature}},
		{"svix headers", "", nil, []string{"--secret", m.secret, "--body", m.bodyFile,
			"--header", "svix-id: " + m.id, "--header", "svix-timestamp: " + m.timestamp,
			"--header", "svix-signature: " + m.signature}},
		{"body from stdin", string(m.body), nil, []string{"--secret", m.secret, "--id", m.id,
			"--timestamp", m.timestamp, "--signature", m.signature, "--body", "-"}},
		{"secret from the environment", "", map[string]string{"HERALD_SECRET": m.secret}, []string{"--id", m.id,
			"--timestamp", m.timestamp, "--signature", m.signature, "--body", m.bodyFile}},
		{"rotation: several secrets", "", nil, append(m.args(), "--secret", webhook.NewSecret())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runVerifyCmd(t, tt.stdin, tt.environ, tt.args...)
			if got.err != nil {
				t.Fatalf("verify: got error %v (stderr %q), want none", got.err, got.stderr)
			}
			if got.stdout != "signature valid\n" {
				t.Fatalf("stdout: got %q, want %q", got.stdout, "signature valid\n")
			}
		})
	}
}

func TestVerifyEd25519(t *testing.T) {
	t.Parallel()
	private, public := webhook.NewKeyPair()
	s, err := webhook.NewSigner(private)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	body := `{"ok":true}`
	got := runVerifyCmd(t, body, nil, "--secret", public, "--id", "msg_ed",
		"--timestamp", strconv.FormatInt(now.Unix(), 10), "--signature", s.Sign("msg_ed", now, []byte(body)), "--body", "-")
	if got.err != nil || got.stdout != "signature valid\n" {
		t.Fatalf("verify v1a: got %q, %v, want %q and no error", got.stdout, got.err, "signature valid\n")
	}
}

func TestVerifyInvalid(t *testing.T) {
	t.Parallel()
	m := newSignedMessage(t, time.Now())
	old := newSignedMessage(t, time.Now().Add(-time.Hour))
	tests := []struct {
		name     string
		stdin    string
		args     []string
		wantErr  error
		wantText string
	}{
		{"wrong secret", "", append(m.args(), "--secret", webhook.NewSecret())[2:], webhook.ErrNoMatch, "trailing newline counts"},
		{"body with a trailing newline", string(m.body) + "\n", append(m.args(), "--body", "-"), webhook.ErrNoMatch, "no matching signature"},
		{"stale", "", old.args(), webhook.ErrTooOld, "--tolerance 0"},
		{"stale with a custom tolerance", "", old.args("--tolerance", "30m"), webhook.ErrTooOld, "tolerance 30m0s"},
		{"missing signature", "", []string{"--secret", m.secret, "--id", m.id, "--timestamp", m.timestamp, "--body", m.bodyFile}, webhook.ErrMissingHeaders, "webhook-signature"},
		{"bad timestamp", "", m.args("--timestamp", "yesterday"), webhook.ErrInvalidTimestamp, "not unix seconds"},
		{"bad secret", "", m.args("--secret", "whsec_!!"), webhook.ErrInvalidSecret, "secret 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runVerifyCmd(t, tt.stdin, nil, tt.args...)
			if !errors.Is(got.err, tt.wantErr) {
				t.Fatalf("verify: got error %v, want %v", got.err, tt.wantErr)
			}
			if !strings.Contains(got.err.Error(), tt.wantText) {
				t.Fatalf("error text: got %q, want it to contain %q", got.err, tt.wantText)
			}
			if got.stdout != "" {
				t.Fatalf("stdout: got %q, want nothing", got.stdout)
			}
			if code := exitCode(got.err); code != 1 {
				t.Fatalf("exit code: got %d, want 1", code)
			}
		})
	}
}

func TestVerifyOldMessageWithoutTolerance(t *testing.T) {
	t.Parallel()
	old := newSignedMessage(t, time.Now().Add(-30*24*time.Hour))
	got := runVerifyCmd(t, "", nil, old.args("--tolerance", "0")...)
	if got.err != nil || got.stdout != "signature valid\n" {
		t.Fatalf("verify --tolerance 0: got %q, %v, want %q and no error", got.stdout, got.err, "signature valid\n")
	}
}

func TestVerifyUsageErrors(t *testing.T) {
	t.Parallel()
	m := newSignedMessage(t, time.Now())
	tests := []struct {
		name     string
		args     []string
		wantText string
	}{
		{"no secret", []string{"--id", m.id, "--body", m.bodyFile}, "--secret is required"},
		{"no body", []string{"--secret", m.secret}, "--body is required"},
		{"malformed header", []string{"--secret", m.secret, "--body", m.bodyFile, "--header", "no colon"}, `want "Name: value"`},
		{"missing body file", []string{"--secret", m.secret, "--body", filepath.Join(t.TempDir(), "none")}, "read body"},
		{"stray argument", append(m.args(), "extra"), `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runVerifyCmd(t, "", nil, tt.args...)
			if got.err == nil || !strings.Contains(got.err.Error(), tt.wantText) {
				t.Fatalf("verify: got error %v, want one containing %q", got.err, tt.wantText)
			}
		})
	}
	got := runVerifyCmd(t, "", nil, "--help")
	if !errors.Is(got.err, flag.ErrHelp) || !strings.Contains(got.stderr, "herald verify --secret") {
		t.Fatalf("verify --help: got %v and stderr %q, want flag.ErrHelp and the usage", got.err, got.stderr)
	}
}

// TestVerifyProvider checks GitHub's documented example through the same
// preset that guards source URLs, and refuses an altered body.
func TestVerifyProvider(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(good, []byte("Hello, World!"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("Hello, World?"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := func(body string) []string {
		return []string{"--provider", "github", "--secret", "It's a Secret to Everybody",
			"--header", "X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
			"--header", "X-GitHub-Event: push", "--header", "X-GitHub-Delivery: 72d3162e", "--body", body}
	}
	r := runVerifyCmd(t, "", nil, args(good)...)
	if r.err != nil || !strings.Contains(r.stdout, `signature valid (event type "push", id "72d3162e")`) {
		t.Errorf("valid GitHub request: got %q, %v", r.stdout, r.err)
	}
	if r := runVerifyCmd(t, "", nil, args(bad)...); r.err == nil || !strings.Contains(r.err.Error(), "signature invalid") {
		t.Errorf("altered body: got %v, want signature invalid", r.err)
	}
	if r := runVerifyCmd(t, "", nil, "--provider", "nope", "--secret", "x", "--body", good); r.err == nil {
		t.Error("unknown provider: got no error")
	}
}

// TestVerifyProviderTolerance: --tolerance applies to a provider's signed
// timestamp as to a Standard Webhooks one, and 0 skips the check.
func TestVerifyProviderTolerance(t *testing.T) {
	t.Parallel()
	const secret = "whsec_stripe_test"
	body := []byte(`{"id":"evt_1","type":"invoice.paid"}`)
	ts := strconv.FormatInt(time.Now().Add(-2*time.Hour).Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	path := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--provider", "stripe", "--secret", secret, "--body", path,
		"--header", "Stripe-Signature: t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))}
	for _, tt := range []struct {
		tolerance []string
		valid     bool
	}{
		{nil, false}, // Stripe's 5 minutes
		{[]string{"--tolerance", "0"}, true},
		{[]string{"--tolerance", "3h"}, true},
		{[]string{"--tolerance", "1h"}, false},
	} {
		r := runVerifyCmd(t, "", nil, append(args, tt.tolerance...)...)
		switch {
		case tt.valid && r.err != nil:
			t.Errorf("a Stripe event signed 2h ago, %v: got %v, want valid", tt.tolerance, r.err)
		case !tt.valid && (r.err == nil || !strings.Contains(r.err.Error(), "--tolerance 0")):
			t.Errorf("a Stripe event signed 2h ago, %v: got %v, want stale, with the --tolerance hint", tt.tolerance, r.err)
		}
	}
	r := runVerifyCmd(t, "", nil, "--provider", "github", "--secret", "s", "--body", path, "--tolerance", "1h")
	if r.err == nil || !strings.Contains(r.err.Error(), "--tolerance does not apply to github") {
		t.Errorf("--tolerance with github: got %v, want it refused", r.err)
	}
}
