package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// Endpoint secrets and source verifiers are sealed with Config.Keys where
// they are converted to and from their columns, bound to the row's ID.

var _ store.Reencrypter = (*DB)(nil)

func endpointAAD(id string) string { return "endpoint:" + id }
func sourceAAD(id string) string   { return "source:" + id }

// sealSecrets encodes and seals ep's secrets column.
func (db *DB) sealSecrets(ep *herald.Endpoint) (string, error) {
	s, err := db.cfg.Keys.Seal(secretsText(ep.Secrets), endpointAAD(ep.ID))
	if err != nil {
		return "", fmt.Errorf("endpoint %s: seal secrets: %w", ep.ID, err)
	}
	return s, nil
}

// openSecrets opens a secrets column read back; NULL stays NULL.
func (db *DB) openSecrets(id string, v *string) (*string, error) {
	if v == nil {
		return nil, nil
	}
	s, err := db.cfg.Keys.Open(*v, endpointAAD(id))
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: secrets: %w", id, err)
	}
	return &s, nil
}

// reencryptTables are the sealed columns and how their rows are bound.
var reencryptTables = []struct {
	table, column string
	aad           func(id string) string
}{
	{"endpoints", "secrets", endpointAAD},
	{"sources", "verifier", sourceAAD},
}

// ReencryptSecrets seals up to limit endpoint secrets and source verifiers
// that are plaintext or sealed by an older key under the primary key, in
// one short transaction, and returns how many rows it rewrote. Rows
// another node is rewriting or updating are skipped, so it may run while
// Herald serves. Callers loop until it returns fewer than limit.
func (db *DB) ReencryptSecrets(ctx context.Context, limit int) (int, error) {
	if db.cfg.Keys == nil {
		return 0, errors.New("reencrypt secrets: no encryption key configured")
	}
	if limit <= 0 {
		return 0, nil
	}
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	var n int
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		n = 0
		for _, t := range reencryptTables {
			if n >= limit {
				break
			}
			done, err := db.reencryptTable(ctx, tx, t.table, t.column, t.aad, limit-n)
			n += done
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reencrypt secrets: %w", db.mapCallErr(ctx, err))
	}
	return n, nil
}

func (db *DB) reencryptTable(ctx context.Context, tx pgx.Tx, table, column string, aad func(string) string, limit int) (int, error) {
	prefix := db.cfg.Keys.PrimaryPrefix()
	// table and column come from reencryptTables, never from input.
	rows, err := tx.Query(ctx, `SELECT id, `+column+` FROM `+table+`
		WHERE `+column+` IS NOT NULL AND left(`+column+`, $1) <> $2
		LIMIT $3 FOR UPDATE SKIP LOCKED`, len(prefix), prefix, limit)
	if err != nil {
		return 0, err
	}
	type row struct{ ID, Value string }
	stale, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return 0, err
	}
	b := &pgx.Batch{}
	for _, r := range stale {
		plain, err := db.cfg.Keys.Open(r.Value, aad(r.ID))
		if err != nil {
			return 0, fmt.Errorf("%s %s: %w", table, r.ID, err)
		}
		sealed, err := db.cfg.Keys.Seal(plain, aad(r.ID))
		if err != nil {
			return 0, fmt.Errorf("%s %s: %w", table, r.ID, err)
		}
		b.Queue(`UPDATE `+table+` SET `+column+` = $1 WHERE id = $2`, sealed, r.ID)
	}
	if len(stale) == 0 {
		return 0, nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, err
	}
	return len(stale), nil
}

// SecretKeyIDs counts sealed columns by key id; "" counts plaintext.
func (db *DB) SecretKeyIDs(ctx context.Context) (map[string]int64, error) {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT CASE
			WHEN left(v, 7) = 'enc:v1:' THEN split_part(v, ':', 3)
			WHEN left(v, 4) = 'enc:' THEN left(v, 8)
			ELSE '' END AS kid, count(*)
		FROM (SELECT secrets AS v FROM endpoints WHERE secrets IS NOT NULL
			UNION ALL SELECT verifier FROM sources) AS sealed
		GROUP BY kid`)
	if err != nil {
		return nil, fmt.Errorf("secret key ids: %w", db.mapCallErr(ctx, err))
	}
	type count struct {
		ID string
		N  int64
	}
	counts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[count])
	if err != nil {
		return nil, fmt.Errorf("secret key ids: %w", db.mapCallErr(ctx, err))
	}
	out := make(map[string]int64, len(counts))
	for _, c := range counts {
		out[c.ID] = c.N
	}
	return out, nil
}
