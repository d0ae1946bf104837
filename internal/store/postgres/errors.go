package postgres

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heraldhq/herald/internal/herald"
)

var errUnavailable = herald.ErrUnavailable

// errUnstorableText is the caller's invalid input that PostgreSQL refuses
// but SQLite takes: a NUL character (\u0000) in a text column or a jsonb
// value, or a byte sequence that is not UTF-8. The API answers it 422.
var errUnstorableText = herald.Errorf(herald.EINVALID,
	"Text values must not contain the NUL character (\\u0000) or invalid UTF-8")

// mapErr translates a pgx error into Herald's sentinels: no rows is
// ErrNotFound, a unique violation ErrConflict, a missing parent row
// ErrNotFound, text the database cannot store (NUL, invalid UTF-8) a
// validation error, and any sign that the database cannot be reached
// ErrUnavailable. Other errors pass through unchanged.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return herald.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505": // unique_violation
			return fmt.Errorf("%w: %s", herald.ErrConflict, pgErr.ConstraintName)
		case pgErr.Code == "23503": // foreign_key_violation
			return fmt.Errorf("%w: %s", herald.ErrNotFound, pgErr.ConstraintName)
		case pgErr.Code == "22021", // character_not_in_repertoire: NUL or invalid UTF-8 in text
			pgErr.Code == "22P05": // untranslatable_character: \u0000 in jsonb
			return fmt.Errorf("%w: %w", errUnstorableText, err)
		case unavailableCode(pgErr.Code):
			return fmt.Errorf("%w: %w", errUnavailable, err)
		}
		return err
	}
	if unreachable(err) {
		return fmt.Errorf("%w: %w", errUnavailable, err)
	}
	return err
}

// unavailableCode reports SQLSTATEs that mean the server cannot serve us now
// rather than that the request is wrong.
func unavailableCode(code string) bool {
	switch code {
	case "57014", // query_canceled: the statement timeout fired
		"57P01", "57P02", "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
		"53300", // too_many_connections
		"40001", // serialization_failure
		"40P01": // deadlock_detected
		return true
	}
	return len(code) == 5 && code[:2] == "08" // connection_exception class
}

// unreachable reports whether err comes from the connection rather than
// from the server's answer.
func unreachable(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case pgconn.SafeToRetry(err), pgconn.Timeout(err):
		return true
	case errors.As(err, &connectErr), errors.As(err, &netErr):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed):
		return true
	}
	return false
}

// transient reports whether err is a deadlock or serialization failure,
// which the same transaction may pass when tried again.
func transient(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

// dataError reports whether err is the server rejecting the data of one
// operation (integrity or data exception classes, or a program limit such
// as an index row too large for a btree), so a batch that failed with it
// is worth retrying one operation at a time.
func dataError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) != 5 {
		return false
	}
	switch pgErr.Code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
}
