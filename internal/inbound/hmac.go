package inbound

import (
	"net/http"
	"strings"
	"time"
)

// newHMAC builds the generic HMAC verifier: the signature in cfg.Header,
// after cfg.Prefix, encoded with cfg.Encoding, is the HMAC (cfg.Algorithm,
// keyed with a secret's bytes) of cfg.Template rendered for the request.
// Each value of the header, when sent several times, is tried; values in
// another form (an older scheme beside the current one) are passed over. With
// cfg.TimestampHeader set the timestamp is required and checked.
//
// Unless configured, the event type is the body's "type", "event_type" or
// "event" and the id the webhook-id, svix-id or Idempotency-Key header.
func newHMAC(cfg VerifierConfig, tolerance time.Duration) (preset, error) {
	newHash, err := hashFor(cfg.Algorithm)
	if err != nil {
		return preset{}, err
	}
	decode, err := decoderFor(cfg.Encoding)
	if err != nil {
		return preset{}, err
	}
	tmpl, err := parseTemplate(cfg.Template)
	if err != nil {
		return preset{}, err
	}
	keys := rawKeys(cfg.Secrets)
	name := http.CanonicalHeaderKey(cfg.Header)
	verify := func(m *message, now time.Time) error {
		values := m.Header.Values(name)
		if len(values) == 0 {
			return missing("no %s header", name)
		}
		var ts string
		if cfg.TimestampHeader != "" {
			if ts = m.header(cfg.TimestampHeader); ts == "" {
				return missing("no %s header", cfg.TimestampHeader)
			}
		}
		var sigs [][]byte
		var bad error
		for _, v := range values {
			enc, ok := cutPrefixFold(strings.TrimSpace(v), cfg.Prefix)
			if !ok {
				bad = malformed("%s does not start with %q", name, cfg.Prefix)
				continue
			}
			sig, err := decode(enc)
			if err != nil {
				bad = malformed("%s is not %s", name, encodingName(cfg.Encoding))
				continue
			}
			sigs = append(sigs, sig)
		}
		if len(sigs) == 0 {
			return bad
		}
		if !anyEqual(sigs, keys.sums(newHash, tmpl.render(m, ts)...)) {
			return mismatch("%s does not match the source's secrets", name)
		}
		if cfg.TimestampHeader == "" {
			return nil
		}
		signed, err := parseUnix(cfg.TimestampHeader, ts)
		if err != nil {
			return err
		}
		return checkAge(signed, now, tolerance)
	}
	return preset{verify: verify, eventType: genericEventType, dedupeKey: genericDedupeKey}, nil
}

func encodingName(encoding string) string {
	if encoding == "" {
		return "hex"
	}
	return encoding
}

// genericEventType and genericDedupeKey are the defaults of the generic
// presets: the common names senders use, and never a body "id", which is
// often the id of the object an event is about rather than of the event.
var (
	genericEventType = firstNonEmpty(jsonValue("type"), jsonValue("event_type"), jsonValue("event"))
	genericDedupeKey = firstNonEmpty(headerValue("webhook-id"), headerValue("svix-id"), headerValue("Idempotency-Key"))
)
