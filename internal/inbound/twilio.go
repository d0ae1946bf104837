package inbound

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"sort"
	"strings"
	"time"
)

// newTwilio verifies X-Twilio-Signature: the base64 HMAC-SHA1, keyed with
// the account's auth token, of the full URL followed by every POST form
// parameter, sorted by name, as name+value. For JSON bodies Twilio instead
// adds a bodySHA256 query parameter (the hex SHA-256 of the body) and signs
// the URL alone. Twilio may sign the URL with or without the default port,
// so both forms are tried, as Twilio's own libraries do.
//
// The event type is "message.<status>" or "call.<status>" for form posts
// (from MessageStatus/SmsStatus or CallStatus), or the JSON body's type; the
// id is I-Twilio-Idempotency-Token.
func newTwilio(secrets []string) preset {
	keys := rawKeys(secrets)
	verify := func(m *message, _ time.Time) error {
		header := m.header("X-Twilio-Signature")
		if header == "" {
			return missing("no X-Twilio-Signature header")
		}
		sig, err := base64.StdEncoding.DecodeString(header)
		if err != nil {
			return malformed("X-Twilio-Signature is not base64")
		}
		if m.URL == "" {
			return errors.New("verify twilio: the request URL is required")
		}
		u, err := url.Parse(m.URL)
		if err != nil {
			// The URL is rebuilt from the request (its Host header, unless
			// a public URL is set), which the sender chooses: Go's server
			// takes a Host such as "[" that url.Parse does not. No URL
			// Twilio signed looks like that, so the request is refused like
			// any other that no signature can match, not failed as a fault.
			return mismatch("the request URL cannot be parsed, so no signature can match it")
		}
		var params string
		if want := u.Query().Get("bodySHA256"); want != "" {
			sum := sha256.Sum256(m.Body)
			got, err := hex.DecodeString(want)
			if err != nil || !anyEqual([][]byte{got}, [][]byte{sum[:]}) {
				return mismatch("bodySHA256 does not match the body")
			}
		} else if params, err = twilioParams(m.Body); err != nil {
			return malformed("the form body cannot be parsed")
		}
		var expected [][]byte
		for _, candidate := range twilioURLs(m.URL, u) {
			expected = append(expected, keys.sums(sha1.New, []byte(candidate), []byte(params))...)
		}
		if !anyEqual([][]byte{sig}, expected) {
			return mismatch("X-Twilio-Signature does not match the source's secrets")
		}
		return nil
	}
	return preset{
		verify:    verify,
		eventType: twilioEventType,
		dedupeKey: headerValue("I-Twilio-Idempotency-Token"),
	}
}

// twilioParams returns the signed form of a URL-encoded body: parameter
// names in order, each followed by its distinct values in order, as
// name+value pairs. An empty body has no parameters.
func twilioParams(body []byte) (string, error) {
	if len(body) == 0 {
		return "", nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(form))
	for name := range form {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		values := append([]string(nil), form[name]...)
		sort.Strings(values)
		for i, v := range values {
			if i > 0 && v == values[i-1] {
				continue
			}
			b.WriteString(name)
			b.WriteString(v)
		}
	}
	return b.String(), nil
}

// twilioURLs returns raw as given and, rewritten in its host part only, the
// same URL without its port, or with the scheme's default port added.
func twilioURLs(raw string, u *url.URL) []string {
	out := []string{raw}
	schemeEnd := strings.Index(raw, "://")
	if schemeEnd < 0 {
		return out
	}
	start := schemeEnd + len("://")
	end := len(raw)
	if i := strings.IndexAny(raw[start:], "/?#"); i >= 0 {
		end = start + i
	}
	authority := raw[start:end]
	userinfo, host := "", authority
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo, host = authority[:at+1], authority[at+1:]
	}
	var rewritten string
	if port := u.Port(); port != "" {
		rewritten = strings.TrimSuffix(host, ":"+port)
	} else if def := defaultPort(u.Scheme); def != "" {
		rewritten = host + ":" + def
	} else {
		return out
	}
	return append(out, raw[:start]+userinfo+rewritten+raw[end:])
}

func defaultPort(scheme string) string {
	switch strings.ToLower(scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

func twilioEventType(m *message) string {
	if isJSONObject(m.Body) {
		return m.jsonString("type")
	}
	status := func(names ...string) string {
		for _, n := range names {
			if v := m.formValue(n); v != "" {
				return "." + strings.ToLower(v)
			}
		}
		return ""
	}
	switch {
	case m.formValue("MessageSid") != "" || m.formValue("SmsSid") != "":
		return "message" + status("MessageStatus", "SmsStatus")
	case m.formValue("CallSid") != "":
		return "call" + status("CallStatus")
	}
	return ""
}
