package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/storetest"
)

func TestSecretsAtRest(t *testing.T) {
	t.Parallel()
	storetest.RunSecrets(t, storetest.SecretsEngine{
		NewDB: func(t *testing.T) string { return filepath.Join(t.TempDir(), "herald.db") },
		Open: func(t *testing.T, path string, keys *secretbox.Keyring) store.Store {
			db, err := Open(t.Context(), Config{Path: path, Keys: keys})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			return db
		},
		Raw: func(t *testing.T, path string) []string {
			t.Helper()
			raw, err := sql.Open(DriverName, "file:"+path+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			rows, err := raw.QueryContext(t.Context(), `SELECT secrets FROM endpoints WHERE secrets IS NOT NULL
				UNION ALL SELECT verifier FROM sources`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var v string
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				out = append(out, v)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		},
	})
}
