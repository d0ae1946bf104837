package inbound

import (
	"crypto/sha256"
	"time"
)

// newStripe verifies Stripe-Signature: HMAC-SHA256, keyed with the whsec_
// secret exactly as Stripe shows it, over "<t>.<body>", hex in v1 items.
// The event type and id are the event object's "type" and "id".
func newStripe(secrets []string, tolerance time.Duration) preset {
	keys := rawKeys(secrets)
	verify := func(m *message, now time.Time) error {
		header := m.header("Stripe-Signature")
		if header == "" {
			return missing("no Stripe-Signature header")
		}
		ts, err := parseStripeSignature(header)
		if err != nil {
			return err
		}
		if !anyEqual(ts.sigs, keys.sums(sha256.New, []byte(ts.ts), []byte{'.'}, m.Body)) {
			return mismatch("no Stripe-Signature v1 signature matches the source's secrets")
		}
		signed, err := parseUnix("Stripe-Signature timestamp", ts.ts)
		if err != nil {
			return err
		}
		return checkAge(signed, now, tolerance)
	}
	return preset{verify: verify, eventType: jsonValue("type"), dedupeKey: jsonValue("id")}
}
