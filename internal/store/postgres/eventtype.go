package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

const eventTypeColumns = `name, description, archived, deprecated, feature_flag, schemas, created_at, updated_at`

// CreateEventType inserts et; ErrConflict if its name is taken.
func (db *DB) CreateEventType(ctx context.Context, et *herald.EventType) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `INSERT INTO event_types (`+eventTypeColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		et.Name, et.Description, et.Archived, et.Deprecated, et.FeatureFlag, []byte(et.Schemas), ms(et.CreatedAt), ms(et.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create event type: %w", db.mapCallErr(ctx, err))
	}
	return nil
}

// GetEventType finds an event type by name, archived or not.
func (db *DB) GetEventType(ctx context.Context, name string) (*herald.EventType, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+eventTypeColumns+` FROM event_types WHERE name = $1`, name)
	if err != nil {
		return nil, fmt.Errorf("get event type: %w", db.mapCallErr(ctx, err))
	}
	et, err := pgx.CollectExactlyOneRow(rows, scanEventType)
	if err != nil {
		return nil, fmt.Errorf("get event type %s: %w", name, db.mapCallErr(ctx, err))
	}
	return &et, nil
}

// ListEventTypes lists event types by name, leaving out archived ones
// unless includeArchived.
func (db *DB) ListEventTypes(ctx context.Context, page store.Page, includeArchived bool) ([]herald.EventType, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var q query
	q.add(`SELECT `, eventTypeColumns, ` FROM event_types WHERE true`)
	if !includeArchived {
		q.add(` AND NOT archived`)
	}
	q.page("name", page, false)
	rows, err := db.pool.Query(ctx, q.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list event types: %w", db.mapCallErr(ctx, err))
	}
	ets, err := pgx.CollectRows(rows, scanEventType)
	if err != nil {
		return nil, fmt.Errorf("list event types: %w", db.mapCallErr(ctx, err))
	}
	return ets, nil
}

// UpdateEventType replaces every field but Name and CreatedAt.
func (db *DB) UpdateEventType(ctx context.Context, et *herald.EventType) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `UPDATE event_types SET description = $2, archived = $3, deprecated = $4,
		feature_flag = $5, schemas = $6, updated_at = $7 WHERE name = $1`,
		et.Name, et.Description, et.Archived, et.Deprecated, et.FeatureFlag, []byte(et.Schemas), ms(et.UpdatedAt))
	if err != nil {
		return fmt.Errorf("update event type: %w", db.mapCallErr(ctx, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("update event type %s: %w", et.Name, herald.ErrNotFound)
	}
	return nil
}

// DeleteEventType deletes an event type for good (archiving is an update).
func (db *DB) DeleteEventType(ctx context.Context, name string) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `DELETE FROM event_types WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("delete event type: %w", db.mapCallErr(ctx, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete event type %s: %w", name, herald.ErrNotFound)
	}
	return nil
}

func scanEventType(row pgx.CollectableRow) (herald.EventType, error) {
	var (
		et                   herald.EventType
		schemas              []byte
		createdAt, updatedAt int64
	)
	if err := row.Scan(&et.Name, &et.Description, &et.Archived, &et.Deprecated, &et.FeatureFlag,
		&schemas, &createdAt, &updatedAt); err != nil {
		return herald.EventType{}, err
	}
	if schemas != nil {
		et.Schemas = json.RawMessage(schemas)
	}
	et.CreatedAt, et.UpdatedAt = fromMS(createdAt), fromMS(updatedAt)
	return et, nil
}
