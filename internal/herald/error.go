package herald

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in exactly one place (internal/api).
const (
	EINVALID      = "validation"        // 422: the request is well-formed but its content is wrong
	EBADREQUEST   = "bad_request"       // 400: the request cannot be parsed
	ENOTFOUND     = "not_found"         // 404
	ECONFLICT     = "conflict"          // 409
	EUNAUTHORIZED = "unauthorized"      // 401
	EFORBIDDEN    = "forbidden"         // 403
	ETOOLARGE     = "payload_too_large" // 413
	ERATELIMIT    = "rate_limited"      // 429
	EUNAVAILABLE  = "unavailable"       // 503: the store cannot take writes right now
	EINTERNAL     = "internal"          // 500
)

// Error is an error a user can act on: a code from the list above and a
// detail written for the person who sent the request.
type Error struct {
	Code   string
	Detail string
}

func (e *Error) Error() string { return e.Code + ": " + e.Detail }

// Errorf returns an *Error with the given code and formatted detail.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, ENOTFOUND
// or ECONFLICT for the store sentinels, and EINTERNAL otherwise.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, ErrNotFound):
		return ENOTFOUND
	case errors.Is(err, ErrConflict):
		return ECONFLICT
	case errors.Is(err, ErrUnavailable):
		return EUNAVAILABLE
	}
	return EINTERNAL
}

// ErrorDetail returns the user-facing detail of err: the *Error's detail, or
// a generic text so internal errors never leak to clients.
func ErrorDetail(err error) string {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Detail
	case errors.Is(err, ErrNotFound):
		return "Entity not found"
	case errors.Is(err, ErrConflict):
		return "Entity already exists"
	case errors.Is(err, ErrUnavailable):
		return "The database is unavailable; retry later"
	}
	return "Internal error"
}

// Sentinels the stores return and callers branch on.
var (
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("already exists")
	ErrUnavailable = errors.New("store unavailable")
)
