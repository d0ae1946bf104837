package inbound

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"time"
)

// Standard Webhooks header names, and the svix-* names Svix senders use.
const (
	headerWebhookID        = "webhook-id"
	headerWebhookTimestamp = "webhook-timestamp"
	headerWebhookSignature = "webhook-signature"
	headerSvixID           = "svix-id"
	headerSvixTimestamp    = "svix-timestamp"
	headerSvixSignature    = "svix-signature"
)

// standardKey is one Standard Webhooks secret: an HMAC key (v1) or an
// ed25519 public key (v1a).
type standardKey struct {
	hmac []byte
	ed   ed25519.PublicKey
}

// parseStandardKey decodes "whsec_<base64>" (or bare base64) into an HMAC
// key and "whpk_<base64>" into an ed25519 public key. Base64 padding may be
// left out: the key is the same either way.
func parseStandardKey(secret string) (standardKey, error) {
	if strings.HasPrefix(secret, "whsk_") {
		return standardKey{}, errors.New("whsk_ is a private signing key; give the source the whpk_ public key")
	}
	if rest, ok := strings.CutPrefix(secret, "whpk_"); ok {
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return standardKey{}, errors.New("whpk_ key is not a base64 ed25519 public key")
		}
		return standardKey{ed: ed25519.PublicKey(raw)}, nil
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(strings.TrimPrefix(secret, "whsec_"), "="))
	if err != nil {
		return standardKey{}, errors.New("whsec_ secret is not base64")
	}
	if len(raw) == 0 {
		return standardKey{}, errors.New("whsec_ secret is empty")
	}
	return standardKey{hmac: raw}, nil
}

func newStandardWebhooks(secrets []string, tolerance time.Duration) (preset, error) {
	var macs macKeys
	var eds []ed25519.PublicKey
	for _, s := range secrets {
		k, err := parseStandardKey(s)
		if err != nil {
			return preset{}, err
		}
		if k.ed != nil {
			eds = append(eds, k.ed)
		} else {
			macs = append(macs, k.hmac)
		}
	}
	verify := func(m *message, now time.Time) error {
		id, ts, sig := standardHeaders(m)
		if id == "" || ts == "" || sig == "" {
			return missing("webhook-id, webhook-timestamp and webhook-signature are all required")
		}
		signed, err := parseUnix(headerWebhookTimestamp, ts)
		if err != nil {
			return err
		}
		content := append([]byte(id+"."+ts+"."), m.Body...)
		if !standardMatch(parseSignatureList(sig), content, macs, eds) {
			return mismatch("no webhook-signature entry matches the source's secrets")
		}
		return checkAge(signed, now, tolerance)
	}
	return preset{
		verify:    verify,
		eventType: jsonValue("type"),
		dedupeKey: func(m *message) string { id, _, _ := standardHeaders(m); return id },
	}, nil
}

// standardHeaders returns id, timestamp and signature from the webhook-*
// headers, or from the svix-* headers when webhook-id is absent. The two
// sets are never mixed.
func standardHeaders(m *message) (id, ts, sig string) {
	if id = m.header(headerWebhookID); id != "" {
		return id, m.header(headerWebhookTimestamp), m.header(headerWebhookSignature)
	}
	return m.header(headerSvixID), m.header(headerSvixTimestamp), m.header(headerSvixSignature)
}

func standardMatch(sigs []versionedSignature, content []byte, macs macKeys, eds []ed25519.PublicKey) bool {
	var v1, v1a [][]byte
	for _, s := range sigs {
		switch s.version {
		case "v1":
			v1 = append(v1, s.sig)
		case "v1a":
			v1a = append(v1a, s.sig)
		}
	}
	ok := len(v1) > 0 && anyEqual(v1, macs.sums(sha256.New, content))
	for _, pub := range eds {
		for _, s := range v1a {
			if ed25519.Verify(pub, content, s) {
				ok = true
			}
		}
	}
	return ok
}

// versionedSignature is one "version,base64" entry of a webhook-signature
// header.
type versionedSignature struct {
	version string
	sig     []byte
}

// parseSignatureList parses a space-separated webhook-signature header.
// Entries that are not "version,base64" are skipped: they cannot match,
// and one bad entry must not hide a good one.
func parseSignatureList(header string) []versionedSignature {
	var out []versionedSignature
	for _, item := range strings.Fields(header) {
		version, enc, ok := strings.Cut(item, ",")
		if !ok || version == "" || enc == "" {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			continue
		}
		out = append(out, versionedSignature{version: version, sig: sig})
	}
	return out
}
