package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/storetest"
)

func TestSecretsAtRest(t *testing.T) {
	storetest.RunSecrets(t, storetest.SecretsEngine{
		NewDB: func(t *testing.T) string { return newSchema(t) },
		Open: func(t *testing.T, schema string, keys *secretbox.Keyring) store.Store {
			db, err := Open(context.Background(), Config{URL: testURL(), Schema: schema, MaxConns: 4, Keys: keys})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			return db
		},
		Raw: func(t *testing.T, schema string) []string {
			t.Helper()
			conn, err := pgx.Connect(t.Context(), pgtest.SchemaURL(t, testURL(), schema))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			rows, err := conn.Query(t.Context(), `SELECT secrets FROM endpoints WHERE secrets IS NOT NULL
				UNION ALL SELECT verifier FROM sources`)
			if err != nil {
				t.Fatal(err)
			}
			out, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			return out
		},
	})
}
