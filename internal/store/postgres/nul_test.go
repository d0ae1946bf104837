package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heraldhq/herald/internal/herald"
)

// TestNULIsInvalidInput checks that text PostgreSQL cannot store (a NUL
// character, which SQLite accepts) is the caller's invalid input, which
// the API answers 422, and not an internal error.
func TestNULIsInvalidInput(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	now := time.Now()
	wantInvalid := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: got nil error, want a validation error", what)
		}
		if code := herald.ErrorCode(err); code != herald.EINVALID {
			t.Errorf("%s: got code %q (%v), want %q", what, code, err, herald.EINVALID)
		}
		if detail := herald.ErrorDetail(err); detail == "Internal error" {
			t.Errorf("%s: detail %q does not say what is wrong", what, detail)
		}
	}

	err := db.CreateApplication(ctx, &herald.Application{ID: "app_nul", Name: "a\x00b", CreatedAt: now, UpdatedAt: now})
	wantInvalid("application name with NUL", err)
	if _, err := db.GetApplication(ctx, "app_nul"); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("the refused application: got %v, want not found", err)
	}
	err = db.CreateEventType(ctx, &herald.EventType{Name: "user.created", Description: "a\x00b", CreatedAt: now, UpdatedAt: now})
	wantInvalid("event type description with NUL", err)

	// jsonb refuses \u0000 with its own SQLSTATE (22P05).
	_, err = db.pool.Exec(ctx, `SELECT $1::jsonb`, `{"a":"\u0000"}`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "22P05" {
		t.Fatalf("jsonb with \\u0000: got %v, want SQLSTATE 22P05", err)
	}
	wantInvalid("jsonb with \\u0000", mapErr(err))

	// Other errors keep their mapping.
	if err := mapErr(&pgconn.PgError{Code: "42P01"}); herald.ErrorCode(err) != herald.EINTERNAL {
		t.Errorf("undefined_table: got code %q, want internal", herald.ErrorCode(err))
	}
}
