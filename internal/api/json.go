package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/herald"
)

// readBody reads the whole request body, bounded by the server's limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, s.maxBody)
	var body []byte
	var err error
	if n := r.ContentLength; n > 0 && n <= s.maxBody {
		// The usual case: one allocation of the announced size. The server
		// never reads past Content-Length.
		body = make([]byte, n)
		_, err = io.ReadFull(rd, body)
	} else {
		body, err = io.ReadAll(rd)
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, herald.Errorf(herald.ETOOLARGE, "The request body exceeds the limit of %d bytes", tooBig.Limit)
		}
		return nil, herald.Errorf(herald.EBADREQUEST, "Could not read the request body")
	}
	return body, nil
}

// maxJSONDepth bounds how deeply objects and arrays may nest in a request
// body, payloads included. Real webhooks nest a dozen levels; deeper input
// only costs the decoder and every receiver the payload is forwarded to.
const maxJSONDepth = 128

// jsonSpace is what JSON counts as whitespace (RFC 8259): not \v, \f or
// the other Unicode spaces bytes.TrimSpace would also drop.
const jsonSpace = " \t\r\n"

// decodeJSON decodes body into v under the API's rules, which hold for
// every route:
//   - the body is exactly one JSON value; trailing data is an error;
//   - it is valid UTF-8 (encoding/json would quietly turn bad bytes into
//     U+FFFD, and a payload is signed and forwarded as sent);
//   - objects and arrays nest at most maxJSONDepth levels;
//   - fields the input type does not know are errors that name the field.
//
// Every error carries a reason for the caller and maps to a 4xx.
func decodeJSON(body []byte, v any) error {
	if len(bytes.Trim(body, jsonSpace)) == 0 {
		return invalid([]string{"body"}, "The request body is empty; a JSON object is required")
	}
	if err := checkJSONText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if rest := bytes.TrimLeft(body[dec.InputOffset():], jsonSpace); len(rest) > 0 {
		return herald.Errorf(herald.EBADREQUEST, "Invalid JSON at byte %d: unexpected data after the JSON value", len(body)-len(rest))
	}
	return nil
}

// checkJSONText enforces the encoding and nesting rules of decodeJSON in
// one pass that tracks only strings and brackets; the decoder checks the
// grammar.
func checkJSONText(body []byte) error {
	if !utf8.Valid(body) {
		return invalid([]string{"body"}, "The request body is not valid UTF-8 (first bad byte at offset %d)", firstBadUTF8(body))
	}
	depth, inString, escaped := 0, false, false
	for i, c := range body {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > maxJSONDepth {
				return invalid([]string{"body"}, "The request body nests objects and arrays deeper than %d levels (at byte %d)", maxJSONDepth, i)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

func firstBadUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// jsonError turns a decoding error into a user-facing one.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var synErr *json.SyntaxError
	var fe *fieldError
	switch {
	case errors.As(err, &fe):
		return fe
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return invalid([]string{"body"}, "The body must be %s, got %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
		}
		return invalidBody(field, "%s: expected %s, got %s", field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// DisallowUnknownFields reports `json: unknown field "name"`.
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return invalidBody(name, "Unknown field %q", name)
	case errors.As(err, &synErr):
		return herald.Errorf(herald.EBADREQUEST, "Invalid JSON at byte %d: %s", synErr.Offset, synErr.Error())
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return herald.Errorf(herald.EBADREQUEST, "Invalid JSON: the body ends too early")
	}
	return herald.Errorf(herald.EBADREQUEST, "Invalid JSON: %s", err.Error())
}

func jsonKind(k string) string {
	switch k {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "bool":
		return "a boolean"
	}
	return "a " + k
}

// optional is a JSON field that tells absent, null and a value apart, for
// PATCH bodies and nullable inputs.
type optional[T any] struct {
	Set  bool // present in the body
	Null bool // present and null
	V    T
}

// UnmarshalJSON records that the field was present.
func (o *optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.V)
}

// writeRaw writes an already encoded JSON body.
func writeRaw(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
