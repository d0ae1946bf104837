package inbound

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
)

// TestDedupeKeyDigest checks which provider ids are kept as their dedupe
// key: storable ones up to maxDedupeKey bytes, as is, so stored keys still
// match retries; any other becomes its digest, distinct for distinct ids
// (storable would give ids differing only in invalid bytes one key) and
// short enough for PostgreSQL's index.
func TestDedupeKeyDigest(t *testing.T) {
	t.Parallel()
	v := mustVerifier(t, VerifierConfig{Type: TypeAPIKey, Secrets: []string{"k3y"}}, t0)
	key := func(id string) string {
		t.Helper()
		h := http.Header{}
		h.Set("X-API-Key", "k3y")
		h["Idempotency-Key"] = []string{id} // byte for byte, as a client may send it
		res, err := v.Verify(&Request{Method: "POST", URL: "http://x/in/s", Header: h, Body: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		return res.DedupeKey
	}
	digest := func(id string) string {
		sum := sha256.Sum256([]byte(id))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	long := strings.Repeat("d", maxDedupeKey+1)
	for id, want := range map[string]string{
		"":                                  "",
		"order-1":                           "order-1",
		"caf\u00e9 \uFFFD":                  "caf\u00e9 \uFFFD",
		strings.Repeat("d", maxDedupeKey):   strings.Repeat("d", maxDedupeKey),
		long:                                digest(long),
		"order-\xe9":                        digest("order-\xe9"),
		"order-\xe8":                        digest("order-\xe8"),
		"order-\x00":                        digest("order-\x00"),
		"sha256:" + strings.Repeat("0", 64): "sha256:" + strings.Repeat("0", 64),
		strings.Repeat("\xff", 64<<10):      digest(strings.Repeat("\xff", 64<<10)),
	} {
		if got := key(id); got != want {
			t.Errorf("dedupe key of %.40q (%d bytes): got %.80q, want %.80q", id, len(id), got, want)
		}
	}
	// Ids storable would turn into the same text keep distinct keys.
	seen := map[string]string{}
	for _, id := range []string{"order-\xe9", "order-\xe8", "order-\x00", "order-\uFFFD"} {
		k := key(id)
		if other, ok := seen[k]; ok {
			t.Errorf("ids %q and %q share the dedupe key %q", other, id, k)
		}
		seen[k] = id
	}
}
