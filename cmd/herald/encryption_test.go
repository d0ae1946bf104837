package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
	"github.com/heraldhq/herald/webhook"
)

// keygen runs `herald keygen` with args and returns the key it prints.
func keygen(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	if err := Main(context.Background(), append([]string{"keygen"}, args...), env); err != nil {
		t.Fatalf("keygen: %v\n%s", err, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

func TestKeygenPrintsUsableKeys(t *testing.T) {
	t.Parallel()
	a, b := keygen(t), keygen(t)
	if a == b {
		t.Fatal("two keys are equal")
	}
	kr, err := secretbox.NewKeyring(a, b)
	if err != nil {
		t.Fatalf("the printed keys do not parse: %v", err)
	}
	named := keygen(t, "--id", "2026-11")
	if kr, err = secretbox.NewKeyring(named); err != nil || kr.PrimaryID() != "2026-11" {
		t.Errorf("keygen --id 2026-11: got %q (%v), want a key with id 2026-11", named, err)
	}
	err = Main(context.Background(), []string{"keygen", "--id", "no spaces"}, Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }})
	if err == nil {
		t.Error("keygen with a bad id: got nil error")
	}
}

// dataFiles returns the bytes of the SQLite database and its WAL.
func dataFiles(t *testing.T, dataDir string) []byte {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dataDir, "herald.db*"))
	if len(names) == 0 {
		t.Fatalf("no database in %s", dataDir)
	}
	var all []byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// TestServeEncryptsSecretsAtRest runs Herald with --encryption-key:
// deliveries are signed with the secret the API shows, a source verifies
// with its secret, and neither secret is in the database file.
func TestServeEncryptsSecretsAtRest(t *testing.T) {
	t.Parallel()
	key := keygen(t)
	ts := setup(t, "--encryption-key", key)
	snk := newSink(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var app, ep struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app", map[string]any{"name": "Acme", "uid": "acme"}, &app); err != nil {
		t.Fatal(err)
	}
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/"+app.ID+"/endpoint", map[string]any{"url": snk.URL}, &ep); err != nil {
		t.Fatal(err)
	}
	var secret struct{ Key string }
	if _, err := call(ctx, ts.URL, ts.Token, "GET", "/api/v1/app/"+app.ID+"/endpoint/"+ep.ID+"/secret", nil, &secret); err != nil {
		t.Fatal(err)
	}
	var msg struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/"+app.ID+"/msg",
		map[string]any{"eventType": "user.signup", "payload": map[string]any{"id": 1}}, &msg); err != nil {
		t.Fatal(err)
	}
	if !snk.waitFor(ctx, func(seen map[string]int) bool { return seen[msg.ID] > 0 }) {
		t.Fatalf("message %s was not delivered", msg.ID)
	}
	snk.mu.Lock()
	got := snk.requests[0]
	snk.mu.Unlock()
	v, err := webhook.NewVerifier(secret.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(got.Body, got.Header); err != nil {
		t.Errorf("delivery does not verify with the endpoint secret from the API: %v", err)
	}

	var src struct {
		ID        string
		IngestURL string `json:"ingestUrl"`
	}
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/source", map[string]any{
		"name": "GitHub", "app": "acme",
		"verifier": map[string]any{"type": "github", "secrets": []string{githubSecret}},
	}, &src); err != nil {
		t.Fatal(err)
	}
	if code, out := postGitHub(t, ctx, src.IngestURL, githubSecret, "d-1", []byte(`{"zen":"x"}`)); code != http.StatusOK {
		t.Errorf("ingest signed with the source secret: got %d %v, want 200", code, out)
	}

	files := dataFiles(t, ts.cfg.dataDir)
	for _, s := range []string{strings.TrimPrefix(secret.Key, "whsec_"), githubSecret} {
		if bytes.Contains(files, []byte(s)) {
			t.Errorf("the database file holds the secret %q in the clear", s)
		}
	}
	logs := ts.Logs.String()
	if strings.Contains(logs, key) || strings.Contains(logs, strings.TrimPrefix(secret.Key, "whsec_")) {
		t.Error("logs contain the encryption key or the endpoint secret")
	}
	if strings.Contains(logs, "stored unencrypted") || !strings.Contains(logs, "encryption_key_id=") {
		t.Errorf("logs: got %q, want the key id and no warning", logs)
	}
}

// Without a key Herald still runs, storing plaintext, and warns once,
// naming the flag.
func TestServeWarnsWithoutEncryptionKey(t *testing.T) {
	t.Parallel()
	ts := setup(t)
	logs := ts.Logs.String()
	if n := strings.Count(logs, "stored unencrypted"); n != 1 || !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "--encryption-key") {
		t.Errorf("logs: got %d warnings in %q, want one naming --encryption-key", n, logs)
	}
}

func TestServeRejectsBadEncryptionKeys(t *testing.T) {
	t.Parallel()
	key := keygen(t)
	for name, args := range map[string][]string{
		"short key":         {"--encryption-key", "c2hvcnQ"},
		"old without new":   {"--encryption-key-old", key},
		"bad old key":       {"--encryption-key", key, "--encryption-key-old", "nope"},
		"same key id twice": {"--encryption-key", "k:" + key, "--encryption-key-old", "k:" + keygen(t)},
	} {
		t.Run(name, func(t *testing.T) {
			env := Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
			var cfg serveConfig
			base := []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--admin-token", "admin-secret-token"}
			if err := parseFlags(flagSet(&cfg), append(base, args...), env); err != nil {
				t.Fatal(err)
			}
			s, err := startServer(context.Background(), cfg, env, slog.New(slog.DiscardHandler))
			if err == nil {
				_ = s.stop()
				t.Fatal("start: got nil error, want one")
			}
			if !strings.Contains(strings.ReplaceAll(err.Error(), "-", " "), "encryption key") || strings.Contains(err.Error(), key) {
				t.Errorf("error: got %q, want it to name the encryption key without showing it", err)
			}
		})
	}
}

// migrateCmd runs `herald migrate` on dataDir with args.
func migrateCmd(dataDir string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	err := Main(context.Background(), append([]string{"migrate", "--data-dir", dataDir}, args...), env)
	return out.String() + errOut.String(), err
}

// TestMigrateReencryptRotatesKeys takes a database written without a key
// through encryption and a key rotation with `herald migrate --reencrypt`,
// then serves it with the new key alone.
func TestMigrateReencryptRotatesKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dataDir := t.TempDir()
	const epSecret = "whsec_cGxhaW50ZXh0IGJlZm9yZSBlbmNyeXB0aW9u"
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dataDir, "herald.db")})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApp, now), Name: "old", CreatedAt: now, UpdatedAt: now}
	ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: app.ID, URL: "https://example.com/hook",
		Secrets: []herald.Secret{{Key: epSecret}}, CreatedAt: now, UpdatedAt: now}
	src := &store.Source{ID: herald.NewID(herald.PrefixSource, now), AppID: app.ID, Name: "gh",
		Verifier: json.RawMessage(`{"type":"github","secrets":["` + githubSecret + `"]}`), MaxBodyBytes: 1 << 20,
		CreatedAt: now, UpdatedAt: now}
	for _, err := range []error{db.CreateApplication(ctx, app), db.CreateEndpoint(ctx, ep), db.CreateSource(ctx, src), db.Close()} {
		if err != nil {
			t.Fatal(err)
		}
	}
	plain := strings.TrimPrefix(epSecret, "whsec_")
	if !bytes.Contains(dataFiles(t, dataDir), []byte(plain)) {
		t.Fatal("the test's plaintext database does not hold the secret: the check below would prove nothing")
	}

	keyA, keyB := "a:"+keygen(t), "b:"+keygen(t)
	if _, err := migrateCmd(dataDir, "--reencrypt"); err == nil || !strings.Contains(err.Error(), "--encryption-key") {
		t.Errorf("reencrypt without a key: got %v, want an error naming --encryption-key", err)
	}
	// The rebuild drops the pages that held the plaintext.
	out, err := migrateCmd(dataDir, "--encryption-key", keyA, "--reencrypt", "--vacuum")
	if err != nil || !strings.Contains(out, "2 endpoint and source rows re-encrypted under key a") {
		t.Fatalf("reencrypt under a: got %q, %v", out, err)
	}
	files := dataFiles(t, dataDir)
	for _, s := range []string{plain, githubSecret} {
		if bytes.Contains(files, []byte(s)) {
			t.Errorf("after reencrypt and vacuum the file still holds %q", s)
		}
	}

	// Serving checks the keys at start: rows of a key it lacks stop it,
	// rows of an old key only warn.
	if _, err := startStop(t, dataDir); err == nil || !strings.Contains(err.Error(), `"a"`) || !strings.Contains(err.Error(), "--encryption-key") {
		t.Errorf("serve without a key over encrypted rows: got %v, want an error naming key a and --encryption-key", err)
	}
	logs, err := startStop(t, dataDir, "--encryption-key", keyB, "--encryption-key-old", keyA)
	if err != nil || !strings.Contains(logs, "herald migrate --reencrypt") || !strings.Contains(logs, "rows=2") {
		t.Errorf("serve with a new key over rows of the old: got %v, logs %q; want a warning about 2 rows", err, logs)
	}
	out, err = migrateCmd(dataDir, "--encryption-key", keyB, "--encryption-key-old", keyA, "--reencrypt")
	if err != nil || !strings.Contains(out, "2 endpoint and source rows re-encrypted under key b") {
		t.Fatalf("reencrypt under b: got %q, %v", out, err)
	}
	out, err = migrateCmd(dataDir, "--encryption-key", keyA, "--reencrypt")
	if err == nil || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("reencrypt without the sealing key: got %q, %v; want an error naming key b", out, err)
	}

	if _, err := startStop(t, dataDir, "--encryption-key", keyA); err == nil || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("serve with only the retired key: got %v, want an error naming key b", err)
	}

	ts := setup(t, "--data-dir", dataDir, "--encryption-key", keyB)
	if strings.Contains(ts.Logs.String(), "reencrypt") {
		t.Errorf("logs after a full re-encryption: got %q, want no reminder", ts.Logs.String())
	}
	var secret struct{ Key string }
	if _, err := call(ctx, ts.URL, ts.Token, "GET", "/api/v1/app/"+app.ID+"/endpoint/"+ep.ID+"/secret", nil, &secret); err != nil {
		t.Fatal(err)
	}
	if secret.Key != epSecret {
		t.Errorf("secret after rotation: got %q, want %q", secret.Key, epSecret)
	}
}

// startStop starts Herald on dataDir with args and stops it again, and
// returns its logs and the start error.
func startStop(t *testing.T, dataDir string, args ...string) (string, error) {
	t.Helper()
	logs := &syncBuffer{}
	env := Env{Stdout: io.Discard, Stderr: logs, Getenv: func(string) string { return "" }}
	var cfg serveConfig
	base := []string{"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--admin-token", "admin-secret-token"}
	if err := parseFlags(flagSet(&cfg), append(base, args...), env); err != nil {
		t.Fatal(err)
	}
	logger, err := newLogger(env, "text", "info")
	if err != nil {
		t.Fatal(err)
	}
	s, err := startServer(context.Background(), cfg, env, logger)
	if err != nil {
		return logs.String(), err
	}
	if err := s.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	return logs.String(), nil
}

// The same over PostgreSQL: rows written without a key are encrypted by
// `herald migrate --reencrypt --database`, and a node with the key starts
// without a reminder.
func TestMigrateReencryptPostgres(t *testing.T) {
	t.Parallel()
	url := freshSchema(t)
	dataDir := t.TempDir()
	ts := setup(t, "--database", url)
	ctx := t.Context()
	var app, ep struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app", map[string]any{"name": "pg"}, &app); err != nil {
		t.Fatal(err)
	}
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/"+app.ID+"/endpoint", map[string]any{"url": "https://example.com/hook"}, &ep); err != nil {
		t.Fatal(err)
	}
	var before struct{ Key string }
	if _, err := call(ctx, ts.URL, ts.Token, "GET", "/api/v1/app/"+app.ID+"/endpoint/"+ep.ID+"/secret", nil, &before); err != nil {
		t.Fatal(err)
	}

	key := "pg:" + keygen(t)
	out, err := migrateCmd(dataDir, "--database", url, "--encryption-key", key, "--reencrypt")
	if err != nil || !strings.Contains(out, "1 endpoint and source rows re-encrypted under key pg") {
		t.Fatalf("reencrypt: got %q, %v", out, err)
	}
	// The node still running without the key now refuses what it reads.
	if _, err := call(ctx, ts.URL, ts.Token, "GET", "/api/v1/app/"+app.ID+"/endpoint/"+ep.ID+"/secret", nil, nil); err == nil {
		t.Error("a node without the key read an encrypted secret")
	}
	logs, err := startStop(t, dataDir, "--database", url, "--encryption-key", key)
	if err != nil || strings.Contains(logs, "reencrypt") || strings.Contains(logs, strings.TrimPrefix(key, "pg:")) {
		t.Errorf("serve with the key: got %v, logs %q; want a clean start that never shows the key", err, logs)
	}
	ts2 := setup(t, "--database", url, "--encryption-key", key)
	var after struct{ Key string }
	if _, err := call(ctx, ts2.URL, ts2.Token, "GET", "/api/v1/app/"+app.ID+"/endpoint/"+ep.ID+"/secret", nil, &after); err != nil {
		t.Fatal(err)
	}
	if after.Key != before.Key {
		t.Errorf("secret after reencrypt: got %q, want %q", after.Key, before.Key)
	}
}
