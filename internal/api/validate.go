package api

import (
	"encoding/base64"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/webhook"
)

// nameChar reports whether b may appear in a Svix identifier; the rule is
// herald's, shared with the dashboard.
func nameChar(b byte) bool { return herald.NameChar(b) }

// checkName validates field as a Svix identifier of at most max bytes.
func checkName(field, v string, max int) error {
	if v == "" {
		return invalidBody(field, "%s must not be empty", field)
	}
	if len(v) > max {
		return invalidBody(field, "%s must be at most %d characters", field, max)
	}
	for i := 0; i < len(v); i++ {
		if !nameChar(v[i]) {
			return invalidBody(field, "%s may contain only letters, digits, '-', '_' and '.'", field)
		}
	}
	return nil
}

// checkUID validates a uid.
func checkUID(field, v string) error { return checkName(field, v, 256) }

// checkNames validates a list of identifiers: unique, each valid, and
// between minItems and maxItems long (0 means no bound).
func checkNames(field string, vs []string, maxLen, minItems, maxItems int) error {
	if len(vs) < minItems {
		return invalidBody(field, "%s must have at least %d item(s)", field, minItems)
	}
	if maxItems > 0 && len(vs) > maxItems {
		return invalidBody(field, "%s must have at most %d items", field, maxItems)
	}
	seen := make(map[string]struct{}, len(vs))
	for _, v := range vs {
		if err := checkName(field, v, maxLen); err != nil {
			return err
		}
		if _, dup := seen[v]; dup {
			return invalidBody(field, "%s must not repeat %q", field, v)
		}
		seen[v] = struct{}{}
	}
	return nil
}

// checkURL validates an endpoint URL: absolute http or https with a host.
func checkURL(field, v string) error {
	if v == "" {
		return invalidBody(field, "%s is required", field)
	}
	if len(v) > 65536 {
		return invalidBody(field, "%s must be at most 65536 characters", field)
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return invalidBody(field, "%s must be an absolute http or https URL", field)
	}
	return nil
}

// checkSecret validates a given signing secret against Svix's pattern
// ^(whsec_)?[a-zA-Z0-9+/=]{32,100}$ and returns it with the whsec_ prefix.
// A "whsk_" ed25519 private key is accepted too: the endpoint then gets
// v1a (asymmetric) signatures, and its receivers only need the public key.
func checkSecret(field, v string) (string, error) {
	if strings.HasPrefix(v, webhook.PrefixPrivateKey) {
		if _, err := webhook.PublicKey(v); err != nil {
			return "", invalidBody(field, "%s is not a valid ed25519 private key (whsk_ + base64 of the 32-byte seed or 64-byte key)", field)
		}
		return v, nil
	}
	raw := strings.TrimPrefix(v, "whsec_")
	if len(raw) < 32 || len(raw) > 100 {
		return "", invalidBody(field, "%s must be 32 to 100 base64 characters, optionally prefixed with whsec_", field)
	}
	for i := 0; i < len(raw); i++ {
		b := raw[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '+' || b == '/' || b == '=') {
			return "", invalidBody(field, "%s may contain only base64 characters", field)
		}
	}
	if _, err := base64.StdEncoding.DecodeString(raw); err != nil {
		return "", invalidBody(field, "%s is not valid base64", field)
	}
	return "whsec_" + raw, nil
}

// checkMetadata validates metadata keys.
func checkMetadata(m map[string]string) error {
	for k := range m {
		if k == "" {
			return invalidBody("metadata", "metadata keys must not be empty")
		}
	}
	return nil
}

// checkRate validates a throttle rate (uint16, at least min).
func checkRate(field string, v, min int) error {
	if v < min || v > 65535 {
		return invalidBody(field, "%s must be between %d and 65535", field, min)
	}
	return nil
}

func secondsDuration(n int64) time.Duration { return time.Duration(n) * time.Second }
