package inbound

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"testing"
	"time"
)

// t0 is the clock of most tests: 2023-11-14T22:13:20Z.
var t0 = time.Unix(1700000000, 0)

func clock(at time.Time) func() time.Time { return func() time.Time { return at } }

// mac computes an HMAC independently of the code under test.
func mac(newHash func() hash.Hash, key string, content ...string) []byte {
	m := hmac.New(newHash, []byte(key))
	for _, c := range content {
		m.Write([]byte(c))
	}
	return m.Sum(nil)
}

func hexMAC256(key string, content ...string) string {
	return hex.EncodeToString(mac(sha256.New, key, content...))
}

func b64MAC256(key string, content ...string) string {
	return base64.StdEncoding.EncodeToString(mac(sha256.New, key, content...))
}

func b64MAC1(key string, content ...string) string {
	return base64.StdEncoding.EncodeToString(mac(sha1.New, key, content...))
}

func hexMAC1(key string, content ...string) string {
	return hex.EncodeToString(mac(sha1.New, key, content...))
}

func b64MAC512(key string, content ...string) string {
	return base64.StdEncoding.EncodeToString(mac(sha512.New, key, content...))
}

// headers builds an http.Header from name, value pairs.
func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func mustVerifier(t *testing.T, cfg VerifierConfig, now time.Time) *Verifier {
	t.Helper()
	v, err := NewVerifier(cfg, clock(now))
	if err != nil {
		t.Fatalf("NewVerifier(%+v): %v", cfg.Redacted(), err)
	}
	return v
}

// checkErr compares a Verify error with the wanted sentinel (nil for
// success) and, for a refusal, checks that IsRefused agrees.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("Verify: got error %v, want success", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("Verify: got error %v, want %v", err, want)
	case want != nil && !IsRefused(err):
		t.Fatalf("IsRefused(%v) = false, want true", err)
	}
}
