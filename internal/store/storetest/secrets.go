package storetest

import (
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
)

// SecretsEngine is what the encryption suite needs of an engine beyond
// Store: opening one database again with other keys, and reading its
// sealed columns as stored.
type SecretsEngine struct {
	// NewDB creates a new, empty database (a file, a schema) and returns
	// its name, which Open can open again and again.
	NewDB func(t *testing.T) string
	// Open opens db with keys (nil: plaintext). The store must implement
	// store.Reencrypter. The suite closes it.
	Open func(t *testing.T, db string, keys *secretbox.Keyring) store.Store
	// Raw returns every endpoint's secrets column and every source's
	// verifier column as the database holds them.
	Raw func(t *testing.T, db string) []string
}

// Plaintexts the suite looks for in the raw columns.
const (
	endpointSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	oldSecret      = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
	sourceSecret   = "It's a Secret to Everybody"
)

// RunSecrets runs the encryption suite: endpoint secrets and source
// verifiers are sealed at rest under the primary key, read back in every
// path that returns them, and survive a key rotation.
func RunSecrets(t *testing.T, e SecretsEngine) {
	tests := []struct {
		name string
		fn   func(*testing.T, *secretsRun)
	}{
		{"SealedAtRestAndReadBack", testSealedAtRest},
		{"PlaintextRowsReadAndReencrypt", testPlaintextRows},
		{"RotateReencryptRetireOldKey", testRotation},
		{"ReencryptWithoutKeyFails", testReencryptWithoutKey},
		{"UnreadableEndpointHeldBackFromClaims", testUnreadableEndpointClaim},
		{"UnreadableBacklogDoesNotHideWhatIsDue", testUnreadableBacklogClaim},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, &secretsRun{e: e, db: e.NewDB(t)})
		})
	}
}

// secretsRun is one test's database, opened in turn with several keyrings.
type secretsRun struct {
	e  SecretsEngine
	db string
}

// open opens the database with keys; the returned func closes it, once.
func (r *secretsRun) open(t *testing.T, keys *secretbox.Keyring) (*fixture, func()) {
	t.Helper()
	s := r.e.Open(t, r.db, keys)
	var once sync.Once
	closeIt := func() {
		once.Do(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
	t.Cleanup(closeIt)
	return newFixture(t, s), closeIt
}

// wantRaw checks every raw sealed column: sealed under keyID (or plaintext
// when keyID is ""), and never holding a secret in the clear unless
// plaintext.
func (r *secretsRun) wantRaw(t *testing.T, keyID string, n int) {
	t.Helper()
	raw := r.e.Raw(t, r.db)
	if len(raw) != n {
		t.Errorf("raw sealed columns: got %d, want %d", len(raw), n)
	}
	for _, v := range raw {
		id, sealed := secretbox.KeyID(v)
		if keyID == "" {
			if sealed {
				t.Errorf("raw column %.40q is sealed, want plaintext", v)
			}
			continue
		}
		if !sealed || id != keyID {
			t.Errorf("raw column %.40q: got key id %q (sealed %v), want sealed under %q", v, id, sealed, keyID)
		}
		for _, s := range []string{endpointSecret, oldSecret, sourceSecret, "MfKQ9r8G", "whsec_"} {
			if strings.Contains(v, s) {
				t.Errorf("raw column holds %q in the clear: %.60q", s, v)
			}
		}
	}
}

// wantKeyIDs checks the store's count of sealed columns by key id.
func wantKeyIDs(f *fixture, want map[string]int64) {
	f.Helper()
	got, err := f.s.(store.Reencrypter).SecretKeyIDs(f.ctx)
	f.noErr("secret key ids", err)
	if !maps.Equal(got, want) {
		f.Errorf("secret key ids: got %v, want %v", got, want)
	}
}

func keyring(t *testing.T, keys ...string) *secretbox.Keyring {
	t.Helper()
	kr, err := secretbox.NewKeyring(keys[0], keys[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func newKey(t *testing.T, id string) string {
	t.Helper()
	k, err := secretbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return id + ":" + k
}

// secretsFixture creates an endpoint with a current and a rotated-out
// secret, and a source whose verifier holds a secret.
func secretsFixture(f *fixture) (*herald.Endpoint, *store.Source) {
	f.Helper()
	a := f.app()
	ep := f.endpoint(a.ID, func(e *herald.Endpoint) {
		e.Secrets = []herald.Secret{{Key: endpointSecret}, {Key: oldSecret, ExpiresAt: f.at(24 * time.Hour)}}
	})
	src := f.source(a.ID)
	return ep, src
}

// wantReadable reads ep and src back through every path that returns
// them.
func wantReadable(f *fixture, ep *herald.Endpoint, src *store.Source) {
	f.Helper()
	got, err := f.s.GetEndpoint(f.ctx, ep.AppID, ep.ID)
	f.noErr("get endpoint", err)
	sameEndpoint(f, got, ep)
	list, err := f.s.ListEndpoints(f.ctx, ep.AppID, page(10, ""))
	f.noErr("list endpoints", err)
	active, err := f.s.ActiveEndpoints(f.ctx, ep.AppID)
	f.noErr("active endpoints", err)
	if len(list) != 1 || len(active) != 1 {
		f.Fatalf("list/active endpoints: got %d/%d, want 1/1", len(list), len(active))
	}
	sameEndpoint(f, &list[0], ep)
	sameEndpoint(f, &active[0], ep)

	m := f.publish(ep.AppID, f.t0, ep.ID)
	job := f.claimOne("node-a", f.t0)
	sameEndpoint(f, job.Endpoint, ep)
	dests, err := f.s.ListMessageDestinations(f.ctx, ep.AppID, m.ID, page(10, ""))
	f.noErr("list message destinations", err)
	if len(dests) != 1 {
		f.Fatalf("destinations: got %d, want 1", len(dests))
	}
	sameEndpoint(f, &dests[0].Endpoint, ep)
	f.record(result(job, f.at(time.Second), 200, herald.Outcome{Status: herald.StatusSuccess}))

	gotSrc, err := f.s.GetSource(f.ctx, src.ID)
	f.noErr("get source", err)
	sameSource(f, gotSrc, src)
	srcs, err := f.s.ListSources(f.ctx, page(10, ""))
	f.noErr("list sources", err)
	if len(srcs) != 1 {
		f.Fatalf("list sources: got %d, want 1", len(srcs))
	}
	sameSource(f, &srcs[0], src)
}

func testSealedAtRest(t *testing.T, r *secretsRun) {
	kr := keyring(t, newKey(t, "a"))
	f, _ := r.open(t, kr)
	ep, src := secretsFixture(f)
	r.wantRaw(t, "a", 2)
	wantReadable(f, ep, src)

	ep.Secrets = []herald.Secret{{Key: "whsec_" + strings.Repeat("Zm9v", 8)}, {Key: endpointSecret, ExpiresAt: f.at(time.Hour)}}
	ep.UpdatedAt = f.at(time.Minute)
	f.update(ep.AppID, ep.ID, func(e *herald.Endpoint) { e.Secrets, e.UpdatedAt = ep.Secrets, ep.UpdatedAt })
	src.Verifier = json.RawMessage(`{"type":"stripe","secrets":["whsec_` + strings.Repeat("YmFy", 8) + `"]}`)
	f.noErr("update source", f.s.UpdateSource(f.ctx, src))
	r.wantRaw(t, "a", 2)
	for _, v := range r.e.Raw(t, r.db) {
		if strings.Contains(v, "Zm9v") || strings.Contains(v, "YmFy") {
			t.Errorf("raw column holds an updated secret in the clear: %.60q", v)
		}
	}
	got, err := f.s.GetEndpoint(f.ctx, ep.AppID, ep.ID)
	f.noErr("get updated endpoint", err)
	sameEndpoint(f, got, ep)
	gotSrc, err := f.s.GetSource(f.ctx, src.ID)
	f.noErr("get updated source", err)
	sameSource(f, gotSrc, src)
}

func testPlaintextRows(t *testing.T, r *secretsRun) {
	f, closePlain := r.open(t, nil)
	ep, src := secretsFixture(f)
	closePlain()
	r.wantRaw(t, "", 2)

	kr := keyring(t, newKey(t, "a"))
	f, _ = r.open(t, kr)
	wantReadable(f, ep, src)
	wantKeyIDs(f, map[string]int64{"": 2})
	n, err := f.s.(store.Reencrypter).ReencryptSecrets(f.ctx, 100)
	f.noErr("reencrypt", err)
	if n != 2 {
		t.Errorf("reencrypt: got %d rows, want 2", n)
	}
	r.wantRaw(t, "a", 2)
	wantKeyIDs(f, map[string]int64{"a": 2})
	got, err := f.s.GetEndpoint(f.ctx, ep.AppID, ep.ID)
	f.noErr("get endpoint after reencrypt", err)
	sameEndpoint(f, got, ep)
}

func testRotation(t *testing.T, r *secretsRun) {
	keyA, keyB := newKey(t, "a"), newKey(t, "b")
	f, closeA := r.open(t, keyring(t, keyA))
	ep, src := secretsFixture(f)
	ep2 := f.endpoint(ep.AppID)
	closeA()

	// The new key seals, the old one still opens.
	f, closeBA := r.open(t, keyring(t, keyB, keyA))
	got, err := f.s.GetEndpoint(f.ctx, ep.AppID, ep.ID)
	f.noErr("get endpoint sealed by the old key", err)
	sameEndpoint(f, got, ep)
	gotSrc, err := f.s.GetSource(f.ctx, src.ID)
	f.noErr("get source sealed by the old key", err)
	sameSource(f, gotSrc, src)

	// New rows are sealed by the new key.
	ep3 := f.endpoint(ep.AppID)
	wantKeyIDs(f, map[string]int64{"a": 3, "b": 1})
	f.noErr("delete endpoint", f.s.DeleteEndpoint(f.ctx, ep3.AppID, ep3.ID))
	re := f.s.(store.Reencrypter)
	total := 0
	for i := range 10 {
		n, err := re.ReencryptSecrets(f.ctx, 2)
		f.noErr("reencrypt", err)
		total += n
		if n < 2 {
			break
		}
		if i == 9 {
			t.Fatal("reencrypt never came back short")
		}
	}
	if total != 3 {
		t.Errorf("reencrypt: got %d rows in all, want 3", total)
	}
	r.wantRaw(t, "b", 3)
	wantKeyIDs(f, map[string]int64{"b": 3})
	closeBA()

	// The old key is retired.
	f, closeB := r.open(t, keyring(t, keyB))
	if err := f.s.DeleteEndpoint(f.ctx, ep2.AppID, ep2.ID); err != nil {
		t.Fatal(err)
	}
	wantReadable(f, ep, src)
	closeB()

	// A keyring that lacks the sealing key fails clearly, naming it.
	f, _ = r.open(t, keyring(t, keyA))
	_, err = f.s.GetEndpoint(f.ctx, ep.AppID, ep.ID)
	if !errors.Is(err, secretbox.ErrUnknownKey) || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("get endpoint without its key: got %v, want ErrUnknownKey naming key b", err)
	}
	_, err = f.s.GetSource(f.ctx, src.ID)
	if !errors.Is(err, secretbox.ErrUnknownKey) || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("get source without its key: got %v, want ErrUnknownKey naming key b", err)
	}
	if _, err := f.s.(store.Reencrypter).ReencryptSecrets(f.ctx, 10); !errors.Is(err, secretbox.ErrUnknownKey) {
		t.Errorf("reencrypt without the sealing key: got %v, want ErrUnknownKey", err)
	}
}

func testReencryptWithoutKey(t *testing.T, r *secretsRun) {
	f, _ := r.open(t, nil)
	secretsFixture(f)
	if _, err := f.s.(store.Reencrypter).ReencryptSecrets(f.ctx, 10); err == nil {
		t.Error("reencrypt without a key: got nil error, want one")
	}
	r.wantRaw(t, "", 2)
}

// testUnreadableEndpointClaim claims due deliveries of an endpoint whose
// secrets the keyring cannot open, oldest first, beside another
// endpoint's: the claim returns the healthy one, and gives the other back
// unleased, pending and due a while later, rather than failing (which
// every later claim would too, since they are the oldest due rows) or
// sending it unsigned. Once the key is back, it is claimed as before.
func testUnreadableEndpointClaim(t *testing.T, r *secretsRun) {
	keyA, keyB := newKey(t, "a"), newKey(t, "b")
	f, closeA := r.open(t, keyring(t, keyA))
	t0 := f.t0
	a := f.app()
	bad := f.endpoint(a.ID)
	closeA()

	f, closeB := r.open(t, keyring(t, keyB))
	f.t0 = t0
	good := f.endpoint(a.ID)
	m1 := f.publish(a.ID, f.t0, bad.ID)
	m2 := f.publish(a.ID, f.at(time.Millisecond), bad.ID, good.ID)
	now := f.at(time.Second)
	jobs, err := f.s.Claim(f.ctx, "node-a", now, lease, 10)
	f.noErr("claim beside an endpoint whose secrets do not open", err)
	if len(jobs) != 1 || jobs[0].Endpoint.ID != good.ID || jobs[0].Delivery.MsgID != m2.ID {
		f.Fatalf("claim: got %d jobs, want only %s to the healthy endpoint", len(jobs), m2.ID)
	}
	sameEndpoint(f, jobs[0].Endpoint, good)
	f.record(result(jobs[0], f.at(1500*time.Millisecond), 200, herald.Outcome{Status: herald.StatusSuccess}))
	held := now.Add(store.UnreadableSecretsRetry)
	wantDelivery(f, a.ID, bad.ID, m1.ID, herald.StatusPending, held)
	wantDelivery(f, a.ID, bad.ID, m2.ID, herald.StatusPending, held)
	f.claimNone("node-a", f.at(2*time.Second))
	f.claimNone("node-b", held.Add(-time.Millisecond))
	closeB()

	// With the key back, they are claimed as if never touched: unleased
	// (a recovery would mean node-a still held them) and not attempted.
	f, _ = r.open(t, keyring(t, keyB, keyA))
	f.t0 = t0
	jobs = f.claim("node-b", held, 10)
	if len(jobs) != 2 {
		f.Fatalf("claim with the key back: got %d jobs, want 2", len(jobs))
	}
	for _, j := range jobs {
		if j.Endpoint.ID != bad.ID || j.Delivery.Trigger != herald.TriggerScheduled || j.Delivery.Attempts != 0 {
			f.Errorf("claim with the key back: got %s to %s trigger %d attempts %d, want to %s, scheduled, no attempts",
				j.Delivery.MsgID, j.Endpoint.ID, j.Delivery.Trigger, j.Delivery.Attempts, bad.ID)
		}
		sameEndpoint(f, j.Endpoint, bad)
	}
}

// testUnreadableBacklogClaim: more deliveries than a claim takes, all to
// an endpoint whose secrets do not open and due before a healthy one. The
// claim holds them back and takes more in their place, so it still
// returns the healthy delivery: a batch of held-back rows alone would look
// to the poller like nothing was due.
func testUnreadableBacklogClaim(t *testing.T, r *secretsRun) {
	keyA, keyB := newKey(t, "a"), newKey(t, "b")
	f, closeA := r.open(t, keyring(t, keyA))
	t0 := f.t0
	a := f.app()
	bad := f.endpoint(a.ID)
	closeA()

	f, _ = r.open(t, keyring(t, keyB))
	f.t0 = t0
	good := f.endpoint(a.ID)
	const limit = 5
	for i := range 3 * limit {
		f.publish(a.ID, f.at(time.Duration(i)*time.Millisecond), bad.ID)
	}
	m := f.publish(a.ID, f.at(time.Second), good.ID)
	jobs, err := f.s.Claim(f.ctx, "node-a", f.at(2*time.Second), lease, limit)
	f.noErr("claim behind a backlog whose secrets do not open", err)
	if len(jobs) != 1 || jobs[0].Delivery.MsgID != m.ID || jobs[0].Endpoint.ID != good.ID {
		f.Fatalf("claim: got %d jobs, want only %s to the healthy endpoint", len(jobs), m.ID)
	}
}
