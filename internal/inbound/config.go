package inbound

import (
	"fmt"
	"strings"

	"github.com/heraldhq/herald/internal/herald"
)

// Verifier types: the presets a source can name in VerifierConfig.Type.
const (
	TypeStandardWebhooks = "standard-webhooks"
	TypeStripe           = "stripe"
	TypeGitHub           = "github"
	TypeShopify          = "shopify"
	TypeSlack            = "slack"
	TypeTwilio           = "twilio"
	TypeLinear           = "linear"
	TypePaddle           = "paddle"
	TypeGitLab           = "gitlab"
	TypeHMAC             = "hmac"
	TypeBasicAuth        = "basic-auth"
	TypeAPIKey           = "api-key"
)

// Types lists every verifier type, in the order the documentation shows them.
func Types() []string {
	return []string{
		TypeStandardWebhooks, TypeStripe, TypeGitHub, TypeShopify, TypeSlack, TypeTwilio,
		TypeLinear, TypePaddle, TypeGitLab, TypeHMAC, TypeBasicAuth, TypeAPIKey,
	}
}

// MaxSecrets is how many secrets a source may hold at once: enough for a
// rotation in progress, few enough to keep every request cheap to verify.
const MaxSecrets = 10

// Default timestamp tolerances, in seconds, of the presets whose signatures
// carry a timestamp. They follow each provider's own libraries.
const (
	DefaultToleranceStandardWebhooks = 300
	DefaultToleranceStripe           = 300
	DefaultToleranceSlack            = 300
	DefaultToleranceLinear           = 60
	DefaultTolerancePaddle           = 5
	DefaultToleranceHMAC             = 300
)

// VerifierConfig is how a source verifies its requests. It is what the
// sources API accepts as "verifier"; the zero value of every field but Type
// and Secrets means the preset's default.
type VerifierConfig struct {
	// Type is one of the Type* constants.
	Type string `json:"type"`
	// Secrets are the secrets currently valid: a request signed with any
	// one of them is accepted, so a secret can be rotated by adding the new
	// one and later removing the old. Their form depends on Type:
	// standard-webhooks takes "whsec_<base64>" (or bare base64) HMAC
	// secrets and "whpk_<base64>" ed25519 public keys; basic-auth takes
	// "user:password"; every other type takes the secret exactly as the
	// provider shows it.
	Secrets []string `json:"secrets"`

	// Header is the request header carrying the signature (hmac, required)
	// or the key (api-key; empty accepts "Authorization: Bearer <key>" and
	// "X-API-Key: <key>").
	Header string `json:"header,omitempty"`
	// Algorithm is the hmac hash: "sha1", "sha256" (default) or "sha512".
	Algorithm string `json:"algorithm,omitempty"`
	// Encoding is how the hmac signature is written: "hex" (default) or
	// "base64" (standard or URL alphabet, padded or not).
	Encoding string `json:"encoding,omitempty"`
	// Prefix precedes the signature (hmac, e.g. "sha256=") or the key
	// (api-key, e.g. "Token "); it is matched without regard to case.
	Prefix string `json:"prefix,omitempty"`
	// Template is the hmac signed content. Placeholders: {body} (the raw
	// body), {timestamp} (the TimestampHeader value), {method}, {url} and
	// {header:Name}; everything else is literal. Default "{body}".
	Template string `json:"template,omitempty"`
	// TimestampHeader names the hmac header holding the unix time (seconds)
	// the sender signed; when set, requests outside the tolerance are
	// refused.
	TimestampHeader string `json:"timestampHeader,omitempty"`
	// ToleranceSeconds is how far a signed timestamp may be from the clock,
	// either way, for the presets that sign one. Zero means the provider's
	// default (the DefaultTolerance* constants).
	ToleranceSeconds int `json:"toleranceSeconds,omitempty"`

	// EventType, when set, is the event type of every request.
	EventType string `json:"eventType,omitempty"`
	// EventTypeHeader names a header holding the event type.
	EventTypeHeader string `json:"eventTypeHeader,omitempty"`
	// EventTypeJSONField names a JSON body field holding the event type;
	// dots reach into nested objects ("data.kind").
	EventTypeJSONField string `json:"eventTypeJsonField,omitempty"`
	// DedupeHeader names a header holding the sender's event id.
	DedupeHeader string `json:"dedupeHeader,omitempty"`
	// DedupeJSONField names a JSON body field holding the sender's event
	// id; dots reach into nested objects.
	DedupeJSONField string `json:"dedupeJsonField,omitempty"`
}

// Redacted returns a copy of c whose secrets are masked, for showing a
// source's configuration without revealing what signs its requests.
func (c VerifierConfig) Redacted() VerifierConfig {
	c.Secrets = append([]string(nil), c.Secrets...)
	for i, s := range c.Secrets {
		c.Secrets[i] = redact(s)
	}
	return c
}

// maskPrefixes are the key prefixes a mask keeps, so a reader can tell a
// Standard Webhooks secret or public key from other secrets.
var maskPrefixes = []string{"whsec_", "whpk_"}

func redact(s string) string {
	for _, p := range maskPrefixes {
		if strings.HasPrefix(s, p) {
			return p + "****"
		}
	}
	return "****"
}

// isMask reports whether s is what redact shows a secret as.
func isMask(s string) bool {
	for _, p := range maskPrefixes {
		if s == p+"****" {
			return true
		}
	}
	return s == "****"
}

// KeepRedacted puts back the stored secrets that c names by their masks,
// so that a source read (its secrets masked) and written back keeps them,
// and a rotation can list the new secret beside the old one's mask. The
// masks in c take the stored secrets in order, each one whose mask it is.
// A mask left without a stored secret is an error: saved, it would be a
// secret anyone can read.
func (c *VerifierConfig) KeepRedacted(stored []string) error {
	next := 0
	for i, s := range c.Secrets {
		if !isMask(s) {
			continue
		}
		for next < len(stored) && redact(stored[next]) != s {
			next++
		}
		if next == len(stored) {
			return herald.Errorf(herald.EINVALID, "verifier: secret %d is %q, the mask a secret is shown as, and matches none of the source's current secrets left in order: send the secret itself", i+1, s)
		}
		c.Secrets[i] = stored[next]
		next++
	}
	return nil
}

// Validate reports the first problem with c as a herald.EINVALID error
// whose detail says what to change.
func (c VerifierConfig) Validate() error {
	if err := c.validate(); err != nil {
		return herald.Errorf(herald.EINVALID, "verifier: %s", err)
	}
	return nil
}

func (c VerifierConfig) validate() error {
	if !known(c.Type) {
		return fmt.Errorf("type %q is not one of %s", c.Type, strings.Join(Types(), ", "))
	}
	if err := c.validateSecrets(); err != nil {
		return err
	}
	if err := c.validateApplicable(); err != nil {
		return err
	}
	if c.ToleranceSeconds < 0 || c.ToleranceSeconds > MaxToleranceSeconds {
		return fmt.Errorf("toleranceSeconds must be between 0 and %d (ten years), got %d", MaxToleranceSeconds, c.ToleranceSeconds)
	}
	if c.Type == TypeHMAC {
		if err := c.validateHMAC(); err != nil {
			return err
		}
	}
	if count(c.EventType, c.EventTypeHeader, c.EventTypeJSONField) > 1 {
		return fmt.Errorf("set at most one of eventType, eventTypeHeader and eventTypeJsonField")
	}
	if count(c.DedupeHeader, c.DedupeJSONField) > 1 {
		return fmt.Errorf("set at most one of dedupeHeader and dedupeJsonField")
	}
	return nil
}

func known(typ string) bool {
	for _, t := range Types() {
		if t == typ {
			return true
		}
	}
	return false
}

func (c VerifierConfig) validateSecrets() error {
	if len(c.Secrets) == 0 {
		return fmt.Errorf("%s needs at least one secret: without one every request would be refused", c.Type)
	}
	if len(c.Secrets) > MaxSecrets {
		return fmt.Errorf("at most %d secrets, got %d", MaxSecrets, len(c.Secrets))
	}
	for i, s := range c.Secrets {
		n := i + 1
		switch {
		case s == "":
			return fmt.Errorf("secret %d is empty", n)
		case isMask(s):
			return fmt.Errorf("secret %d is %q, the mask a secret is shown as, not a secret", n, s)
		case strings.TrimSpace(s) != s:
			return fmt.Errorf("secret %d has leading or trailing white space", n)
		}
		switch c.Type {
		case TypeStandardWebhooks:
			if _, err := parseStandardKey(s); err != nil {
				return fmt.Errorf("secret %d: %w", n, err)
			}
		case TypeBasicAuth:
			if user, _, ok := strings.Cut(s, ":"); !ok || user == "" {
				return fmt.Errorf("secret %d must be written user:password", n)
			}
		}
	}
	return nil
}

// validateApplicable refuses settings the chosen type would ignore, so a
// source never looks stricter than it is.
func (c VerifierConfig) validateApplicable() error {
	isHMAC := c.Type == TypeHMAC
	fields := []struct {
		name, value string
		ok          bool
		where       string
	}{
		{"header", c.Header, isHMAC || c.Type == TypeAPIKey, "hmac and api-key"},
		{"prefix", c.Prefix, isHMAC || c.Type == TypeAPIKey, "hmac and api-key"},
		{"algorithm", c.Algorithm, isHMAC, "hmac"},
		{"encoding", c.Encoding, isHMAC, "hmac"},
		{"template", c.Template, isHMAC, "hmac"},
		{"timestampHeader", c.TimestampHeader, isHMAC, "hmac"},
	}
	for _, f := range fields {
		if f.value != "" && !f.ok {
			return fmt.Errorf("%s applies only to %s, not %s", f.name, f.where, c.Type)
		}
	}
	if c.ToleranceSeconds != 0 && defaultTolerance(c.Type) == 0 {
		return fmt.Errorf("toleranceSeconds does not apply to %s: its requests carry no signed timestamp", c.Type)
	}
	if c.ToleranceSeconds != 0 && isHMAC && c.TimestampHeader == "" {
		return fmt.Errorf("toleranceSeconds needs timestampHeader")
	}
	return nil
}

func (c VerifierConfig) validateHMAC() error {
	if c.Header == "" {
		return fmt.Errorf("hmac needs header, the request header carrying the signature")
	}
	if _, err := hashFor(c.Algorithm); err != nil {
		return err
	}
	if _, err := decoderFor(c.Encoding); err != nil {
		return err
	}
	tmpl, err := parseTemplate(c.Template)
	if err != nil {
		return err
	}
	if !tmpl.signsBody() {
		return fmt.Errorf("template must include {body}: a signature that does not cover the body can be reused with any body")
	}
	if tmpl.usesTimestamp() && c.TimestampHeader == "" {
		return fmt.Errorf("template uses {timestamp} but timestampHeader is not set")
	}
	if c.TimestampHeader != "" && !tmpl.signsTimestamp(c.TimestampHeader) {
		return fmt.Errorf("template must include {timestamp} when timestampHeader is set: an unsigned timestamp can be changed by anyone")
	}
	return nil
}

// MaxToleranceSeconds bounds ToleranceSeconds: ten years, as good as no
// check, and far from what a duration can hold.
const MaxToleranceSeconds = 10 * 365 * 24 * 60 * 60

// SignsTimestamp reports whether typ's requests carry a signed timestamp,
// which ToleranceSeconds bounds. For hmac, only with a timestampHeader.
func SignsTimestamp(typ string) bool { return defaultTolerance(typ) > 0 }

// defaultTolerance is the preset's tolerance in seconds, or 0 when its
// requests carry no signed timestamp.
func defaultTolerance(typ string) int {
	switch typ {
	case TypeStandardWebhooks:
		return DefaultToleranceStandardWebhooks
	case TypeStripe:
		return DefaultToleranceStripe
	case TypeSlack:
		return DefaultToleranceSlack
	case TypeLinear:
		return DefaultToleranceLinear
	case TypePaddle:
		return DefaultTolerancePaddle
	case TypeHMAC:
		return DefaultToleranceHMAC
	}
	return 0
}

func count(values ...string) int {
	n := 0
	for _, v := range values {
		if v != "" {
			n++
		}
	}
	return n
}
