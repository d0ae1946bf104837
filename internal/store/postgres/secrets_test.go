package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/herald"
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

// TestReencryptWaitsForLockedRows holds one stale row in another
// transaction (a node updating that endpoint) while ReencryptSecrets runs:
// it waits for the row instead of skipping it, so no row is left under the
// old key once the batch comes back. It used to skip the row with SKIP
// LOCKED and come back short, which its callers took for done.
func TestReencryptWaitsForLockedRows(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	schema := newSchema(t)
	oldKey, newKey := keyWithID(t, "old"), keyWithID(t, "new")
	oldDB := openSchema(t, schema, func(c *Config) { c.Keys = mustKeyring(t, oldKey) })
	now := time.Now().UTC().Truncate(time.Millisecond)
	app := &herald.Application{ID: herald.NewID(herald.PrefixApp, now), Name: "a", Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	if err := oldDB.CreateApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	var eps []*herald.Endpoint
	for range 3 {
		ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: app.ID, URL: "https://example.com/",
			Secrets: []herald.Secret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now}
		if err := oldDB.CreateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
		eps = append(eps, ep)
	}
	db := openSchema(t, schema, func(c *Config) { c.Keys = mustKeyring(t, newKey, oldKey) })

	tx, err := oldDB.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `UPDATE endpoints SET updated_at = updated_at + 1 WHERE id = $1`, eps[1].ID); err != nil {
		t.Fatal(err)
	}
	var xid string
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&xid); err != nil {
		t.Fatal(err)
	}
	var n int
	returned := make(chan error, 1)
	go func() {
		var err error
		n, err = db.ReencryptSecrets(ctx, 500)
		returned <- err
	}()
	waitBlocked(t, db, returned, "reencrypt", `SELECT count(*) FROM pg_locks
		WHERE locktype = 'transactionid' AND NOT granted AND transactionid::text = $1`, xid)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-returned; err != nil || n != 3 {
		t.Fatalf("reencrypt: got %d rows, %v; want 3, nil", n, err)
	}
	ids, err := db.SecretKeyIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids["new"] != 3 {
		t.Errorf("key ids after reencrypt: got %v, want map[new:3]", ids)
	}
	for _, ep := range eps {
		if got, err := db.GetEndpoint(ctx, app.ID, ep.ID); err != nil || got.Secrets[0].Key != ep.Secrets[0].Key {
			t.Errorf("endpoint %s after reencrypt: got %v, %v", ep.ID, got, err)
		}
	}
}

func keyWithID(t *testing.T, id string) string {
	t.Helper()
	k, err := secretbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return id + ":" + k
}

func mustKeyring(t *testing.T, primary string, old ...string) *secretbox.Keyring {
	t.Helper()
	kr, err := secretbox.NewKeyring(primary, old...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}
