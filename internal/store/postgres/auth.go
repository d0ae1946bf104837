package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// CreateToken stores a token by the hash of its secret; ErrConflict if the
// hash is taken.
func (db *DB) CreateToken(ctx context.Context, t *store.Token) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `INSERT INTO tokens (hash, app_id, kind, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		t.Hash, nullText(t.AppID), t.Kind, ms(t.CreatedAt), nullMS(t.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create token: %w", db.mapCallErr(ctx, err))
	}
	return nil
}

// GetToken finds a token by the hash of its secret, expired or not: the
// caller checks ExpiresAt against its clock.
func (db *DB) GetToken(ctx context.Context, hash []byte) (*store.Token, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var (
		t         = store.Token{Hash: hash}
		appID     *string
		createdAt int64
		expiresAt *int64
	)
	err := db.pool.QueryRow(ctx, `SELECT app_id, kind, created_at, expires_at FROM tokens WHERE hash = $1`, hash).
		Scan(&appID, &t.Kind, &createdAt, &expiresAt)
	if err != nil {
		return nil, fmt.Errorf("get token: %w", db.mapCallErr(ctx, err))
	}
	t.AppID, t.CreatedAt, t.ExpiresAt = fromNullText(appID), fromMS(createdAt), fromNullMS(expiresAt)
	return &t, nil
}

// DeleteToken deletes a token; ErrNotFound if there is none.
func (db *DB) DeleteToken(ctx context.Context, hash []byte) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `DELETE FROM tokens WHERE hash = $1`, hash)
	if err != nil {
		return fmt.Errorf("delete token: %w", db.mapCallErr(ctx, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete token: %w", herald.ErrNotFound)
	}
	return nil
}

// BeginIdempotent claims key until expires. It returns the saved response
// if the key's request finished, ErrConflict if it is still in flight, and
// nil, nil when the caller holds the key and may proceed. An expired key,
// or a claim abandoned for store.IdempotencyClaimTimeout, is free again;
// the upsert's row lock lets one caller alone take it.
func (db *DB) BeginIdempotent(ctx context.Context, key string, now, expires time.Time, note string) (*store.IdempotentResponse, string, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	// The claim and the read are two statements; a key forgotten between
	// them is claimed again on the next turn.
	for range 3 {
		saved, claimed, err := db.beginIdempotent(ctx, key, now, expires, note)
		if errors.Is(err, errKeyGone) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("begin idempotent request: %w", db.mapCallErr(ctx, err))
		}
		return saved, claimed, nil
	}
	return nil, "", fmt.Errorf("begin idempotent request: %w", herald.ErrConflict)
}

// errKeyGone is a key that was forgotten between beginIdempotent's claim
// and its read.
var errKeyGone = errors.New("idempotency key forgotten meanwhile")

// beginIdempotent claims key, keeping the notes of an abandoned claim it
// takes over (body holds them while the claim is in flight) before its
// own, or reads the saved response.
func (db *DB) beginIdempotent(ctx context.Context, key string, now, expires time.Time, note string) (*store.IdempotentResponse, string, error) {
	var body []byte
	err := db.pool.QueryRow(ctx, `INSERT INTO idempotency_keys AS k (key, created_at, expires_at, body) VALUES ($1, $2, $3, $5)
		ON CONFLICT (key) DO UPDATE SET created_at = $2, expires_at = $3, status_code = NULL,
			body = CASE WHEN k.expires_at <= $2 OR k.body IS NULL THEN EXCLUDED.body
				WHEN EXCLUDED.body IS NULL THEN k.body
				ELSE k.body || '\x20'::bytea || EXCLUDED.body END
		WHERE k.expires_at <= $2 OR (k.status_code IS NULL AND k.created_at <= $4)
		RETURNING body`,
		key, ms(now), ms(expires), ms(now.Add(-store.IdempotencyClaimTimeout)), noteBytes(note)).Scan(&body)
	if err == nil {
		return nil, string(body), nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, "", err
	}
	var code *int32
	err = db.pool.QueryRow(ctx, `SELECT status_code, body FROM idempotency_keys WHERE key = $1`, key).Scan(&code, &body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", errKeyGone
	}
	if err != nil {
		return nil, "", err
	}
	if code == nil {
		return nil, "", herald.ErrConflict
	}
	return &store.IdempotentResponse{StatusCode: int(*code), Body: body}, "", nil
}

// noteBytes is a claim's note as bytea, or NULL when empty.
func noteBytes(note string) []byte {
	if note == "" {
		return nil
	}
	return []byte(note)
}

// FinishIdempotent saves resp for key, or forgets key when resp is nil.
// ErrNotFound if there is no key to save resp for.
func (db *DB) FinishIdempotent(ctx context.Context, key string, resp *store.IdempotentResponse) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var (
		tag interface{ RowsAffected() int64 }
		err error
	)
	if resp == nil {
		tag, err = db.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE key = $1`, key)
	} else {
		body := resp.Body
		if body == nil {
			body = []byte{} // read back as saved: empty, not nil
		}
		tag, err = db.pool.Exec(ctx, `UPDATE idempotency_keys SET status_code = $2, body = $3 WHERE key = $1`,
			key, resp.StatusCode, body)
	}
	if err != nil {
		return fmt.Errorf("finish idempotent request: %w", db.mapCallErr(ctx, err))
	}
	if resp != nil && tag.RowsAffected() == 0 {
		return fmt.Errorf("finish idempotent request: %w", herald.ErrNotFound)
	}
	return nil
}
