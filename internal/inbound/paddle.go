package inbound

import (
	"crypto/sha256"
	"time"
)

// newPaddle verifies Paddle Billing's Paddle-Signature: HMAC-SHA256,
// keyed with the notification destination's secret, over "<ts>:<body>",
// hex in h1 items (several during a secret rotation). The default
// tolerance is Paddle's own SDKs' 5 s. The event type and id are the body's
// "event_type" and "event_id".
func newPaddle(secrets []string, tolerance time.Duration) preset {
	keys := rawKeys(secrets)
	verify := func(m *message, now time.Time) error {
		header := m.header("Paddle-Signature")
		if header == "" {
			return missing("no Paddle-Signature header")
		}
		ts, err := parsePaddleSignature(header)
		if err != nil {
			return err
		}
		if !anyEqual(ts.sigs, keys.sums(sha256.New, []byte(ts.ts), []byte{':'}, m.Body)) {
			return mismatch("no Paddle-Signature h1 signature matches the source's secrets")
		}
		signed, err := parseUnix("Paddle-Signature timestamp", ts.ts)
		if err != nil {
			return err
		}
		return checkAge(signed, now, tolerance)
	}
	return preset{verify: verify, eventType: jsonValue("event_type"), dedupeKey: jsonValue("event_id")}
}
