package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
)

// Tests of the encryption keys' life cycle: start-up checks, rotation on
// several nodes, and re-encryption.

// openKeyed opens the store that `herald serve` with args would open
// (SQLite in dataDir unless args hold --database), sealing with keys[0]
// and opening with all of keys. The returned func closes it, once; it is
// also closed when the test ends.
func openKeyed(t *testing.T, dataDir string, args []string, keys ...string) (store.Store, *secretbox.Keyring, func()) {
	t.Helper()
	var cfg serveConfig
	env := Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	if err := parseFlags(flagSet(&cfg), append([]string{"--data-dir", dataDir}, args...), env); err != nil {
		t.Fatal(err)
	}
	kr, err := secretbox.NewKeyring(keys[0], keys[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(t.Context(), cfg, kr, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	closeIt := func() {
		once.Do(func() {
			if err := st.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
	t.Cleanup(closeIt)
	return st, kr, closeIt
}

// seedApp creates an application.
func seedApp(t *testing.T, st store.Store, now time.Time) *herald.Application {
	t.Helper()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApp, now), Name: "keys", Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateApplication(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	return app
}

// seedEndpoint creates an endpoint of appID with a secret of its own.
func seedEndpoint(t *testing.T, st store.Store, appID string, now time.Time) *herald.Endpoint {
	t.Helper()
	id := herald.NewID(herald.PrefixEndpoint, now)
	ep := &herald.Endpoint{ID: id, AppID: appID, URL: "https://example.com/hook",
		Secrets:  []herald.Secret{{Key: "whsec_" + base64.StdEncoding.EncodeToString([]byte(id))}},
		Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateEndpoint(t.Context(), ep); err != nil {
		t.Fatal(err)
	}
	return ep
}

// seedSource creates a source of appID whose verifier holds a secret.
func seedSource(t *testing.T, st store.Store, appID string, now time.Time) *store.Source {
	t.Helper()
	src := &store.Source{ID: herald.NewID(herald.PrefixSource, now), AppID: appID, Name: "gh",
		Verifier: json.RawMessage(`{"type":"github","secrets":["` + githubSecret + `"]}`), MaxBodyBytes: 1 << 20,
		CreatedAt: now, UpdatedAt: now}
	if err := st.CreateSource(t.Context(), src); err != nil {
		t.Fatal(err)
	}
	return src
}

// keyIDs returns the store's count of sealed rows by key id.
func keyIDs(t *testing.T, st store.Store) map[string]int64 {
	t.Helper()
	ids, err := st.(store.Reencrypter).SecretKeyIDs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// A new key given under the id of the key it replaces cannot decrypt what
// that key encrypted. Herald used to start anyway (it compared ids only)
// and then fail every read, sealing new rows under the same id so that no
// keyring could ever open both; and --reencrypt took those rows for done.
// Both now refuse at once, naming the key id, while the right key starts,
// alone or with a next key that has encrypted nothing yet.
func TestNewKeyUnderOldKeyIDIsRefused(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			dataDir := t.TempDir()
			var args []string
			if engine == "postgres" {
				args = []string{"--database", freshSchema(t)}
			}
			first, swapped := "prod:"+keygen(t), "prod:"+keygen(t)
			st, _, closeSt := openKeyed(t, dataDir, args, first)
			now := time.Now().UTC().Truncate(time.Millisecond)
			app := seedApp(t, st, now)
			seedEndpoint(t, st, app.ID, now)
			seedSource(t, st, app.ID, now)
			closeSt()

			_, err := startStop(t, dataDir, append(args, "--encryption-key", swapped)...)
			if err == nil || !strings.Contains(err.Error(), `key id "prod" (2 rows)`) || !strings.Contains(err.Error(), "does not decrypt") {
				t.Errorf("serve with a new key under the old key's id: got %v, want a refusal naming key id prod", err)
			} else if strings.Contains(err.Error(), strings.TrimPrefix(swapped, "prod:")) || strings.Contains(err.Error(), strings.TrimPrefix(first, "prod:")) {
				t.Errorf("the refusal shows a key: %v", err)
			}
			out, err := migrateCmd(dataDir, append(args, "--encryption-key", swapped, "--reencrypt")...)
			if err == nil || !strings.Contains(err.Error(), `key id "prod"`) {
				t.Errorf("reencrypt with a new key under the old key's id: got %q, %v; want a refusal naming key id prod", out, err)
			}

			if _, err := startStop(t, dataDir, append(args, "--encryption-key", first)...); err != nil {
				t.Errorf("serve with the key that encrypted the rows: %v", err)
			}
			// Step 1 of the rotation: the next key only decrypts, and has
			// encrypted nothing yet.
			if _, err := startStop(t, dataDir, append(args, "--encryption-key", first, "--encryption-key-old", "next:"+keygen(t))...); err != nil {
				t.Errorf("serve with a new decrypt-only key: %v", err)
			}
		})
	}
}

// rollNode is one node of TestRollingKeyRotation.
type rollNode struct {
	name  string
	st    store.Store
	close func()
}

// TestRollingKeyRotation follows README's "Rotating the key" on two nodes
// of one PostgreSQL database, restarting one node at a time. At every
// point of the rollout each node reads, in its claims, what either node
// wrote, and every restart passes the start-up check. (The procedure it
// replaced switched a node to the new key while the others knew only the
// old one, and their claims failed from then on.)
func TestRollingKeyRotation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	args := []string{"--database", freshSchema(t)}
	dataDir := t.TempDir()
	oldKey, newKey := "old:"+keygen(t), "new:"+keygen(t)
	logger := slog.New(slog.DiscardHandler)
	nodes := map[string]*rollNode{}
	start := func(name string, keys ...string) {
		t.Helper()
		if n := nodes[name]; n != nil {
			n.close()
		}
		st, kr, closeIt := openKeyed(t, dataDir, args, keys...)
		if err := checkSecretKeys(ctx, st, kr, logger); err != nil {
			t.Fatalf("node %s restarted with keys %s: start-up check: %v", name, keyNames(keys), err)
		}
		nodes[name] = &rollNode{name: name, st: st, close: closeIt}
	}
	start("a", oldKey)
	start("b", oldKey)
	now := time.Now().UTC().Truncate(time.Millisecond)
	app := seedApp(t, nodes["a"].st, now)
	endpoints := 0
	// crossRead has each node write an endpoint and a message to it, and
	// each node claim it.
	crossRead := func(step string) {
		t.Helper()
		for _, w := range []string{"a", "b"} {
			for _, r := range []string{"a", "b"} {
				now = now.Add(time.Second)
				ep := seedEndpoint(t, nodes[w].st, app.ID, now)
				endpoints++
				m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: app.ID, EventType: "x",
					Payload: []byte(`{}`), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
				d := []herald.Delivery{{MsgID: m.ID, EndpointID: ep.ID, AppID: app.ID, Status: herald.StatusPending,
					NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}}
				if err := nodes[w].st.Publish(ctx, m, d, "", time.Time{}); err != nil {
					t.Fatal(err)
				}
				jobs, err := nodes[r].st.Claim(ctx, "node-"+r, now, time.Hour, 100)
				if err != nil {
					t.Fatalf("%s: node %s claims what node %s wrote: %v", step, r, w, err)
				}
				if len(jobs) != 1 || jobs[0].Endpoint.ID != ep.ID || jobs[0].Endpoint.Secrets[0].Key != ep.Secrets[0].Key {
					t.Fatalf("%s: node %s claimed %d jobs, want the one node %s wrote, with its secret", step, r, len(jobs), w)
				}
			}
		}
	}
	crossRead("before the rotation")
	for _, s := range []struct {
		step, node string
		keys       []string
	}{
		{"step 1", "a", []string{oldKey, newKey}},
		{"step 1", "b", []string{oldKey, newKey}},
		{"step 2", "a", []string{newKey, oldKey}},
		{"step 2", "b", []string{newKey, oldKey}},
	} {
		start(s.node, s.keys...)
		crossRead(fmt.Sprintf("%s, node %s restarted with %s", s.step, s.node, keyNames(s.keys)))
	}

	n, err := reencryptAll(ctx, nodes["b"].st.(store.Reencrypter), "new")
	if err != nil {
		t.Fatalf("step 3: reencrypt: %v", err)
	}
	if got, want := keyIDs(t, nodes["a"].st), map[string]int64{"new": int64(endpoints)}; !maps.Equal(got, want) {
		t.Errorf("step 3: after reencrypting %d rows, key ids: got %v, want %v", n, got, want)
	}
	start("a", newKey)
	start("b", newKey)
	crossRead("step 4, the old key retired")
}

// keyNames names keys by their ids, primary first.
func keyNames(keys []string) string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i], _, _ = strings.Cut(k, ":")
	}
	return strings.Join(ids, "+")
}

// fakeReencrypter is a store of sealed rows by key id whose
// ReencryptSecrets may leave rows alone, as one that skipped the rows
// other transactions held did.
type fakeReencrypter struct {
	mu    sync.Mutex
	rows  map[string]int64 // key id -> rows
	calls int
	// held returns how many stale rows call (1, 2, ...) leaves alone.
	held func(call int) int64
}

func (f *fakeReencrypter) ReencryptSecrets(_ context.Context, limit int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	var stale int64
	for id, n := range f.rows {
		if id != "new" {
			stale += n
		}
	}
	done := min(max(stale-f.held(f.calls), 0), int64(limit))
	left := done
	for _, id := range slices.Sorted(maps.Keys(f.rows)) {
		if id == "new" || left == 0 {
			continue
		}
		moved := min(f.rows[id], left)
		f.rows[id] -= moved
		f.rows["new"] += moved
		left -= moved
		if f.rows[id] == 0 {
			delete(f.rows, id)
		}
	}
	return int(done), nil
}

func (f *fakeReencrypter) SecretKeyIDs(context.Context) (map[string]int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.rows), nil
}

// reencryptAll ends when a batch comes back short, but a short batch does
// not prove that no row is left: it recounts, goes over the rows again,
// and fails, saying how many, rather than report success with rows left
// under the old key (it used to exit 0 with "N rows re-encrypted").
func TestReencryptAllRecountsStaleRows(t *testing.T) {
	t.Parallel()
	t.Run("left once", func(t *testing.T) {
		t.Parallel()
		f := &fakeReencrypter{rows: map[string]int64{"old": 3, "": 1}, held: func(call int) int64 {
			if call == 1 {
				return 1
			}
			return 0
		}}
		n, err := reencryptAll(t.Context(), f, "new")
		if err != nil || n != 4 {
			t.Errorf("reencrypt: got %d rows, %v; want 4 rows, nil", n, err)
		}
		if got, want := f.rows, map[string]int64{"new": 4}; !maps.Equal(got, want) {
			t.Errorf("key ids after reencrypt: got %v, want %v", got, want)
		}
	})
	t.Run("left for good", func(t *testing.T) {
		t.Parallel()
		f := &fakeReencrypter{rows: map[string]int64{"old": 3}, held: func(int) int64 { return 1 }}
		n, err := reencryptAll(t.Context(), f, "new")
		if err == nil || !strings.Contains(err.Error(), "1 endpoint and source rows are still not encrypted under key new") {
			t.Errorf("reencrypt with a row left for good: got %d rows, %v; want an error counting 1 row", n, err)
		}
	})
}

// TestReencryptKilledLeavesRowsReadable kills `herald migrate --reencrypt`
// with SIGKILL after its first batch committed, while its second waits
// for a row another transaction holds: every row still reads with the
// same keys, each under the old key or the new, and running it again
// finishes the job.
func TestReencryptKilledLeavesRowsReadable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := freshSchema(t)
	args := []string{"--database", url}
	dataDir := t.TempDir()
	oldKey, newKey := "old:"+keygen(t), "new:"+keygen(t)
	st, _, closeSt := openKeyed(t, dataDir, args, oldKey)
	now := time.Now().UTC().Truncate(time.Millisecond)
	app := seedApp(t, st, now)
	// A first batch of endpoints, then the source in the second.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < reencryptBatch; i += 8 {
				seedEndpoint(t, st, app.ID, now)
			}
		})
	}
	wg.Wait()
	src := seedSource(t, st, app.ID, now)
	closeSt()

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `UPDATE sources SET updated_at = updated_at + 1 WHERE id = $1`, src.ID); err != nil {
		t.Fatal(err)
	}
	var xid string
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&xid); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(heraldBinary(t), "migrate", "--database", url, "--encryption-key", newKey, "--encryption-key-old", oldKey, "--reencrypt")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM pg_locks
			WHERE locktype = 'transactionid' AND NOT granted AND transactionid::text = $1`, xid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("migrate --reencrypt ended (%v) instead of waiting for the row another transaction holds:\n%s", err, out.String())
		case <-deadline:
			t.Fatal("migrate --reencrypt is not waiting for the row after 60s")
		case <-tick.C:
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	st, _, _ = openKeyed(t, dataDir, args, newKey, oldKey)
	if got, want := keyIDs(t, st), map[string]int64{"new": reencryptBatch, "old": 1}; !maps.Equal(got, want) {
		t.Errorf("key ids after the kill: got %v, want %v (the first batch committed, the second not)", got, want)
	}
	eps, err := st.ActiveEndpoints(ctx, app.ID)
	if err != nil || len(eps) != reencryptBatch {
		t.Fatalf("endpoints after the kill: got %d, %v; want %d", len(eps), err, reencryptBatch)
	}
	if _, err := st.GetSource(ctx, src.ID); err != nil {
		t.Errorf("get source after the kill: %v", err)
	}
	if out, err := migrateCmd(dataDir, "--database", url, "--encryption-key", newKey, "--encryption-key-old", oldKey, "--reencrypt"); err != nil || !strings.Contains(out, "1 endpoint and source rows re-encrypted under key new") {
		t.Errorf("reencrypt again: got %q, %v; want 1 row re-encrypted", out, err)
	}
}
