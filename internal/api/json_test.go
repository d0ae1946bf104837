package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeJSON checks decodeJSON against an independent reading of its
// rules: it accepts exactly the bodies that are one valid JSON value, valid
// UTF-8 and nested at most maxJSONDepth deep, and every rejection is a 4xx.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{"a":1}`, `[]`, `"x"`, `1`, `null`, ` {"s":"\"[{"} `,
		nested(maxJSONDepth), nested(maxJSONDepth + 1), nested(10000),
		"{\"k\":\"\xff\"}", "\"\xed\xa0\x80\"", `{"a":1} {"b":2}`, `{"a":1}]`, `{"a":`,
		`{"s":"\ud800"}`, `[[["]]]"]]]`, "\t\n", `{"a":1e999}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v any
		err := decodeJSON(body, &v)
		if err != nil {
			if status, _ := errorResponse(err); status < 400 || status >= 500 {
				t.Fatalf("%q: got status %d (%v), want a 4xx", body, status, err)
			}
		}
		want := json.Valid(body) && utf8.Valid(body) && tokenDepth(body) <= maxJSONDepth
		if (err == nil) != want {
			t.Fatalf("%q: got error %v, want accepted %v", body, err, want)
		}
	})
}

// tokenDepth is the deepest nesting of a valid JSON body, counted with
// the standard tokenizer rather than decodeJSON's byte scan.
func tokenDepth(body []byte) int {
	dec := json.NewDecoder(bytes.NewReader(body))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return deepest
		}
		if err != nil {
			return 1 << 30
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

func TestDecodeJSONRules(t *testing.T) {
	t.Parallel()
	type in struct {
		Name  string `json:"name"`
		Inner *struct {
			X int `json:"x"`
		} `json:"inner"`
	}
	tests := []struct {
		body   string
		status int
		reason string
	}{
		{`{"name":"ok","inner":{"x":1}}`, 0, ""},
		{`{"name":"ok"}` + " \n", 0, ""},
		{`{"nme":"typo"}`, 422, `Unknown field "nme"`},
		{`{"inner":{"y":1}}`, 422, `Unknown field "y"`},
		{"{\"name\":\"a\xffb\"}", 422, "not valid UTF-8 (first bad byte at offset 10)"},
		{`{"name":` + nested(maxJSONDepth) + `}`, 422, "deeper than 128 levels"},
		{`{"name":"a"} x`, 400, "at byte 13: unexpected data after the JSON value"},
		{`{"name":"a"`, 400, "ends too early"},
		{`[1]`, 422, "must be an object, got array"},
	}
	for _, tt := range tests {
		var v in
		err := decodeJSON([]byte(tt.body), &v)
		if tt.status == 0 {
			if err != nil {
				t.Errorf("%q: got %v, want it decoded", tt.body, err)
			}
			continue
		}
		status, body := errorResponse(err)
		if status != tt.status || !strings.Contains(string(body), strings.ReplaceAll(tt.reason, `"`, `\"`)) {
			t.Errorf("%q: got %d %s, want %d with %q", tt.body, status, body, tt.status, tt.reason)
		}
	}
}
