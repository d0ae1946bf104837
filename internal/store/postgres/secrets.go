package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/secretbox"
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
// one short transaction, and returns how many rows it rewrote. A row
// another transaction holds (an update, a record batch) is waited for,
// not skipped, so it may run while Herald serves and still leaves no row
// behind. A row rewritten meanwhile under the primary key drops out, so a
// short batch does not prove none are left: callers loop until it returns
// fewer than limit, then recount with SecretKeyIDs.
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
	batch := func() error {
		return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
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
	}
	err := batch()
	if transient(err) {
		err = batch()
	}
	if err != nil {
		return 0, fmt.Errorf("reencrypt secrets: %w", db.mapCallErr(ctx, err))
	}
	return n, nil
}

// reencryptTable rewrites up to limit stale rows of table. It locks them
// in id order, waiting for rows other transactions hold (SKIP LOCKED
// would leave them under the old key while reporting success); each
// UPDATE writes a whole sealed value, and the caller's transaction commits
// the batch at once, so an interrupted run leaves every row readable.
func (db *DB) reencryptTable(ctx context.Context, tx pgx.Tx, table, column string, aad func(string) string, limit int) (int, error) {
	prefix := db.cfg.Keys.PrimaryPrefix()
	// table and column come from reencryptTables, never from input.
	rows, err := tx.Query(ctx, `SELECT id, `+column+` FROM `+table+`
		WHERE `+column+` IS NOT NULL AND left(`+column+`, $1) <> $2
		ORDER BY id LIMIT $3 FOR UPDATE`, len(prefix), prefix, limit)
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

// keyCheckSamples is how many rows CheckSecretKey tries per key id: one
// damaged row does not stop Herald, and a wrong key opens none.
const keyCheckSamples = 3

// CheckSecretKey tries the keyring on a few of the rows sealed under
// keyID, and fails unless one of them opens: the key given under that id
// is then not the one that sealed them, and every read of those rows
// would fail. Nil when no row is sealed under keyID.
func (db *DB) CheckSecretKey(ctx context.Context, keyID string) error {
	ctx, cancel := db.callCtx(ctx)
	defer cancel()
	prefix := secretbox.SealedPrefix(keyID)
	var firstErr error
	tried := 0
	for _, t := range reencryptTables {
		// table and column come from reencryptTables, never from input.
		rows, err := db.pool.Query(ctx, `SELECT id, `+t.column+` FROM `+t.table+`
			WHERE `+t.column+` IS NOT NULL AND left(`+t.column+`, $1) = $2 LIMIT $3`,
			len(prefix), prefix, keyCheckSamples-tried)
		if err != nil {
			return fmt.Errorf("check secret key: %w", db.mapCallErr(ctx, err))
		}
		type row struct{ ID, Value string }
		sample, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
		if err != nil {
			return fmt.Errorf("check secret key: %w", db.mapCallErr(ctx, err))
		}
		for _, r := range sample {
			tried++
			if _, err := db.cfg.Keys.Open(r.Value, t.aad(r.ID)); err == nil {
				return nil
			} else if firstErr == nil {
				firstErr = fmt.Errorf("%s %s: %w", t.table, r.ID, err)
			}
		}
		if tried >= keyCheckSamples {
			break
		}
	}
	if firstErr != nil {
		return fmt.Errorf("none of the %d rows tried opens: %w", tried, firstErr)
	}
	return nil
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
