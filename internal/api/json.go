package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

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

// decodeJSON decodes body into v. The body must hold exactly one JSON value;
// trailing data is an error (json.Unmarshal checks the whole input before
// decoding). Errors carry a reason for the caller.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return invalid([]string{"body"}, "The request body is empty; a JSON object is required")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return jsonError(err)
	}
	return nil
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
			return invalid([]string{"body"}, "Expected a JSON %s, got %s", typeErr.Type.Kind(), typeErr.Value)
		}
		return invalidBody(field, "%s: expected %s, got %s", field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
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
