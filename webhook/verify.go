package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far a webhook-timestamp may be from the
// receiver's clock, in either direction, when Verifier.Tolerance is zero.
const DefaultTolerance = 5 * time.Minute

// SkipTimestampCheck, set as a Verifier's Tolerance, turns the timestamp
// check off. The timestamp is still signed, so it cannot be altered, but
// an old message can then be replayed: use it only for tooling and tests.
const SkipTimestampCheck time.Duration = -1

// strictBase64 decodes signatures, refusing non-zero padding bits so that
// each signature has exactly one accepted spelling.
var strictBase64 = base64.StdEncoding.Strict()

// Verifier checks Standard Webhooks signatures against one or more keys:
// several while a secret is being rotated. Build it once; it is safe for
// concurrent use as long as its fields are not changed meanwhile.
type Verifier struct {
	// Tolerance is how far the signed timestamp may be from Now in either
	// direction. Zero means DefaultTolerance (five minutes);
	// SkipTimestampCheck (any negative value) disables the check.
	Tolerance time.Duration
	// Now is the clock the timestamp is checked against. Nil means
	// time.Now.
	Now func() time.Time

	hmacKeys [][]byte
	edKeys   []ed25519.PublicKey
}

// NewVerifier decodes the keys a receiver accepts: "whsec_..." HMAC secrets
// (or bare base64) for v1 signatures, and "whpk_..." ed25519 public keys
// for v1a signatures. A "whsk_..." private key is accepted too and verifies
// with its public half. Base64 padding may be left off. It fails with
// ErrInvalidSecret when a key cannot be decoded or when there is none.
func NewVerifier(secrets ...string) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: no secrets given", ErrInvalidSecret)
	}
	v := &Verifier{}
	for i, secret := range secrets {
		switch {
		case strings.HasPrefix(secret, PrefixPublicKey):
			key, err := decodePublicKey(secret)
			if err != nil {
				return nil, fmt.Errorf("secret %d: %w", i+1, err)
			}
			v.edKeys = append(v.edKeys, key)
		case strings.HasPrefix(secret, PrefixPrivateKey):
			key, err := decodePrivateKey(secret)
			if err != nil {
				return nil, fmt.Errorf("secret %d: %w", i+1, err)
			}
			v.edKeys = append(v.edKeys, key.Public().(ed25519.PublicKey))
		default:
			key, err := decodeHMACSecret(secret)
			if err != nil {
				return nil, fmt.Errorf("secret %d: %w", i+1, err)
			}
			v.hmacKeys = append(v.hmacKeys, key)
		}
	}
	return v, nil
}

// Verify checks a received webhook: payload is the raw request body, exactly
// as received (never re-serialized JSON), and h the request headers. It
// reads webhook-id, webhook-timestamp and webhook-signature, falling back to
// svix-id, svix-timestamp and svix-signature. It returns nil when the
// timestamp is within the tolerance and any signature in the header matches
// any key, and otherwise an error matching ErrMissingHeaders,
// ErrInvalidTimestamp, ErrTimestamp (ErrTooOld, ErrTooNew) or ErrNoMatch.
func (v *Verifier) Verify(payload []byte, h http.Header) error {
	id := headerValue(h, HeaderID, HeaderSvixID)
	ts := headerValue(h, HeaderTimestamp, HeaderSvixTimestamp)
	sig := headerValue(h, HeaderSignature, HeaderSvixSignature)
	return v.VerifyParts(id, ts, sig, payload)
}

// VerifyParts is Verify for callers that hold the three header values
// themselves: the message id, the unix timestamp as sent, and the whole
// signature header ("v1,<base64> v1a,<base64> ...").
func (v *Verifier) VerifyParts(id, timestamp, signatureHeader string, payload []byte) error {
	if err := missingHeaders(id, timestamp, signatureHeader); err != nil {
		return err
	}
	ts, err := parseTimestamp(timestamp)
	if err != nil {
		return err
	}
	if err := v.checkTimestamp(ts); err != nil {
		return err
	}
	return v.match(signedContent(id, ts, payload), parseSignatureHeader(signatureHeader))
}

// tolerance is the effective tolerance; negative means no check.
func (v *Verifier) tolerance() time.Duration {
	if v.Tolerance == 0 {
		return DefaultTolerance
	}
	return v.Tolerance
}

func (v *Verifier) checkTimestamp(ts int64) error {
	tol := v.tolerance()
	if tol < 0 {
		return nil
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	// Compared in whole seconds, as the Standard Webhooks libraries do
	// (now floored): not through time.Time, whose Unix overflows for
	// timestamps billions of years away (one far in the future would read
	// as too old), nor through now.Sub, which saturates.
	nowS, tolS := now.Unix(), int64(tol/time.Second)
	if ts >= nowS-tolS && ts <= nowS+tolS {
		return nil
	}
	return &TimestampError{Timestamp: time.Unix(min(ts, maxTimestamp), 0), Now: now, Tolerance: tol}
}

// maxTimestamp (the last second of year 9999) is as far as a
// TimestampError shows a timestamp: time.Unix overflows further on.
const maxTimestamp = 253402300799

// match reports whether any signature verifies content under any key. MACs
// are compared in constant time; entries of unknown versions are ignored.
func (v *Verifier) match(content []byte, sigs []signature) error {
	var macs [][]byte // computed on first use, once per key
	checked := 0
	for _, s := range sigs {
		switch s.version {
		case "v1":
			if len(v.hmacKeys) == 0 {
				continue
			}
			checked++
			// A 32-byte MAC is exactly 44 base64 characters; the buffer
			// has room for the 33 bytes Decode may assume for them.
			var got [sha256.Size + 1]byte
			if len(s.value) != base64.StdEncoding.EncodedLen(sha256.Size) {
				continue
			}
			if n, err := strictBase64.Decode(got[:], []byte(s.value)); err != nil || n != sha256.Size {
				continue
			}
			if macs == nil {
				macs = make([][]byte, len(v.hmacKeys))
				for i, key := range v.hmacKeys {
					mac := hmac.New(sha256.New, key)
					mac.Write(content)
					macs[i] = mac.Sum(nil)
				}
			}
			for _, want := range macs {
				if hmac.Equal(got[:sha256.Size], want) {
					return nil
				}
			}
		case "v1a":
			if len(v.edKeys) == 0 {
				continue
			}
			checked++
			got, err := strictBase64.DecodeString(s.value)
			if err != nil || len(got) != ed25519.SignatureSize {
				continue
			}
			for _, key := range v.edKeys {
				if ed25519.Verify(key, content, got) {
					return nil
				}
			}
		}
	}
	if checked == 0 {
		return fmt.Errorf("%w: the header has no %s signature", ErrNoMatch, v.versions())
	}
	return fmt.Errorf("%w: %d signatures checked against %d keys", ErrNoMatch, checked, len(v.hmacKeys)+len(v.edKeys))
}

// versions names the signature versions this verifier's keys can check.
func (v *Verifier) versions() string {
	switch {
	case len(v.hmacKeys) > 0 && len(v.edKeys) > 0:
		return "v1 or v1a"
	case len(v.edKeys) > 0:
		return "v1a"
	default:
		return "v1"
	}
}

func missingHeaders(id, timestamp, signatureHeader string) error {
	var missing []string
	if id == "" {
		missing = append(missing, HeaderID)
	}
	if timestamp == "" {
		missing = append(missing, HeaderTimestamp)
	}
	if signatureHeader == "" {
		missing = append(missing, HeaderSignature)
	}
	if missing == nil {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrMissingHeaders, strings.Join(missing, ", "))
}

// parseTimestamp accepts unix seconds written as plain decimal digits.
func parseTimestamp(s string) (int64, error) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: %q is not unix seconds", ErrInvalidTimestamp, truncate(s, 32))
		}
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is out of range", ErrInvalidTimestamp, truncate(s, 32))
	}
	return ts, nil
}

// headerValue returns the first of the named headers that is present. The
// lines of a header sent more than once are joined with spaces, which is
// how a signature list split over several lines reads as one.
// Keys are matched without regard to case when none is canonical: a
// header map built by hand (from a serverless event, say) often has them
// lowercased, as on the wire under HTTP/2.
func headerValue(h http.Header, names ...string) string {
	for _, name := range names {
		if vs := h.Values(name); len(vs) > 0 {
			return strings.Join(vs, " ")
		}
	}
	for _, name := range names {
		for k, vs := range h {
			if len(vs) > 0 && strings.EqualFold(k, name) {
				return strings.Join(vs, " ")
			}
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
