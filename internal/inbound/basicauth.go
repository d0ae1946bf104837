package inbound

import (
	"encoding/base64"
	"strings"
	"time"
)

// newBasicAuth checks "Authorization: Basic" credentials against secrets
// written "user:password". Unless configured, the event type and id are
// found as for the hmac preset.
func newBasicAuth(secrets []string) preset {
	verify := func(m *message, _ time.Time) error {
		header := m.header("Authorization")
		if header == "" {
			return missing("no Authorization header")
		}
		user, password, ok := parseBasicAuth(header)
		if !ok {
			return malformed("Authorization is not Basic credentials")
		}
		if !anySecretEqual(user+":"+password, secrets) {
			return mismatch("the Basic credentials do not match the source's")
		}
		return nil
	}
	return preset{verify: verify, eventType: genericEventType, dedupeKey: genericDedupeKey, secretHeaders: []string{"Authorization"}}
}

// parseBasicAuth parses "Basic base64(user:password)"; the scheme's case
// does not matter. The password may contain colons, the user may not.
func parseBasicAuth(header string) (user, password string, ok bool) {
	enc, ok := cutPrefixFold(header, "Basic ")
	if !ok {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}
