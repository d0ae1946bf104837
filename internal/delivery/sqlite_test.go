package delivery

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// openSQLite opens a real SQLite store in a temporary directory with one
// application and the given endpoints.
func openSQLite(t testing.TB, endpoints ...herald.Endpoint) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "herald.db")})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	now := time.Now()
	if err := db.CreateApplication(ctx, &herald.Application{ID: testApp, Name: "test", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatalf("create application: %v", err)
	}
	for _, ep := range endpoints {
		ep.CreatedAt, ep.UpdatedAt = now, now
		if err := db.CreateEndpoint(ctx, &ep); err != nil {
			t.Fatalf("create endpoint: %v", err)
		}
	}
	return db
}

// recordSignal wraps a store and signals after every Record, so tests wait
// for results instead of polling for them.
type recordSignal struct {
	Store
	recorded chan struct{}
}

func (s recordSignal) Record(ctx context.Context, results []store.Result) ([]string, error) {
	disabled, err := s.Store.Record(ctx, results)
	select {
	case s.recorded <- struct{}{}:
	default:
	}
	return disabled, err
}

func startSQLiteEngine(t testing.TB, db *sqlite.DB, cfg Config) *Engine {
	t.Helper()
	cfg.Store = recordSignal{Store: db, recorded: recorded(db)}
	if cfg.AllowNetworks == nil {
		cfg.AllowNetworks = loopback
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Hour
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	})
	return e
}

var (
	signalsMu sync.Mutex
	signals   = map[*sqlite.DB]chan struct{}{}
)

// recorded returns the channel signalled after each Record on db.
func recorded(db *sqlite.DB) chan struct{} {
	signalsMu.Lock()
	defer signalsMu.Unlock()
	if signals[db] == nil {
		signals[db] = make(chan struct{}, 1)
	}
	return signals[db]
}

// waitStatus waits until the store holds the delivery of msgID to
// endpointID with status want.
func waitStatus(t *testing.T, db *sqlite.DB, msgID, endpointID string, want herald.MessageStatus) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		dests, err := db.ListMessageDestinations(context.Background(), testApp, msgID, store.Page{Limit: 10})
		if err != nil {
			t.Fatalf("list destinations: %v", err)
		}
		for _, d := range dests {
			if d.Endpoint.ID == endpointID && d.Status == want {
				return
			}
		}
		select {
		case <-recorded(db):
		case <-deadline.C:
			t.Fatalf("delivery of %s to %s never reached %v (destinations %+v)", msgID, endpointID, want, dests)
		}
	}
}

func TestSQLiteDeliverAndRetry(t *testing.T) {
	t.Parallel()
	srv, _ := sink(t, func(w http.ResponseWriter, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	ep := endpoint("ep_sqlite", srv.URL)
	db := openSQLite(t, ep)
	e := startSQLiteEngine(t, db, Config{Policy: herald.Policy{Schedule: []time.Duration{10 * time.Millisecond}, Jitter: -1}})
	msg := message("a", `{"n":1}`)
	if err := e.Publish(context.Background(), msg); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	waitStatus(t, db, msg.ID, ep.ID, herald.StatusSuccess)

	atts, err := db.ListAttempts(context.Background(), testApp, store.AttemptFilter{Page: store.Page{Limit: 10}, MsgID: msg.ID})
	if err != nil {
		t.Fatalf("list attempts: %v", err)
	}
	if len(atts) != 2 || atts[0].StatusCode != 200 || atts[1].StatusCode != 500 {
		t.Fatalf("attempts = %+v, want 500 then 200 (listed newest first)", atts)
	}
	if atts[0].RequestHeaders["webhook-id"] != msg.ID {
		t.Errorf("recorded webhook-id = %q, want %q", atts[0].RequestHeaders["webhook-id"], msg.ID)
	}
}

func TestSQLiteGoneDisablesEndpoint(t *testing.T) {
	t.Parallel()
	srv, _ := sink(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusGone) })
	ep := endpoint("ep_sqlite_gone", srv.URL)
	db := openSQLite(t, ep)
	e := startSQLiteEngine(t, db, Config{})
	msg := message("a", `{}`)
	if err := e.Publish(context.Background(), msg); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	waitStatus(t, db, msg.ID, ep.ID, herald.StatusFail)
	stored, err := db.GetEndpoint(context.Background(), testApp, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !stored.Disabled {
		t.Errorf("endpoint after 410: enabled, want disabled")
	}
}

func TestSQLiteDeliveredAfterRestart(t *testing.T) {
	t.Parallel()
	url, got, release := hanging(t)
	ep := endpoint("ep_sqlite_restart", url)
	db := openSQLite(t, ep)
	first := startSQLiteEngine(t, db, Config{EndpointConcurrency: 1, NodeID: "node_a"})
	var msgs []*herald.Message
	for i := range 3 {
		msg := message("a", `{}`)
		if err := first.Publish(context.Background(), msg); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		msgs = append(msgs, msg)
		if i == 0 {
			<-got // in flight; the others queue behind it
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = first.Stop(ctx)
	release()

	startSQLiteEngine(t, db, Config{NodeID: "node_b"})
	for _, m := range msgs {
		waitStatus(t, db, m.ID, ep.ID, herald.StatusSuccess)
	}
}
