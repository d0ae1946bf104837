package postgres

import (
	"context"
	"fmt"
	"time"
)

// RevokeSession records session id as ended until expires, keeping the
// later expiry if it was revoked already.
func (db *DB) RevokeSession(ctx context.Context, id []byte, expires time.Time) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `INSERT INTO revoked_sessions AS r (id, expires_at) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET expires_at = GREATEST(r.expires_at, EXCLUDED.expires_at)`, id, ms(expires))
	if err != nil {
		return fmt.Errorf("revoke session: %w", db.mapCallErr(ctx, err))
	}
	return nil
}

// SessionRevoked reports whether session id was revoked.
func (db *DB) SessionRevoked(ctx context.Context, id []byte) (bool, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var revoked bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_sessions WHERE id = $1)`, id).Scan(&revoked)
	if err != nil {
		return false, fmt.Errorf("session revoked: %w", db.mapCallErr(ctx, err))
	}
	return revoked, nil
}
