package inbound

import (
	"fmt"
	"net/http"
	"strings"
)

// template is a parsed hmac signed-content template: literal text and
// placeholders, rendered once per request into the bytes to sign.
type template []templatePart

type templatePart struct {
	kind  partKind
	value string // the literal text, or the header name of partHeader
}

type partKind int

const (
	partLiteral partKind = iota
	partBody
	partTimestamp
	partMethod
	partURL
	partHeader
)

// parseTemplate parses a Template; empty means "{body}". Every "{...}" must
// be a known placeholder, so a typo is an error rather than literal text
// that silently never matches.
func parseTemplate(s string) (template, error) {
	if s == "" {
		return template{{kind: partBody}}, nil
	}
	var t template
	for s != "" {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			t = append(t, templatePart{kind: partLiteral, value: s})
			break
		}
		if open > 0 {
			t = append(t, templatePart{kind: partLiteral, value: s[:open]})
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("template has an unclosed {")
		}
		p, err := placeholder(s[open+1 : open+end])
		if err != nil {
			return nil, err
		}
		t = append(t, p)
		s = s[open+end+1:]
	}
	return t, nil
}

func placeholder(name string) (templatePart, error) {
	switch name {
	case "body":
		return templatePart{kind: partBody}, nil
	case "timestamp":
		return templatePart{kind: partTimestamp}, nil
	case "method":
		return templatePart{kind: partMethod}, nil
	case "url":
		return templatePart{kind: partURL}, nil
	}
	if h, ok := strings.CutPrefix(name, "header:"); ok && validHeaderName(h) {
		return templatePart{kind: partHeader, value: http.CanonicalHeaderKey(h)}, nil
	}
	return templatePart{}, fmt.Errorf("template placeholder {%s} is not one of {body}, {timestamp}, {method}, {url}, {header:Name}", truncate(name))
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// signsBody reports whether the template covers the body: without it,
// one captured signature would carry any body.
func (t template) signsBody() bool {
	for _, p := range t {
		if p.kind == partBody {
			return true
		}
	}
	return false
}

func (t template) usesTimestamp() bool {
	for _, p := range t {
		if p.kind == partTimestamp {
			return true
		}
	}
	return false
}

// signsTimestamp reports whether the template covers the timestamp header,
// as {timestamp} or as {header:Name}: an unsigned timestamp proves nothing.
func (t template) signsTimestamp(header string) bool {
	for _, p := range t {
		if p.kind == partTimestamp || p.kind == partHeader && p.value == http.CanonicalHeaderKey(header) {
			return true
		}
	}
	return false
}

// render returns the parts of the signed content for m, the timestamp being
// the already-read timestamp header value.
func (t template) render(m *message, timestamp string) [][]byte {
	out := make([][]byte, len(t))
	for i, p := range t {
		switch p.kind {
		case partLiteral:
			out[i] = []byte(p.value)
		case partBody:
			out[i] = m.Body
		case partTimestamp:
			out[i] = []byte(timestamp)
		case partMethod:
			out[i] = []byte(m.Method)
		case partURL:
			out[i] = []byte(m.URL)
		case partHeader:
			out[i] = []byte(m.header(p.value))
		}
	}
	return out
}
