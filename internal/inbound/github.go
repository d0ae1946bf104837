package inbound

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// newGitHub verifies X-Hub-Signature-256 ("sha256=<hex>" HMAC of the
// body), or the legacy X-Hub-Signature ("sha1=<hex>") when only that one
// is sent. The event type is X-GitHub-Event and the id X-GitHub-Delivery,
// which a redelivery keeps.
func newGitHub(secrets []string) preset {
	keys := rawKeys(secrets)
	verify := func(m *message, _ time.Time) error {
		name, prefix, newHash := "X-Hub-Signature-256", "sha256=", sha256.New
		header := m.header(name)
		if header == "" {
			name, prefix, newHash = "X-Hub-Signature", "sha1=", sha1.New
			header = m.header(name)
		}
		if header == "" {
			return missing("no X-Hub-Signature-256 header")
		}
		enc, ok := cutPrefixFold(header, prefix)
		if !ok {
			return malformed("%s does not start with %s", name, prefix)
		}
		sig, err := hex.DecodeString(enc)
		if err != nil {
			return malformed("%s is not hex", name)
		}
		if !anyEqual([][]byte{sig}, keys.sums(newHash, m.Body)) {
			return mismatch("%s does not match the source's secrets", name)
		}
		return nil
	}
	return preset{
		verify:    verify,
		eventType: headerValue("X-GitHub-Event"),
		dedupeKey: headerValue("X-GitHub-Delivery"),
	}
}
