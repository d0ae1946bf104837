package inbound

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
)

// message wraps a Request with its body parsed on first use, once, for the
// presets and extractors that read JSON fields or form values.
type message struct {
	*Request
	jsonParsed bool
	fields     map[string]json.RawMessage
	formParsed bool
	form       url.Values
}

// header returns the first value of the named header, trimmed.
func (m *message) header(name string) string {
	return strings.TrimSpace(m.Header.Get(name))
}

// jsonField returns the raw JSON at a dotted path in the body ("data.id"),
// and whether it is there. A body that is not a JSON object has no fields.
func (m *message) jsonField(path string) (json.RawMessage, bool) {
	if !m.jsonParsed {
		m.jsonParsed = true
		if err := json.Unmarshal(m.Body, &m.fields); err != nil {
			m.fields = nil
		}
	}
	fields := m.fields
	for {
		key, rest, nested := strings.Cut(path, ".")
		raw, ok := fields[key]
		if !ok {
			return nil, false
		}
		if !nested {
			return raw, true
		}
		fields = nil
		if err := json.Unmarshal(raw, &fields); err != nil {
			return nil, false
		}
		path = rest
	}
}

// jsonString returns the string or number at a dotted path in the body,
// as text, or "" when it is absent or of another kind.
func (m *message) jsonString(path string) string {
	raw, ok := m.jsonField(path)
	if !ok {
		return ""
	}
	return scalarText(raw)
}

// scalarText returns a JSON string's value or a number's literal text.
func scalarText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return strings.TrimSpace(s)
	case c == '-' || (c >= '0' && c <= '9'):
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return ""
		}
		return n.String()
	}
	return ""
}

// formValue returns a field of a URL-encoded form body.
func (m *message) formValue(key string) string {
	if !m.formParsed {
		m.formParsed = true
		m.form, _ = url.ParseQuery(string(m.Body))
	}
	return m.form.Get(key)
}
