package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

const eventTypeColumns = `name, description, archived, deprecated, feature_flag, schemas, created_at, updated_at`

// CreateEventType inserts et; ErrConflict if its name exists.
func (db *DB) CreateEventType(ctx context.Context, et *herald.EventType) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		_, err := w.tx.ExecContext(ctx, `INSERT INTO event_types (`+eventTypeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			et.Name, et.Description, boolInt(et.Archived), boolInt(et.Deprecated), et.FeatureFlag,
			nullRaw(et.Schemas), ms(et.CreatedAt), ms(et.UpdatedAt))
		return mapErr("create event type", err)
	})
}

// GetEventType finds an event type by name.
func (db *DB) GetEventType(ctx context.Context, name string) (*herald.EventType, error) {
	row := db.reader.QueryRowContext(ctx, `SELECT `+eventTypeColumns+` FROM event_types WHERE name = ?`, name)
	et, err := scanEventType(row)
	if err != nil {
		return nil, mapErr("get event type", err)
	}
	return et, nil
}

// ListEventTypes lists event types by name, archived ones only when asked.
func (db *DB) ListEventTypes(ctx context.Context, page store.Page, includeArchived bool) ([]herald.EventType, error) {
	var w where
	if !includeArchived {
		w.add("archived = 0")
	}
	order := w.page("name", page, false)
	rows, err := db.reader.QueryContext(ctx, `SELECT `+eventTypeColumns+` FROM event_types`+w.String()+order, w.args...)
	if err != nil {
		return nil, mapErr("list event types", err)
	}
	defer rows.Close()
	var out []herald.EventType
	for rows.Next() {
		et, err := scanEventType(rows)
		if err != nil {
			return nil, mapErr("list event types", err)
		}
		out = append(out, *et)
	}
	return out, mapErr("list event types", rows.Err())
}

// UpdateEventType replaces every field but Name and CreatedAt.
func (db *DB) UpdateEventType(ctx context.Context, et *herald.EventType) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		res, err := w.tx.ExecContext(ctx, `UPDATE event_types SET description = ?, archived = ?, deprecated = ?,
			feature_flag = ?, schemas = ?, updated_at = ? WHERE name = ?`,
			et.Description, boolInt(et.Archived), boolInt(et.Deprecated), et.FeatureFlag, nullRaw(et.Schemas),
			ms(et.UpdatedAt), et.Name)
		return affectedOne("update event type", res, err)
	})
}

// DeleteEventType deletes the event type.
func (db *DB) DeleteEventType(ctx context.Context, name string) error {
	return db.write(ctx, func(ctx context.Context, w *wtx) error {
		res, err := w.tx.ExecContext(ctx, `DELETE FROM event_types WHERE name = ?`, name)
		return affectedOne("delete event type", res, err)
	})
}

func scanEventType(s scanner) (*herald.EventType, error) {
	var (
		et               herald.EventType
		archived, deprec int
		schemas          sql.NullString
		created, updated int64
	)
	err := s.Scan(&et.Name, &et.Description, &archived, &deprec, &et.FeatureFlag, &schemas, &created, &updated)
	if err != nil {
		return nil, err
	}
	et.Archived, et.Deprecated = archived != 0, deprec != 0
	if schemas.Valid {
		et.Schemas = json.RawMessage(schemas.String)
	}
	et.CreatedAt, et.UpdatedAt = fromMS(created), fromMS(updated)
	return &et, nil
}

// nullRaw stores raw JSON as text, or NULL when it is absent.
func nullRaw(b json.RawMessage) sql.NullString {
	return sql.NullString{String: string(b), Valid: b != nil}
}
