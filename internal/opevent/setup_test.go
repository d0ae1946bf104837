package opevent

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

func openSQLite(t *testing.T) store.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "herald.db")})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestSetupIsIdempotentAndKeepsTheSecret(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openSQLite(t)
	now := time.Now()
	app, ep, err := Setup(ctx, st, "https://ops.example.com/a", now)
	if err != nil {
		t.Fatal(err)
	}
	if app.UID != AppUID || ep.UID != EndpointUID || ep.URL != "https://ops.example.com/a" || len(ep.Secrets) != 1 {
		t.Fatalf("got app %+v, endpoint %+v", app, ep)
	}
	// An operator disables the endpoint; a restart with a new URL moves it
	// but neither re-enables it nor changes its secret.
	_, err = st.UpdateEndpoint(ctx, ep.AppID, ep.ID, func(ep *herald.Endpoint) error {
		ep.Disabled = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	app2, ep2, err := Setup(ctx, st, "https://ops.example.com/b", now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if app2.ID != app.ID || ep2.ID != ep.ID {
		t.Errorf("second setup made app %s endpoint %s, want the first's %s %s", app2.ID, ep2.ID, app.ID, ep.ID)
	}
	stored, err := st.GetEndpoint(ctx, app.ID, EndpointUID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.URL != "https://ops.example.com/b" || !stored.Disabled || stored.Secrets[0].Key != ep.Secrets[0].Key {
		t.Errorf("after the second setup: url %s, disabled %v, secret kept %v; want the new URL, disabled, kept",
			stored.URL, stored.Disabled, stored.Secrets[0].Key == ep.Secrets[0].Key)
	}
	for _, typ := range Types {
		if _, err := st.GetEventType(ctx, typ.Name); err != nil {
			t.Errorf("event type %s: %v", typ.Name, err)
		}
	}
}

func TestSetupRejectsBadURL(t *testing.T) {
	t.Parallel()
	st := openSQLite(t)
	for _, u := range []string{"", "ops.example.com", "ftp://ops.example.com/", "http://", "::"} {
		if _, _, err := Setup(context.Background(), st, u, time.Now()); err == nil {
			t.Errorf("Setup(%q) succeeded, want an error", u)
		}
	}
	if _, err := st.GetApplication(context.Background(), AppUID); err == nil {
		t.Errorf("a rejected URL still created the operational application")
	}
}

// TestSetupOnNodesAtOnce starts several nodes on one PostgreSQL database at
// the same time: they must end up sharing one application and one
// endpoint.
func TestSetupOnNodesAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := pgtest.NewSchema(t)
	first, err := postgres.Open(ctx, postgres.Config{URL: pgtest.URL(), Schema: schema, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.Close() })
	if err := first.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const nodes = 4
	apps, eps := make([]*herald.Application, nodes), make([]*herald.Endpoint, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		db, err := postgres.Open(ctx, postgres.Config{URL: pgtest.URL(), Schema: schema, MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		wg.Go(func() {
			var err error
			if apps[i], eps[i], err = Setup(ctx, db, "https://ops.example.com/", time.Now()); err != nil {
				t.Errorf("node %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i := 1; i < nodes; i++ {
		if apps[i].ID != apps[0].ID || eps[i].ID != eps[0].ID || eps[i].Secrets[0].Key != eps[0].Secrets[0].Key {
			t.Errorf("node %d set up app %s endpoint %s, node 0 app %s endpoint %s", i, apps[i].ID, eps[i].ID, apps[0].ID, eps[0].ID)
		}
	}
}
