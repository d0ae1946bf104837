package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Secret prefixes. An HMAC secret signs v1 signatures; an ed25519 private
// key signs v1a signatures and its public key ("whpk_") verifies them.
const (
	PrefixHMAC       = "whsec_"
	PrefixPrivateKey = "whsk_"
	PrefixPublicKey  = "whpk_"
)

// Header names of Standard Webhooks, and the svix-* names some consumers
// already verify.
const (
	HeaderID            = "webhook-id"
	HeaderTimestamp     = "webhook-timestamp"
	HeaderSignature     = "webhook-signature"
	HeaderSvixID        = "svix-id"
	HeaderSvixTimestamp = "svix-timestamp"
	HeaderSvixSignature = "svix-signature"
)

// ErrInvalidSecret means a secret could not be decoded.
var ErrInvalidSecret = errors.New("webhook: invalid secret")

// Signer signs payloads with one or more keys (several during rotation).
// Build it once per key set: decoding the keys is the expensive part.
type Signer struct {
	keys []signingKey
}

type signingKey struct {
	hmacKey []byte
	edKey   ed25519.PrivateKey
}

// NewSigner decodes secrets: "whsec_..." (or bare base64) for v1 HMAC, and
// "whsk_..." for a v1a ed25519 private key (seed or full key). Base64
// padding may be left off. It fails with ErrInvalidSecret when a secret
// cannot be decoded or when there is none.
func NewSigner(secrets ...string) (*Signer, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: no secrets given", ErrInvalidSecret)
	}
	s := &Signer{keys: make([]signingKey, 0, len(secrets))}
	for i, secret := range secrets {
		if strings.HasPrefix(secret, PrefixPrivateKey) {
			key, err := decodePrivateKey(secret)
			if err != nil {
				return nil, fmt.Errorf("secret %d: %w", i+1, err)
			}
			s.keys = append(s.keys, signingKey{edKey: key})
			continue
		}
		if strings.HasPrefix(secret, PrefixPublicKey) {
			return nil, fmt.Errorf("secret %d: %w: a whpk_ public key can only verify", i+1, ErrInvalidSecret)
		}
		key, err := decodeHMACSecret(secret)
		if err != nil {
			return nil, fmt.Errorf("secret %d: %w", i+1, err)
		}
		s.keys = append(s.keys, signingKey{hmacKey: key})
	}
	return s, nil
}

// Sign returns the webhook-signature header value for the message: one
// space-separated "v1,<base64>" or "v1a,<base64>" item per key. The signed
// content is id + "." + unix timestamp + "." + payload.
func (s *Signer) Sign(msgID string, ts time.Time, payload []byte) string {
	prefix := signedPrefix(nil, msgID, ts.Unix())
	var content []byte // the whole signed content, built only for Ed25519 keys
	var b strings.Builder
	for i, k := range s.keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		if k.edKey != nil {
			if content == nil {
				content = append(append(make([]byte, 0, len(prefix)+len(payload)), prefix...), payload...)
			}
			b.WriteString("v1a,")
			b.WriteString(base64.StdEncoding.EncodeToString(ed25519.Sign(k.edKey, content)))
			continue
		}
		// HMAC reads the content in parts, so the payload is not copied.
		mac := hmac.New(sha256.New, k.hmacKey)
		mac.Write(prefix)
		mac.Write(payload)
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return b.String()
}

// signedPrefix appends what precedes the payload in the signed content:
// id + "." + unix timestamp + ".".
func signedPrefix(dst []byte, msgID string, ts int64) []byte {
	dst = append(dst, msgID...)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, ts, 10)
	return append(dst, '.')
}

func signedContent(msgID string, ts int64, payload []byte) []byte {
	buf := signedPrefix(make([]byte, 0, len(msgID)+len(payload)+24), msgID, ts)
	return append(buf, payload...)
}
