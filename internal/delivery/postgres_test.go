package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
)

// openPostgres opens one node's connection to the shared schema.
func openPostgres(t *testing.T, schema string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), postgres.Config{URL: pgtest.URL(), Schema: schema, MaxConns: 4})
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// twoNodes opens two connections to a fresh schema, and creates the test
// application and an endpoint epID at url through the first.
func twoNodes(t *testing.T, epID, url string) (dbA, dbB *postgres.DB, ep herald.Endpoint) {
	t.Helper()
	ctx := context.Background()
	schema := pgtest.NewSchema(t)
	dbA, dbB = openPostgres(t, schema), openPostgres(t, schema)
	if err := dbA.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	ep = endpoint(epID, url)
	now := time.Now()
	ep.CreatedAt, ep.UpdatedAt = now, now
	if err := dbA.CreateApplication(ctx, &herald.Application{ID: testApp, Name: "test", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := dbA.CreateEndpoint(ctx, &ep); err != nil {
		t.Fatal(err)
	}
	return dbA, dbB, ep
}

// pgStore is a node's store with a signal after every Record, and the
// database's wake-ups passed through (embedding an interface would hide
// them).
type pgStore struct {
	recordSignal
	db *postgres.DB
}

func (s pgStore) Wakeups() <-chan struct{} { return s.db.Wakeups() }

// TestPostgresOtherNodeTakesOver runs two nodes on one database: the first
// stops with deliveries it could not send, and the second, idle and woken
// by the database, sends them.
func TestPostgresOtherNodeTakesOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, got, release := hanging(t)
	dbA, dbB, _ := twoNodes(t, "ep_pg", url)

	recordedB := make(chan struct{}, 1)
	startEngine2(t, Config{NodeID: "node_b",
		Store: pgStore{recordSignal: recordSignal{Store: dbB, recorded: recordedB}, db: dbB}})
	nodeA := startEngine2(t, Config{NodeID: "node_a", EndpointConcurrency: 1, Store: dbA})
	var msgs []*herald.Message
	for i := range 3 {
		msg := message("a", `{}`)
		if err := nodeA.Publish(ctx, msg); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		msgs = append(msgs, msg)
		if i == 0 {
			<-got
		}
	}
	cut, cancel := context.WithCancel(ctx)
	cancel()
	_ = nodeA.Stop(cut) // hands all three back to the database
	release()

	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for {
		done := 0
		for _, m := range msgs {
			dests, err := dbB.ListMessageDestinations(ctx, testApp, m.ID, store.Page{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(dests) == 1 && dests[0].Status == herald.StatusSuccess {
				done++
			}
		}
		if done == len(msgs) {
			return
		}
		select {
		case <-recordedB:
		case <-deadline.C:
			t.Fatalf("node b delivered %d of %d", done, len(msgs))
		}
	}
}

// startEngine2 starts an engine on cfg.Store that may reach loopback and,
// unless cfg says otherwise, polls only when woken. before runs between
// New and Start.
func startEngine2(t *testing.T, cfg Config, before ...func(*Engine)) *Engine {
	t.Helper()
	cfg.AllowNetworks = loopback
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Hour
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range before {
		f(e)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	})
	return e
}

// TestPostgresNodeKeepsTheDatabasesTime: a node whose clock is an hour
// behind writes leases by the database's time, so another node does not
// find the delivery it is sending already expired, and claim it too.
func TestPostgresNodeKeepsTheDatabasesTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, got, release := hanging(t)
	dbA, dbB, _ := twoNodes(t, "ep_skew", url)
	behind := func() time.Time { return time.Now().Add(-time.Hour) }
	nodeB := startEngine2(t, Config{NodeID: "node_b", LeaseDuration: time.Minute, Now: behind, Store: dbB})
	if off := time.Until(nodeB.now()); off.Abs() > time.Second {
		t.Fatalf("node b's time is %v from the database's after Start, want within a second", off)
	}
	msg := message("a", `{}`)
	if err := nodeB.Publish(ctx, msg); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	<-got // node b is sending it, under its lease
	jobs, err := dbA.Claim(ctx, "node_a", time.Now(), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 0 {
		t.Errorf("another node claimed the delivery node b is sending: its lease was written an hour in the past")
	}
	release()
}
