package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/heraldhq/herald/internal/herald"
)

// codeMissingPayload is Svix's 400 code for a resend of a message whose
// payload was expunged or has expired.
const codeMissingPayload = "missing_payload"

// statusOf maps an error code to its HTTP status. It is the only place
// where that mapping is made.
func statusOf(code string) int {
	switch code {
	case herald.EINVALID:
		return http.StatusUnprocessableEntity
	case herald.EBADREQUEST, codeMissingPayload:
		return http.StatusBadRequest
	case herald.ENOTFOUND:
		return http.StatusNotFound
	case herald.ECONFLICT:
		return http.StatusConflict
	case herald.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case herald.EFORBIDDEN:
		return http.StatusForbidden
	case herald.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case herald.ERATELIMIT:
		return http.StatusTooManyRequests
	case herald.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fieldError is a validation error about one field. It unwraps to a
// herald.Error with code EINVALID, so it maps like any other; its loc is
// reported in the body Svix SDKs expect for 422.
type fieldError struct {
	loc []string
	err *herald.Error
}

func (e *fieldError) Error() string { return e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// invalid returns a validation error about the field at loc (e.g. "body",
// "url").
func invalid(loc []string, format string, args ...any) error {
	return &fieldError{loc: loc, err: herald.Errorf(herald.EINVALID, format, args...)}
}

// invalidBody is invalid for a field of the request body.
func invalidBody(field, format string, args ...any) error {
	return invalid([]string{"body", field}, format, args...)
}

// invalidQuery is invalid for a query parameter.
func invalidQuery(param, format string, args ...any) error {
	return invalid([]string{"query", param}, format, args...)
}

type errorBody struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

type validationItem struct {
	Loc  []string `json:"loc"`
	Msg  string   `json:"msg"`
	Type string   `json:"type"`
}

type validationBody struct {
	Detail []validationItem `json:"detail"`
}

// errorResponse returns the status and body for err. Validation errors use
// Svix's HTTPValidationError shape, the one its SDKs decode for 422; every
// other error is {"code", "detail"}. Internal errors never reach the body.
func errorResponse(err error) (int, []byte) {
	code := herald.ErrorCode(err)
	status := statusOf(code)
	var body any
	if status == http.StatusUnprocessableEntity {
		item := validationItem{Loc: []string{"body"}, Msg: herald.ErrorDetail(err), Type: "value_error"}
		var fe *fieldError
		if errors.As(err, &fe) {
			item.Loc = fe.loc
		}
		body = validationBody{Detail: []validationItem{item}}
	} else {
		body = errorBody{Code: code, Detail: herald.ErrorDetail(err)}
	}
	b, _ := json.Marshal(body)
	return status, b
}
