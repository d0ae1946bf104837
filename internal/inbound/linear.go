package inbound

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// newLinear verifies Linear-Signature, the hex HMAC-SHA256 of the body,
// and refuses a body whose webhookTimestamp (unix milliseconds) is outside
// the tolerance, 60 s by default as Linear advises. The event type is the
// body's type and action ("Issue.create"), and the id Linear-Delivery.
func newLinear(secrets []string, tolerance time.Duration) preset {
	keys := rawKeys(secrets)
	verify := func(m *message, now time.Time) error {
		header := m.header("Linear-Signature")
		if header == "" {
			return missing("no Linear-Signature header")
		}
		sig, err := hex.DecodeString(header)
		if err != nil {
			return malformed("Linear-Signature is not hex")
		}
		if !anyEqual([][]byte{sig}, keys.sums(sha256.New, m.Body)) {
			return mismatch("Linear-Signature does not match the source's secrets")
		}
		raw := m.jsonString("webhookTimestamp")
		if raw == "" {
			return missing("the body has no webhookTimestamp")
		}
		ms, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return malformed("webhookTimestamp is not unix milliseconds: %q", truncate(raw))
		}
		return checkAge(time.UnixMilli(ms), now, tolerance)
	}
	return preset{verify: verify, eventType: linearEventType, dedupeKey: headerValue("Linear-Delivery")}
}

func linearEventType(m *message) string {
	typ, action := m.jsonString("type"), m.jsonString("action")
	switch {
	case typ != "" && action != "":
		return typ + "." + action
	case typ != "":
		return typ
	}
	return m.header("Linear-Event")
}
