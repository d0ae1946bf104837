package sqlite

import (
	"context"
	"time"
)

// RevokeSession records session id as ended until expires, keeping the
// later expiry if it was revoked already.
func (db *DB) RevokeSession(ctx context.Context, id []byte, expires time.Time) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		_, err := w.tx.ExecContext(ctx, `INSERT INTO revoked_sessions (id, expires_at) VALUES (?, ?)
			ON CONFLICT (id) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`, id, ms(expires))
		return mapErr("revoke session", err)
	})
}

// SessionRevoked reports whether session id was revoked.
func (db *DB) SessionRevoked(ctx context.Context, id []byte) (bool, error) {
	var revoked bool
	err := db.reader.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_sessions WHERE id = ?)`, id).Scan(&revoked)
	if err != nil {
		return false, mapErr("session revoked", err)
	}
	return revoked, nil
}
