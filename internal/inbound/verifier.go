package inbound

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Request is what a verifier sees of an inbound HTTP request.
type Request struct {
	// Method is the HTTP method.
	Method string
	// URL is the full URL the provider called, as it saw it (scheme, host,
	// path and query). Twilio signs it, so behind a proxy the ingest
	// handler must rebuild the external URL rather than use the local one.
	URL string
	// Header holds the request headers.
	Header http.Header
	// Body is the raw body, byte for byte: signatures cover these bytes.
	Body []byte
}

// Result is what a verified request tells about its event. Its text is
// storable: valid UTF-8 without NUL characters (see storable).
type Result struct {
	// EventType is the event's type: the configured one, or the provider's
	// (Stripe's "type", X-GitHub-Event, X-Shopify-Topic...). Empty when the
	// request names none.
	EventType string
	// DedupeKey is the provider's own id for the event (webhook-id,
	// Stripe's event id, X-GitHub-Delivery...): two requests with the same
	// key are the same event. Empty when the request carries none, in which
	// case it cannot be deduplicated. An id that is not storable text or is
	// longer than maxDedupeKey bytes is replaced by its digest (see
	// dedupeKey).
	DedupeKey string
	// Challenge, when not nil, is a handshake (Slack's url_verification)
	// to answer with 200 and this body instead of storing an event.
	Challenge *Challenge
}

// Challenge is the response to a provider's URL handshake.
type Challenge struct {
	ContentType string
	Body        []byte
}

// Verifier checks requests for one source. It is safe for concurrent use.
type Verifier struct {
	preset    preset
	eventType func(m *message) string
	dedupeKey func(m *message) string
	now       func() time.Time
}

// preset is one verifier type: how it checks a request and, unless the
// configuration says otherwise, where its event type and id are.
type preset struct {
	verify    func(m *message, now time.Time) error
	eventType func(m *message) string
	dedupeKey func(m *message) string
	challenge func(m *message) *Challenge // nil for providers without a handshake
}

// NewVerifier builds the verifier cfg describes. now is the clock used for
// timestamp tolerances; nil means time.Now. The error is cfg.Validate's.
func NewVerifier(cfg VerifierConfig, now func() time.Time) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	p, err := newPreset(cfg)
	if err != nil {
		return nil, fmt.Errorf("build %s verifier: %w", cfg.Type, err)
	}
	v := &Verifier{preset: p, eventType: p.eventType, dedupeKey: p.dedupeKey, now: now}
	switch {
	case cfg.EventType != "":
		fixed := cfg.EventType
		v.eventType = func(*message) string { return fixed }
	case cfg.EventTypeHeader != "":
		v.eventType = headerValue(cfg.EventTypeHeader)
	case cfg.EventTypeJSONField != "":
		v.eventType = jsonValue(cfg.EventTypeJSONField)
	}
	switch {
	case cfg.DedupeHeader != "":
		v.dedupeKey = headerValue(cfg.DedupeHeader)
	case cfg.DedupeJSONField != "":
		v.dedupeKey = jsonValue(cfg.DedupeJSONField)
	}
	return v, nil
}

func newPreset(cfg VerifierConfig) (preset, error) {
	tolerance := time.Duration(cfg.ToleranceSeconds) * time.Second
	if tolerance == 0 {
		tolerance = time.Duration(defaultTolerance(cfg.Type)) * time.Second
	}
	switch cfg.Type {
	case TypeStandardWebhooks:
		return newStandardWebhooks(cfg.Secrets, tolerance)
	case TypeStripe:
		return newStripe(cfg.Secrets, tolerance), nil
	case TypeGitHub:
		return newGitHub(cfg.Secrets), nil
	case TypeShopify:
		return newShopify(cfg.Secrets), nil
	case TypeSlack:
		return newSlack(cfg.Secrets, tolerance), nil
	case TypeTwilio:
		return newTwilio(cfg.Secrets), nil
	case TypeLinear:
		return newLinear(cfg.Secrets, tolerance), nil
	case TypePaddle:
		return newPaddle(cfg.Secrets, tolerance), nil
	case TypeGitLab:
		return newGitLab(cfg.Secrets), nil
	case TypeHMAC:
		return newHMAC(cfg, tolerance)
	case TypeBasicAuth:
		return newBasicAuth(cfg.Secrets), nil
	case TypeAPIKey:
		return newAPIKey(cfg.Secrets, cfg.Header, cfg.Prefix), nil
	}
	return preset{}, fmt.Errorf("unknown type %q", cfg.Type)
}

// Verify checks r and, if it is authentic, returns what it says about its
// event. A refused request gets an error wrapping one of the Err*
// sentinels (see IsRefused); any other error is a fault of the caller.
func (v *Verifier) Verify(r *Request) (Result, error) {
	if r == nil {
		return Result{}, errors.New("verify: nil request")
	}
	m := &message{Request: r}
	if err := v.preset.verify(m, v.now()); err != nil {
		return Result{}, err
	}
	res := Result{EventType: eventTypeName(v.eventType(m)), DedupeKey: dedupeKey(v.dedupeKey(m))}
	if v.preset.challenge != nil {
		res.Challenge = v.preset.challenge(m)
	}
	return res, nil
}

// storable returns s as a text column of either store can hold it. The
// provider chooses what Herald extracts from a request (a JSON string may
// hold \u0000, a header or form value any byte), and PostgreSQL refuses
// NUL characters and invalid UTF-8 in text: an authentic event it could
// not store would be answered 500 and retried by the provider forever. So
// each NUL and each invalid byte sequence becomes U+FFFD. The body itself
// is stored as bytes and never changed.
func storable(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// maxEventType is the longest event type name the API takes.
const maxEventType = 256

// eventTypeName makes the provider's event type s a name endpoints can
// subscribe to: the API takes letters, digits, '-', '_' and '.', as Svix
// does, and providers send others (Shopify's "orders/create"). A '/'
// becomes '.', so a topic reads like other dotted names; any other
// character outside the set becomes '_'. The result is cut to
// maxEventType bytes, and is always storable.
func eventTypeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() == maxEventType {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		case r == '/':
			b.WriteByte('.')
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// maxDedupeKey is the longest provider id kept as the dedupe key itself.
// PostgreSQL cannot index a key of a few KB, and a header may hold 64 KiB.
const maxDedupeKey = 256

// dedupeKey returns the key stored for the provider's id s: s itself when
// it is storable text of at most maxDedupeKey bytes, so the keys of stored
// events still match their retries; otherwise "sha256:" and the hex
// SHA-256 of its bytes. storable would give ids that differ only in
// invalid bytes or NUL one key, and drop the second event as a duplicate;
// the digest tells them apart and has a fixed length.
func dedupeKey(s string) string {
	if len(s) <= maxDedupeKey && storable(s) == s {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// checkAge refuses a signed time further than tolerance from now, either
// way. It runs after the signature check, so ErrStale always means an
// authentic request that is too old (a replay, or a skewed clock).
func checkAge(signed, now time.Time, tolerance time.Duration) error {
	age := now.Sub(signed)
	switch {
	case age > tolerance:
		return fmt.Errorf("%w: signed %s ago, tolerance %s", ErrStale, age.Truncate(time.Second), tolerance)
	case age < -tolerance:
		return fmt.Errorf("%w: signed %s in the future, tolerance %s", ErrStale, (-age).Truncate(time.Second), tolerance)
	}
	return nil
}

// parseUnix parses a unix time in seconds as a provider's header writes it.
func parseUnix(name, s string) (time.Time, error) {
	sec, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return time.Time{}, malformed("%s is not a unix time: %q", name, truncate(s))
	}
	return time.Unix(sec, 0), nil
}

// truncate shortens attacker-supplied text quoted in an error.
func truncate(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

func headerValue(name string) func(m *message) string {
	return func(m *message) string { return m.header(name) }
}

func jsonValue(path string) func(m *message) string {
	return func(m *message) string { return m.jsonString(path) }
}

func firstNonEmpty(fns ...func(m *message) string) func(m *message) string {
	return func(m *message) string {
		for _, f := range fns {
			if v := f(m); v != "" {
				return v
			}
		}
		return ""
	}
}
