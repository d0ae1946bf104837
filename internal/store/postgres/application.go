package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

const appColumns = `id, uid, name, throttle_rate, metadata, created_at, updated_at`

// CreateApplication inserts app; ErrConflict if its ID or UID is taken.
func (db *DB) CreateApplication(ctx context.Context, app *herald.Application) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `INSERT INTO applications (`+appColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		app.ID, nullText(app.UID), app.Name, app.ThrottleRate, jsonText(app.Metadata), ms(app.CreatedAt), ms(app.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create application: %w", db.mapCallErr(ctx, err))
	}
	return nil
}

// GetApplication finds an application by ID or UID.
func (db *DB) GetApplication(ctx context.Context, idOrUID string) (*herald.Application, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	// An ID match wins over a UID that happens to equal another app's ID.
	rows, err := db.pool.Query(ctx, `SELECT `+appColumns+` FROM applications
		WHERE id = $1 OR uid = $1 ORDER BY (id = $1) DESC LIMIT 1`, idOrUID)
	if err != nil {
		return nil, fmt.Errorf("get application: %w", db.mapCallErr(ctx, err))
	}
	app, err := pgx.CollectExactlyOneRow(rows, scanApp)
	if err != nil {
		return nil, fmt.Errorf("get application %s: %w", idOrUID, db.mapCallErr(ctx, err))
	}
	return app, nil
}

// ListApplications lists applications by ID.
func (db *DB) ListApplications(ctx context.Context, page store.Page) ([]herald.Application, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var q query
	q.add(`SELECT `, appColumns, ` FROM applications WHERE true`)
	q.page("id", page, false)
	rows, err := db.pool.Query(ctx, q.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", db.mapCallErr(ctx, err))
	}
	apps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (herald.Application, error) {
		app, err := scanApp(r)
		if err != nil {
			return herald.Application{}, err
		}
		return *app, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", db.mapCallErr(ctx, err))
	}
	return apps, nil
}

// UpdateApplication replaces every field but ID and CreatedAt.
func (db *DB) UpdateApplication(ctx context.Context, app *herald.Application) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `UPDATE applications SET uid = $2, name = $3, throttle_rate = $4,
		metadata = $5, updated_at = $6 WHERE id = $1`,
		app.ID, nullText(app.UID), app.Name, app.ThrottleRate, jsonText(app.Metadata), ms(app.UpdatedAt))
	if err != nil {
		return fmt.Errorf("update application: %w", db.mapCallErr(ctx, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("update application %s: %w", app.ID, herald.ErrNotFound)
	}
	return nil
}

// DeleteApplication deletes the application with its endpoints, messages,
// deliveries, attempts and tokens, in one transaction.
func (db *DB) DeleteApplication(ctx context.Context, id string) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var found bool
		err := tx.QueryRow(ctx, `SELECT true FROM applications WHERE id = $1 FOR UPDATE`, id).Scan(&found)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		// Endpoints before deliveries, the order Record locks them in.
		b.Queue(`SELECT count(*) FROM (SELECT id FROM endpoints WHERE app_id = $1 ORDER BY id FOR UPDATE) AS l`, id)
		const ofApp = `msg_id IN (SELECT id FROM messages WHERE app_id = $1)`
		b.Queue(`DELETE FROM attempts WHERE `+ofApp, id)
		b.Queue(`DELETE FROM deliveries WHERE `+ofApp, id)
		for _, table := range []string{"messages", "tokens", "endpoints"} {
			b.Queue(`DELETE FROM `+table+` WHERE app_id = $1`, id)
		}
		b.Queue(`DELETE FROM applications WHERE id = $1`, id)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("delete application %s: %w", id, db.mapCallErr(ctx, err))
	}
	return nil
}

func scanApp(row pgx.CollectableRow) (*herald.Application, error) {
	var (
		app                  herald.Application
		uid, metadata        *string
		createdAt, updatedAt int64
	)
	if err := row.Scan(&app.ID, &uid, &app.Name, &app.ThrottleRate, &metadata, &createdAt, &updatedAt); err != nil {
		return nil, err
	}
	app.UID = fromNullText(uid)
	app.CreatedAt, app.UpdatedAt = fromMS(createdAt), fromMS(updatedAt)
	if err := fromJSON(metadata, &app.Metadata); err != nil {
		return nil, err
	}
	return &app, nil
}
