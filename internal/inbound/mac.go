package inbound

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// macKeys are the HMAC keys of a source's secrets, in the order given.
type macKeys [][]byte

// rawKeys uses each secret's bytes as the key, as most providers do.
func rawKeys(secrets []string) macKeys {
	keys := make(macKeys, len(secrets))
	for i, s := range secrets {
		keys[i] = []byte(s)
	}
	return keys
}

// sums returns the MAC of the concatenated parts under every key.
func (k macKeys) sums(newHash func() hash.Hash, parts ...[]byte) [][]byte {
	out := make([][]byte, len(k))
	for i, key := range k {
		mac := hmac.New(newHash, key)
		for _, p := range parts {
			mac.Write(p)
		}
		out[i] = mac.Sum(nil)
	}
	return out
}

// anyEqual reports whether any candidate equals any expected MAC. Every
// pair is compared in constant time and the loop never stops early, so the
// time taken does not tell which secret or signature matched.
func anyEqual(candidates, expected [][]byte) bool {
	match := 0
	for _, c := range candidates {
		for _, e := range expected {
			match |= subtle.ConstantTimeCompare(c, e)
		}
	}
	return match == 1
}

// secretEqual compares a presented credential with a configured one in
// time that depends on neither's content nor length: both are hashed
// first, so even their lengths stay hidden.
func secretEqual(got, want string) bool {
	a := sha256.Sum256([]byte(got))
	b := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// anySecretEqual reports whether got equals any of the secrets, comparing
// with all of them every time.
func anySecretEqual(got string, secrets []string) bool {
	match := false
	for _, s := range secrets {
		if secretEqual(got, s) {
			match = true
		}
	}
	return match
}

// hashFor returns the hash of an hmac Algorithm; empty means sha256.
func hashFor(algorithm string) (func() hash.Hash, error) {
	switch strings.ToLower(algorithm) {
	case "", "sha256":
		return sha256.New, nil
	case "sha1":
		return sha1.New, nil
	case "sha512":
		return sha512.New, nil
	}
	return nil, fmt.Errorf("algorithm %q is not one of sha1, sha256, sha512", algorithm)
}

// decoderFor returns the decoder of an hmac Encoding; empty means hex.
func decoderFor(encoding string) (func(string) ([]byte, error), error) {
	switch strings.ToLower(encoding) {
	case "", "hex":
		return hex.DecodeString, nil
	case "base64":
		return decodeBase64, nil
	}
	return nil, fmt.Errorf("encoding %q is not one of hex, base64", encoding)
}

// decodeBase64 decodes standard or URL-safe base64, padded or not: senders
// differ, and the bytes are what gets compared.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// cutPrefixFold removes prefix from s, ignoring case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}
