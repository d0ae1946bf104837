package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

const appColumns = `id, uid, name, throttle_rate, metadata, created_at, updated_at`

// CreateApplication inserts app; ErrConflict if its ID or UID is taken.
func (db *DB) CreateApplication(ctx context.Context, app *herald.Application) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		_, err := w.tx.ExecContext(ctx, `INSERT INTO applications (`+appColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			app.ID, nullString(app.UID), app.Name, app.ThrottleRate, jsonMap(app.Metadata),
			ms(app.CreatedAt), ms(app.UpdatedAt))
		return mapErr("create application", err)
	})
}

// GetApplication finds an application by ID or, failing that, by UID.
func (db *DB) GetApplication(ctx context.Context, idOrUID string) (*herald.Application, error) {
	app, err := scanApplication(db.reader.QueryRowContext(ctx, `SELECT `+appColumns+` FROM applications WHERE id = ?`, idOrUID))
	if errNoRows(err) {
		app, err = scanApplication(db.reader.QueryRowContext(ctx, `SELECT `+appColumns+` FROM applications WHERE uid = ?`, idOrUID))
	}
	if err != nil {
		return nil, mapErr("get application", err)
	}
	return app, nil
}

// ListApplications lists applications by ID.
func (db *DB) ListApplications(ctx context.Context, page store.Page) ([]herald.Application, error) {
	var w where
	order := w.page("id", page, false)
	rows, err := db.reader.QueryContext(ctx, `SELECT `+appColumns+` FROM applications`+w.String()+order, w.args...)
	if err != nil {
		return nil, mapErr("list applications", err)
	}
	defer rows.Close()
	var out []herald.Application
	for rows.Next() {
		app, err := scanApplication(rows)
		if err != nil {
			return nil, mapErr("list applications", err)
		}
		out = append(out, *app)
	}
	return out, mapErr("list applications", rows.Err())
}

// UpdateApplication replaces every field but ID and CreatedAt.
func (db *DB) UpdateApplication(ctx context.Context, app *herald.Application) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		res, err := w.tx.ExecContext(ctx, `UPDATE applications SET uid = ?, name = ?, throttle_rate = ?,
			metadata = ?, updated_at = ? WHERE id = ?`,
			nullString(app.UID), app.Name, app.ThrottleRate, jsonMap(app.Metadata), ms(app.UpdatedAt), app.ID)
		return affectedOne("update application", res, err)
	})
}

// DeleteApplication deletes the application; its endpoints, messages,
// deliveries, attempts and tokens go with it.
func (db *DB) DeleteApplication(ctx context.Context, id string) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		res, err := w.tx.ExecContext(ctx, `DELETE FROM applications WHERE id = ?`, id)
		return affectedOne("delete application", res, err)
	})
}

type scanner interface{ Scan(dest ...any) error }

func scanApplication(s scanner) (*herald.Application, error) {
	var (
		app         herald.Application
		uid, meta   sql.NullString
		created, up int64
	)
	if err := s.Scan(&app.ID, &uid, &app.Name, &app.ThrottleRate, &meta, &created, &up); err != nil {
		return nil, err
	}
	app.UID = uid.String
	app.CreatedAt, app.UpdatedAt = fromMS(created), fromMS(up)
	var err error
	if app.Metadata, err = parseMap(meta); err != nil {
		return nil, err
	}
	return &app, nil
}

// affectedOne maps err, and a statement that changed no row to
// ErrNotFound.
func affectedOne(what string, res sql.Result, err error) error {
	if err != nil {
		return mapErr(what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, herald.ErrNotFound)
	}
	return nil
}
