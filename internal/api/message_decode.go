package api

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// decodeMessageIn decodes a create-message body. Publishing is Herald's
// hottest route and its body is mostly payload, which decodeJSON reads
// three times (the encoding and nesting check, the decoder's scan, and
// its skip over the raw payload) and copies twice. The common shape of
// the body is therefore decoded here in one pass, with the payload kept
// as a slice of the body. Anything else (escapes in strings, an inline
// application, unusual numbers, any error) goes to decodeJSON, which
// accepts exactly the same bodies, decodes them to the same value, and
// words the errors; FuzzDecodeMessageIn holds the two to that.
func decodeMessageIn(body []byte, in *messageIn) error {
	if fastMessageIn(body, in) {
		return nil
	}
	*in = messageIn{}
	return decodeJSON(body, in)
}

// fastMessageIn decodes body into in and reports whether it could. It
// never accepts a body that decodeJSON would reject.
func fastMessageIn(body []byte, in *messageIn) bool {
	if !utf8.Valid(body) {
		return false
	}
	p := jsonParser{b: body}
	p.space()
	if !p.eat('{') {
		return false
	}
	var seen [len(messageFields)]bool
	p.space()
	if !p.eat('}') {
		for {
			p.space()
			key, ok := p.plainString()
			if !ok {
				return false
			}
			p.space()
			if !p.eat(':') {
				return false
			}
			p.space()
			field := messageField(key)
			if field < 0 || seen[field] {
				return false // unknown (or differently cased) or repeated: decodeJSON decides
			}
			seen[field] = true
			if !p.field(field, in) {
				return false
			}
			p.space()
			if p.eat('}') {
				break
			}
			if !p.eat(',') {
				return false
			}
		}
	}
	p.space()
	return p.i == len(p.b)
}

// The fields of messageIn, and their JSON names.
const (
	fieldEventType = iota
	fieldEventID
	fieldPayload
	fieldChannels
	fieldRetentionPeriod
	fieldRetentionHours
	fieldApplication
	fieldTags
	fieldTransformations
)

var messageFields = [...]string{
	fieldEventType: "eventType", fieldEventID: "eventId", fieldPayload: "payload", fieldChannels: "channels",
	fieldRetentionPeriod: "payloadRetentionPeriod", fieldRetentionHours: "payloadRetentionHours",
	fieldApplication: "application", fieldTags: "tags", fieldTransformations: "transformationsParams",
}

func messageField(key []byte) int {
	for i, name := range messageFields {
		if string(key) == name {
			return i
		}
	}
	return -1
}

// field decodes the value of messageFields[f] into in.
func (p *jsonParser) field(f int, in *messageIn) bool {
	if f == fieldPayload || f == fieldTransformations { // kept raw, as json.RawMessage would be
		start := p.i
		if !p.value(1) {
			return false
		}
		raw := json.RawMessage(p.b[start:p.i:p.i])
		if f == fieldPayload {
			in.Payload = raw
		} else {
			in.TransformationsParams = raw
		}
		return true
	}
	if p.null() {
		return true // null leaves strings as they are and pointers and slices nil
	}
	switch f {
	case fieldEventType:
		s, ok := p.plainString()
		in.EventType = string(s)
		return ok
	case fieldEventID:
		s, ok := p.plainString()
		id := string(s)
		in.EventID = &id
		return ok
	case fieldChannels:
		return p.stringArray(&in.Channels)
	case fieldTags:
		return p.stringArray(&in.Tags)
	case fieldRetentionPeriod, fieldRetentionHours:
		n, ok := p.integer()
		if f == fieldRetentionPeriod {
			in.PayloadRetentionPeriod = &n
		} else {
			in.PayloadRetentionHours = &n
		}
		return ok
	}
	return false // fieldApplication: decodeJSON
}

// jsonParser reads JSON from b at i. Its methods report false for input
// they do not take, leaving the caller to fall back.
type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *jsonParser) literal(lit string) bool {
	if bytes.HasPrefix(p.b[p.i:], []byte(lit)) {
		p.i += len(lit)
		return true
	}
	return false
}

func (p *jsonParser) null() bool { return p.literal("null") }

// plainString reads a string without escapes and returns its contents.
func (p *jsonParser) plainString() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			return p.b[start : p.i-1], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// stringArray reads an array of strings without escapes.
func (p *jsonParser) stringArray(dst *[]string) bool {
	if !p.eat('[') {
		return false
	}
	out := []string{}
	p.space()
	if !p.eat(']') {
		for {
			p.space()
			s, ok := p.plainString()
			if !ok {
				return false
			}
			out = append(out, string(s))
			p.space()
			if p.eat(']') {
				break
			}
			if !p.eat(',') {
				return false
			}
		}
	}
	*dst = out
	return true
}

// integer reads a JSON number that is an int64 written as plain digits.
func (p *jsonParser) integer() (int64, bool) {
	start := p.i
	p.eat('-')
	digits := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	if p.i == digits || (p.b[digits] == '0' && p.i-digits > 1) {
		return 0, false
	}
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 64)
	return n, err == nil
}

// value checks one JSON value of any kind, at nesting depth (the
// enclosing object is at depth 1), against the grammar of RFC 8259 and
// decodeJSON's nesting limit.
func (p *jsonParser) value(depth int) bool {
	if p.i >= len(p.b) {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		if depth+1 > maxJSONDepth {
			return false
		}
		p.i++
		p.space()
		if p.eat('}') {
			return true
		}
		for {
			p.space()
			if !p.stringValue() {
				return false
			}
			p.space()
			if !p.eat(':') {
				return false
			}
			p.space()
			if !p.value(depth + 1) {
				return false
			}
			p.space()
			if p.eat('}') {
				return true
			}
			if !p.eat(',') {
				return false
			}
		}
	case c == '[':
		if depth+1 > maxJSONDepth {
			return false
		}
		p.i++
		p.space()
		if p.eat(']') {
			return true
		}
		for {
			p.space()
			if !p.value(depth + 1) {
				return false
			}
			p.space()
			if p.eat(']') {
				return true
			}
			if !p.eat(',') {
				return false
			}
		}
	case c == '"':
		return p.stringValue()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.null()
	default:
		return p.number()
	}
}

// stringValue checks a string, escapes included. The body's UTF-8 was
// checked as a whole.
func (p *jsonParser) stringValue() bool {
	if !p.eat('"') {
		return false
	}
	for p.i < len(p.b) {
		c := p.b[p.i]
		p.i++
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if p.i >= len(p.b) {
				return false
			}
			e := p.b[p.i]
			p.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if p.i+4 > len(p.b) {
					return false
				}
				for _, h := range p.b[p.i : p.i+4] {
					if !isHex(h) {
						return false
					}
				}
				p.i += 4
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *jsonParser) number() bool {
	p.eat('-')
	switch {
	case p.eat('0'):
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		p.digits()
	default:
		return false
	}
	if p.eat('.') && !p.digits() {
		return false
	}
	if p.eat('e') || p.eat('E') {
		if !p.eat('+') {
			p.eat('-')
		}
		if !p.digits() {
			return false
		}
	}
	return true
}

// digits reads one or more decimal digits and reports whether there were any.
func (p *jsonParser) digits() bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}
