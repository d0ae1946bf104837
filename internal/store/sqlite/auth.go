package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// CreateToken stores a token by its hash; ErrConflict if the hash exists.
func (db *DB) CreateToken(ctx context.Context, t *store.Token) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		_, err := w.tx.ExecContext(ctx, `INSERT INTO tokens (hash, app_id, kind, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?)`, t.Hash, nullString(t.AppID), t.Kind, ms(t.CreatedAt), nullMS(t.ExpiresAt))
		return mapErr("create token", err)
	})
}

// GetToken finds a token by hash. It does not judge expiry: the caller
// compares ExpiresAt with its clock.
func (db *DB) GetToken(ctx context.Context, hash []byte) (*store.Token, error) {
	var (
		t       store.Token
		appID   sql.NullString
		created int64
		expires sql.NullInt64
	)
	err := db.reader.QueryRowContext(ctx, `SELECT hash, app_id, kind, created_at, expires_at FROM tokens WHERE hash = ?`, hash).
		Scan(&t.Hash, &appID, &t.Kind, &created, &expires)
	if err != nil {
		return nil, mapErr("get token", err)
	}
	t.AppID, t.CreatedAt, t.ExpiresAt = appID.String, fromMS(created), fromNullMS(expires)
	return &t, nil
}

// DeleteToken deletes a token by hash.
func (db *DB) DeleteToken(ctx context.Context, hash []byte) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		res, err := w.tx.ExecContext(ctx, `DELETE FROM tokens WHERE hash = ?`, hash)
		return affectedOne("delete token", res, err)
	})
}

// BeginIdempotent claims key until expires. It returns the saved response
// of a finished request, ErrConflict while another request holds the key,
// and nil to let the caller proceed. An expired key, or a claim abandoned
// for store.IdempotencyClaimTimeout, is claimed afresh; the one writer
// makes the read and the claim atomic.
func (db *DB) BeginIdempotent(ctx context.Context, key string, now, expires time.Time, note string) (*store.IdempotentResponse, string, error) {
	var (
		saved   *store.IdempotentResponse
		claimed string
	)
	err := db.write(ctx, func(ctx context.Context, w *wtx) error {
		saved, claimed = nil, note
		var (
			code    sql.NullInt64
			body    []byte
			created int64
			exp     int64
		)
		err := w.tx.QueryRowContext(ctx, `SELECT status_code, body, created_at, expires_at FROM idempotency_keys WHERE key = ?`, key).
			Scan(&code, &body, &created, &exp)
		abandoned := !code.Valid && created <= ms(now.Add(-store.IdempotencyClaimTimeout))
		switch {
		case err == nil && exp > ms(now) && !abandoned:
			if !code.Valid {
				return fmt.Errorf("idempotency key in flight: %w", herald.ErrConflict)
			}
			saved = &store.IdempotentResponse{StatusCode: int(code.Int64), Body: body}
			return nil
		case err == nil && exp > ms(now) && len(body) > 0:
			// The abandoned claim's notes (body holds them while in
			// flight), then this one's.
			claimed = strings.TrimSpace(string(body) + " " + note)
		case err != nil && !errNoRows(err):
			return mapErr("begin idempotent", err)
		}
		_, err = w.tx.ExecContext(ctx, `INSERT INTO idempotency_keys (key, status_code, body, created_at, expires_at)
			VALUES (?1, NULL, ?4, ?2, ?3)
			ON CONFLICT (key) DO UPDATE SET status_code = NULL, body = ?4, created_at = ?2, expires_at = ?3`,
			key, ms(now), ms(expires), nullBytes(claimed))
		return mapErr("begin idempotent", err)
	})
	if err != nil {
		return nil, "", err
	}
	return saved, claimed, nil
}

// nullBytes is s as a BLOB, or NULL when empty.
func nullBytes(s string) any {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// FinishIdempotent saves resp for key, or forgets the key when resp is nil
// so the request may be retried.
func (db *DB) FinishIdempotent(ctx context.Context, key string, resp *store.IdempotentResponse) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		if resp == nil {
			_, err := w.tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE key = ?`, key)
			return mapErr("finish idempotent", err)
		}
		body := resp.Body
		if body == nil {
			body = []byte{}
		}
		res, err := w.tx.ExecContext(ctx, `UPDATE idempotency_keys SET status_code = ?, body = ? WHERE key = ?`,
			resp.StatusCode, body, key)
		return affectedOne("finish idempotent", res, err)
	})
}
