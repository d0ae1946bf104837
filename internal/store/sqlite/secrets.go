package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
)

// Endpoint secrets and source verifiers are sealed with Config.Keys where
// they are converted to and from their columns, bound to the row's ID.

var _ store.Reencrypter = (*DB)(nil)

func endpointAAD(id string) string { return "endpoint:" + id }
func sourceAAD(id string) string   { return "source:" + id }

// sealSecrets seals an endpoint's secrets column; NULL stays NULL.
func (db *DB) sealSecrets(id string, v sql.NullString) (sql.NullString, error) {
	if !v.Valid {
		return v, nil
	}
	s, err := db.keys.Seal(v.String, endpointAAD(id))
	if err != nil {
		return sql.NullString{}, fmt.Errorf("endpoint %s: seal secrets: %w", id, err)
	}
	return sql.NullString{String: s, Valid: true}, nil
}

// openSecrets is the inverse of sealSecrets.
func (db *DB) openSecrets(id string, v sql.NullString) (sql.NullString, error) {
	if !v.Valid {
		return v, nil
	}
	s, err := db.keys.Open(v.String, endpointAAD(id))
	if err != nil {
		return sql.NullString{}, fmt.Errorf("endpoint %s: secrets: %w", id, err)
	}
	return sql.NullString{String: s, Valid: true}, nil
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
// one short transaction, and returns how many rows it rewrote. Callers
// loop until it returns fewer than limit.
func (db *DB) ReencryptSecrets(ctx context.Context, limit int) (int, error) {
	if db.keys == nil {
		return 0, errors.New("reencrypt secrets: no encryption key configured")
	}
	if limit <= 0 {
		return 0, nil
	}
	prefix := db.keys.PrimaryPrefix()
	var n int
	err := db.write(ctx, func(ctx context.Context, w *wtx) error {
		n = 0
		for _, t := range reencryptTables {
			if n >= limit {
				break
			}
			done, err := db.reencryptTable(ctx, w.tx, t.table, t.column, t.aad, prefix, limit-n)
			n += done
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

func (db *DB) reencryptTable(ctx context.Context, tx *sql.Tx, table, column string, aad func(string) string, prefix string, limit int) (int, error) {
	what := "reencrypt " + table
	// table and column come from reencryptTables, never from input.
	rows, err := tx.QueryContext(ctx, `SELECT id, `+column+` FROM `+table+`
		WHERE `+column+` IS NOT NULL AND substr(`+column+`, 1, ?) <> ? LIMIT ?`, len(prefix), prefix, limit)
	if err != nil {
		return 0, mapErr(what, err)
	}
	type row struct{ id, value string }
	var stale []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.value); err != nil {
			rows.Close()
			return 0, mapErr(what, err)
		}
		stale = append(stale, r)
	}
	if err := rows.Close(); err != nil {
		return 0, mapErr(what, err)
	}
	if err := rows.Err(); err != nil {
		return 0, mapErr(what, err)
	}
	for _, r := range stale {
		plain, err := db.keys.Open(r.value, aad(r.id))
		if err != nil {
			return 0, fmt.Errorf("%s: %s: %w", what, r.id, err)
		}
		sealed, err := db.keys.Seal(plain, aad(r.id))
		if err != nil {
			return 0, fmt.Errorf("%s: %s: %w", what, r.id, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET `+column+` = ? WHERE id = ?`, sealed, r.id); err != nil {
			return 0, mapErr(what, err)
		}
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
	prefix := secretbox.SealedPrefix(keyID)
	var firstErr error
	tried := 0
	for _, t := range reencryptTables {
		// table and column come from reencryptTables, never from input.
		rows, err := db.reader.QueryContext(ctx, `SELECT id, `+t.column+` FROM `+t.table+`
			WHERE `+t.column+` IS NOT NULL AND substr(`+t.column+`, 1, ?) = ? LIMIT ?`,
			len(prefix), prefix, keyCheckSamples-tried)
		if err != nil {
			return mapErr("check secret key", err)
		}
		for rows.Next() {
			var id, value string
			if err := rows.Scan(&id, &value); err != nil {
				rows.Close()
				return mapErr("check secret key", err)
			}
			tried++
			if _, err := db.keys.Open(value, t.aad(id)); err == nil {
				rows.Close()
				return nil
			} else if firstErr == nil {
				firstErr = fmt.Errorf("%s %s: %w", t.table, id, err)
			}
		}
		if err := rows.Close(); err != nil {
			return mapErr("check secret key", err)
		}
		if err := rows.Err(); err != nil {
			return mapErr("check secret key", err)
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
	rows, err := db.reader.QueryContext(ctx, `SELECT CASE
			WHEN substr(v, 1, 7) = 'enc:v1:' THEN substr(v, 8, instr(substr(v, 8), ':') - 1)
			WHEN substr(v, 1, 4) = 'enc:' THEN substr(v, 1, 8)
			ELSE '' END AS kid, count(*)
		FROM (SELECT secrets AS v FROM endpoints WHERE secrets IS NOT NULL
			UNION ALL SELECT verifier FROM sources)
		GROUP BY kid`)
	if err != nil {
		return nil, mapErr("secret key ids", err)
	}
	defer rows.Close()
	out := make(map[string]int64)
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, mapErr("secret key ids", err)
		}
		out[id] = n
	}
	return out, mapErr("secret key ids", rows.Err())
}
