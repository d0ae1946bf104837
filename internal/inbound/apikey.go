package inbound

import (
	"net/http"
	"strings"
	"time"
)

// newAPIKey checks a static key. With header empty the key is accepted
// from "Authorization: Bearer <key>" or "X-API-Key: <key>"; otherwise it
// is the named header's value after prefix (e.g. "Token "). Unless
// configured, the event type and id are found as for the hmac preset.
func newAPIKey(secrets []string, header, prefix string) preset {
	type location struct{ header, prefix string }
	locations := []location{{"Authorization", "Bearer "}, {"X-API-Key", ""}}
	if header != "" {
		locations = []location{{http.CanonicalHeaderKey(header), prefix}}
	}
	verify := func(m *message, _ time.Time) error {
		seen := ""
		for _, loc := range locations {
			value := m.header(loc.header)
			if value == "" {
				continue
			}
			seen = loc.header
			key, ok := cutPrefixFold(value, loc.prefix)
			if !ok {
				continue
			}
			if !anySecretEqual(strings.TrimSpace(key), secrets) {
				return mismatch("the key in %s does not match the source's", loc.header)
			}
			return nil
		}
		switch {
		case seen != "" && header == "":
			return malformed("%s does not hold a key: want Authorization: Bearer <key> or X-API-Key: <key>", seen)
		case seen != "":
			return malformed("%s does not start with %q", seen, prefix)
		case header == "":
			return missing("no Authorization: Bearer or X-API-Key header")
		}
		return missing("no %s header", locations[0].header)
	}
	headers := make([]string, len(locations))
	for i, loc := range locations {
		headers[i] = loc.header
	}
	return preset{verify: verify, eventType: genericEventType, dedupeKey: genericDedupeKey, secretHeaders: headers}
}
