package inbound

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// newSlack verifies X-Slack-Signature: "v0=" and the hex HMAC-SHA256,
// keyed with the app's signing secret, of "v0:<X-Slack-Request-Timestamp>:<body>".
// A verified url_verification request yields a Challenge echoing Slack's
// challenge. The event type is the inner event's type for Events API
// callbacks ("app_mention"), the body's type otherwise, "slash_command" for
// slash commands and the payload's type for interactions ("block_actions").
// The id is the Events API event_id, or a command's trigger_id.
func newSlack(secrets []string, tolerance time.Duration) preset {
	keys := rawKeys(secrets)
	verify := func(m *message, now time.Time) error {
		header, ts := m.header("X-Slack-Signature"), m.header("X-Slack-Request-Timestamp")
		if header == "" {
			return missing("no X-Slack-Signature header")
		}
		if ts == "" {
			return missing("no X-Slack-Request-Timestamp header")
		}
		signed, err := parseUnix("X-Slack-Request-Timestamp", ts)
		if err != nil {
			return err
		}
		enc, ok := cutPrefixFold(header, "v0=")
		if !ok {
			return malformed("X-Slack-Signature does not start with v0=")
		}
		sig, err := hex.DecodeString(enc)
		if err != nil {
			return malformed("X-Slack-Signature is not hex")
		}
		if !anyEqual([][]byte{sig}, keys.sums(sha256.New, []byte("v0:"+ts+":"), m.Body)) {
			return mismatch("X-Slack-Signature does not match the source's secrets")
		}
		return checkAge(signed, now, tolerance)
	}
	return preset{
		verify:    verify,
		eventType: slackEventType,
		dedupeKey: firstNonEmpty(jsonValue("event_id"), slackFormValue("trigger_id")),
		challenge: slackChallenge,
	}
}

func slackChallenge(m *message) *Challenge {
	if m.jsonString("type") != "url_verification" {
		return nil
	}
	return &Challenge{ContentType: "text/plain; charset=utf-8", Body: []byte(m.jsonString("challenge"))}
}

func slackEventType(m *message) string {
	switch typ := m.jsonString("type"); typ {
	case "":
	case "event_callback":
		if inner := m.jsonString("event.type"); inner != "" {
			return inner
		}
		return typ
	default:
		return typ
	}
	if isJSONObject(m.Body) {
		return ""
	}
	if m.formValue("command") != "" {
		return "slash_command"
	}
	if payload := m.formValue("payload"); payload != "" {
		var p struct {
			Type string `json:"type"`
		}
		if json.Unmarshal([]byte(payload), &p) == nil {
			return p.Type
		}
	}
	return ""
}

// slackFormValue reads a form field of a slash command or interaction; a
// JSON body has none.
func slackFormValue(key string) func(m *message) string {
	return func(m *message) string {
		if isJSONObject(m.Body) {
			return ""
		}
		return m.formValue(key)
	}
}

// isJSONObject reports whether body looks like a JSON object rather than a
// form.
func isJSONObject(body []byte) bool {
	for _, c := range body {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c == '{'
	}
	return false
}
