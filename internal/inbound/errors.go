package inbound

import (
	"errors"
	"fmt"
)

// Sentinels for a refused request. Every error Verify returns for a request
// it does not trust wraps exactly one of them; the ingest handler answers
// 401 and may show the error text, which never contains a secret or an
// expected signature.
var (
	// ErrMissingSignature means the request carries no signature or
	// credential, or lacks a header the signature depends on.
	ErrMissingSignature = errors.New("missing signature")
	// ErrMalformedSignature means a signature header is present but cannot
	// be parsed.
	ErrMalformedSignature = errors.New("malformed signature")
	// ErrBadSignature means no signature or credential matched any of the
	// source's secrets: a wrong secret or a tampered request.
	ErrBadSignature = errors.New("signature does not match")
	// ErrStale means the signed timestamp is outside the tolerance: too old
	// (a replay) or too far in the future.
	ErrStale = errors.New("timestamp outside tolerance")
)

// IsRefused reports whether err is a verification refusal (any of the
// sentinels above), as opposed to a fault such as a missing request URL.
func IsRefused(err error) bool {
	return errors.Is(err, ErrMissingSignature) || errors.Is(err, ErrMalformedSignature) ||
		errors.Is(err, ErrBadSignature) || errors.Is(err, ErrStale)
}

func missing(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMissingSignature}, args...)...)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformedSignature}, args...)...)
}

func mismatch(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadSignature}, args...)...)
}
