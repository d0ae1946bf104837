package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/store"
)

// world is an application with endpoints in one store.
type world struct {
	t   testing.TB
	db  *DB
	t0  time.Time
	app *herald.Application
	eps []*herald.Endpoint
}

func newWorld(t testing.TB, db *DB, endpoints int) *world {
	t.Helper()
	w := &world{t: t, db: db, t0: time.Now().UTC().Truncate(time.Millisecond)}
	w.app = &herald.Application{ID: herald.NewID(herald.PrefixApp, w.t0), Name: "acme", CreatedAt: w.t0, UpdatedAt: w.t0}
	if err := db.CreateApplication(context.Background(), w.app); err != nil {
		t.Fatalf("create application: %v", err)
	}
	for i := range endpoints {
		ep := &herald.Endpoint{
			ID: herald.NewID(herald.PrefixEndpoint, w.t0), AppID: w.app.ID, URL: fmt.Sprintf("https://example.com/%d", i),
			Secrets: []herald.Secret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, CreatedAt: w.t0, UpdatedAt: w.t0,
		}
		if err := db.CreateEndpoint(context.Background(), ep); err != nil {
			t.Fatalf("create endpoint: %v", err)
		}
		w.eps = append(w.eps, ep)
	}
	return w
}

// message builds an unsaved message created at at, with one pending
// delivery per endpoint due at at.
func (w *world) message(at time.Time) (*herald.Message, []herald.Delivery) {
	m := &herald.Message{
		ID: herald.NewID(herald.PrefixMessage, at), AppID: w.app.ID, EventType: "invoice.paid",
		Payload: []byte(`{"n": 1}`), CreatedAt: at,
	}
	ds := make([]herald.Delivery, len(w.eps))
	for i, ep := range w.eps {
		ds[i] = herald.Delivery{MsgID: m.ID, EndpointID: ep.ID, AppID: w.app.ID, Status: herald.StatusPending,
			NextAttemptAt: at, CreatedAt: at, UpdatedAt: at}
	}
	return m, ds
}

// publish stores a message created at at, due at once and unleased.
func (w *world) publish(at time.Time) *herald.Message {
	w.t.Helper()
	m, ds := w.message(at)
	if err := w.db.Publish(context.Background(), m, ds, "", time.Time{}); err != nil {
		w.t.Fatalf("publish: %v", err)
	}
	return m
}

func TestClaimLeasesAndRecoversExpiredLeases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	w := newWorld(t, db, 1)
	m, ds := w.message(w.t0)
	if err := db.Publish(ctx, m, ds, "node-a", w.t0.Add(time.Minute)); err != nil {
		t.Fatalf("publish leased: %v", err)
	}
	jobs, err := db.Claim(ctx, "node-b", w.t0.Add(30*time.Second), time.Minute, 10)
	if err != nil || len(jobs) != 0 {
		t.Fatalf("claim within node-a's lease: got %d jobs, %v; want none", len(jobs), err)
	}
	jobs, err = db.Claim(ctx, "node-b", w.t0.Add(time.Minute), time.Minute, 10)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim after the lease expired: got %d jobs, %v; want 1", len(jobs), err)
	}
	j := jobs[0]
	if j.Delivery.Trigger != herald.TriggerRecovery || j.Delivery.LeaseOwner != "node-b" {
		t.Errorf("recovered delivery: got trigger %d owner %q, want %d and node-b", j.Delivery.Trigger, j.Delivery.LeaseOwner, herald.TriggerRecovery)
	}
	if want := w.t0.Add(2 * time.Minute); !j.Delivery.NextAttemptAt.Equal(want) {
		t.Errorf("lease expiry: got %v, want %v", j.Delivery.NextAttemptAt, want)
	}
	if j.Message.ID != m.ID || string(j.Message.Payload) != `{"n": 1}` || j.Endpoint.ID != w.eps[0].ID {
		t.Errorf("job: got message %s payload %s endpoint %s, want %s and %s", j.Message.ID, j.Message.Payload, j.Endpoint.ID, m.ID, w.eps[0].ID)
	}
}

func TestReleaseLeasesMakesDeliveriesDue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	w := newWorld(t, db, 2)
	m, ds := w.message(w.t0)
	if err := db.Publish(ctx, m, ds, "node-a", w.t0.Add(time.Hour)); err != nil {
		t.Fatalf("publish leased: %v", err)
	}
	err := db.ReleaseLeases(ctx, "node-a", []store.DeliveryKey{{MsgID: m.ID, EndpointID: w.eps[0].ID}})
	if err != nil {
		t.Fatalf("release one lease: %v", err)
	}
	jobs, err := db.Claim(ctx, "node-b", w.t0, time.Minute, 10)
	if err != nil || len(jobs) != 1 || jobs[0].Delivery.EndpointID != w.eps[0].ID {
		t.Fatalf("claim after releasing one lease: got %d jobs, %v; want the released one", len(jobs), err)
	}
	if jobs[0].Delivery.Trigger != herald.TriggerScheduled {
		t.Errorf("released delivery: got trigger %d, want scheduled (a release is not a recovery)", jobs[0].Delivery.Trigger)
	}
	if err := db.ReleaseLeases(ctx, "node-a", nil); err != nil {
		t.Fatalf("release all leases: %v", err)
	}
	jobs, err = db.Claim(ctx, "node-b", w.t0, time.Minute, 10)
	if err != nil || len(jobs) != 1 || jobs[0].Delivery.EndpointID != w.eps[1].ID {
		t.Fatalf("claim after releasing all leases: got %d jobs, %v; want the other delivery", len(jobs), err)
	}
}

// TestConcurrentNodesNeverClaimTheSameDelivery runs two stores, as two
// Herald nodes on one database, claiming the same backlog at once.
func TestConcurrentNodesNeverClaimTheSameDelivery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := newSchema(t)
	nodes := []*DB{openSchema(t, schema), openSchema(t, schema)}
	w := newWorld(t, nodes[0], 4)
	const messages = 100
	for i := range messages {
		w.publish(w.t0.Add(time.Duration(i) * time.Millisecond))
	}
	now := w.t0.Add(time.Hour)
	var (
		mu      sync.Mutex
		claimed = make(map[store.DeliveryKey]string)
		dups    []store.DeliveryKey
		wg      sync.WaitGroup
		errs    = make(chan error, 4)
	)
	for n, db := range nodes {
		for worker := range 2 {
			owner := fmt.Sprintf("node-%d", n)
			wg.Go(func() {
				for {
					jobs, err := db.Claim(ctx, owner, now, time.Minute, 7)
					if err != nil {
						errs <- fmt.Errorf("%s worker %d: %w", owner, worker, err)
						return
					}
					if len(jobs) == 0 {
						return
					}
					mu.Lock()
					for _, j := range jobs {
						k := store.DeliveryKey{MsgID: j.Delivery.MsgID, EndpointID: j.Delivery.EndpointID}
						if _, ok := claimed[k]; ok {
							dups = append(dups, k)
						}
						claimed[k] = owner
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("claim: %v", err)
	}
	if len(dups) > 0 {
		t.Errorf("deliveries claimed twice: got %d (first %v), want none", len(dups), dups[0])
	}
	if want := messages * len(w.eps); len(claimed) != want {
		t.Errorf("deliveries claimed: got %d, want %d", len(claimed), want)
	}
	perNode := map[string]int{}
	for _, owner := range claimed {
		perNode[owner]++
	}
	t.Logf("claims per node: %v", perNode)
}

// TestGroupCommitIsolatesFailingOperations publishes concurrently so the
// operations share transactions, with some that must fail alone.
func TestGroupCommitIsolatesFailingOperations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t, func(c *Config) { c.Workers = 1 })
	w := newWorld(t, db, 1)
	const n = 60
	type outcome struct {
		i   int
		err error
	}
	out := make(chan outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m, ds := w.message(w.t0.Add(time.Duration(i) * time.Millisecond))
			switch i % 3 {
			case 1: // every such message takes the same event id: one wins
				m.EventID = "order-1"
			case 2: // PostgreSQL refuses NUL in text: this operation's data is bad
				if i%6 == 2 {
					m.EventType = "bad\x00type"
				}
			}
			out <- outcome{i, db.Publish(ctx, m, ds, "", time.Time{})}
		})
	}
	wg.Wait()
	close(out)
	var ok, conflicts, bad int
	for o := range out {
		switch {
		case o.err == nil:
			ok++
		case errors.Is(o.err, herald.ErrConflict) && o.i%3 == 1:
			conflicts++
		case o.i%6 == 2:
			bad++
		default:
			t.Errorf("publish %d: unexpected error %v", o.i, o.err)
		}
	}
	// 20 plain, 1 winner of the event id, 10 with a valid event type.
	if want := n/3 + 1 + n/6; ok != want {
		t.Errorf("successful publishes: got %d, want %d", ok, want)
	}
	if conflicts != n/3-1 || bad != n/6 {
		t.Errorf("failures: got %d conflicts and %d bad, want %d and %d", conflicts, bad, n/3-1, n/6)
	}
	backlog, err := db.Backlog(ctx)
	if err != nil {
		t.Fatalf("backlog: %v", err)
	}
	if int(backlog) != ok {
		t.Errorf("backlog: got %d, want one delivery per stored message (%d)", backlog, ok)
	}
}

// TestConcurrentRecordsAndLeaseExtensions records results from two nodes
// while they extend their leases, all touching the same endpoints: the
// writers lock rows in one order, so none of them deadlocks or fails. Each
// node extends every lease it holds, so an extension takes the rows that
// its other worker is recording.
func TestConcurrentRecordsAndLeaseExtensions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := newSchema(t)
	nodes := []*DB{openSchema(t, schema), openSchema(t, schema)}
	w := newWorld(t, nodes[0], 4)
	const messages = 60
	for i := range messages {
		w.publish(w.t0.Add(time.Duration(i) * time.Millisecond))
	}
	now := w.t0.Add(time.Minute)
	var (
		wg      sync.WaitGroup
		errs    = make(chan error, 16)
		mu      sync.Mutex
		retries int
	)
	for n, db := range nodes {
		owner := fmt.Sprintf("node-%d", n)
		var (
			heldMu sync.Mutex
			held   = map[store.DeliveryKey]bool{}
		)
		for range 2 {
			wg.Go(func() {
				for {
					jobs, err := db.Claim(ctx, owner, now, time.Minute, 5)
					if err != nil || len(jobs) == 0 {
						if err != nil {
							errs <- err
						}
						return
					}
					heldMu.Lock()
					for _, j := range jobs {
						held[store.DeliveryKey{MsgID: j.Delivery.MsgID, EndpointID: j.Delivery.EndpointID}] = true
					}
					keys := slices.Collect(maps.Keys(held))
					heldMu.Unlock()
					if err := db.ExtendLeases(ctx, owner, keys, now.Add(2*time.Minute)); err != nil {
						errs <- err
						return
					}
					results := make([]store.Result, len(jobs))
					for i, j := range jobs {
						out := herald.Outcome{Status: herald.StatusSuccess}
						if j.Delivery.MsgID[len(j.Delivery.MsgID)-1]%2 == 0 {
							out = herald.Outcome{Status: herald.StatusSending, NextAttemptAt: now.Add(time.Hour)}
							mu.Lock()
							retries++
							mu.Unlock()
						}
						results[i] = store.Result{Attempt: herald.Attempt{ID: herald.NewID(herald.PrefixAttempt, now),
							MsgID: j.Delivery.MsgID, EndpointID: j.Delivery.EndpointID, AppID: j.Delivery.AppID,
							URL: j.Endpoint.URL, Status: herald.StatusSuccess, StatusCode: 200, CreatedAt: now},
							Outcome: out, Attempts: 1, Owner: owner}
					}
					if _, err := db.Record(ctx, results); err != nil {
						errs <- err
						return
					}
					heldMu.Lock()
					for _, j := range jobs {
						delete(held, store.DeliveryKey{MsgID: j.Delivery.MsgID, EndpointID: j.Delivery.EndpointID})
					}
					heldMu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("node: %v", err)
	}
	backlog, err := nodes[1].Backlog(ctx)
	if err != nil {
		t.Fatalf("backlog: %v", err)
	}
	if int(backlog) != retries {
		t.Errorf("backlog: got %d, want the %d deliveries scheduled for retry", backlog, retries)
	}
	attempts, err := nodes[1].ListAttempts(ctx, w.app.ID, store.AttemptFilter{Page: store.Page{Limit: 250}, EndpointID: w.eps[0].ID})
	if err != nil || len(attempts) != messages {
		t.Errorf("attempts to one endpoint: got %d, %v; want %d", len(attempts), err, messages)
	}
}

// TestRecordIsolatesAFailingCall records a result PostgreSQL refuses (a
// NUL character in its URL) next to a valid one: only the first fails.
func TestRecordIsolatesAFailingCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t, func(c *Config) { c.Workers = 1 })
	w := newWorld(t, db, 2)
	w.publish(w.t0)
	jobs, err := db.Claim(ctx, "node", w.t0, time.Minute, 10)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("claim: got %d jobs, %v; want 2", len(jobs), err)
	}
	result := func(j store.Job, url string) []store.Result {
		return []store.Result{{Attempt: herald.Attempt{ID: herald.NewID(herald.PrefixAttempt, w.t0), MsgID: j.Delivery.MsgID,
			EndpointID: j.Delivery.EndpointID, AppID: w.app.ID, URL: url, Status: herald.StatusSuccess, StatusCode: 204,
			CreatedAt: w.t0}, Outcome: herald.Outcome{Status: herald.StatusSuccess}, Attempts: 1, Owner: "node"}}
	}
	var wg sync.WaitGroup
	var badErr, okErr error
	wg.Go(func() { _, badErr = db.Record(ctx, result(jobs[0], jobs[0].Endpoint.URL+"\x00")) })
	wg.Go(func() { _, okErr = db.Record(ctx, result(jobs[1], jobs[1].Endpoint.URL)) })
	wg.Wait()
	if badErr == nil {
		t.Error("record of a URL with a NUL character: got nil, want an error")
	}
	if okErr != nil {
		t.Errorf("record next to it: got %v, want nil", okErr)
	}
	// The refused result's delivery is still to do; the other is done.
	if n, err := db.Backlog(ctx); err != nil || n != 1 {
		t.Errorf("backlog: got %d, %v; want 1", n, err)
	}
}

// TestClaimCancelsDeliveriesOfDisabledEndpoints covers a claim that finds
// a due delivery whose endpoint was disabled behind the store's back (as a
// concurrent disable can leave it): the delivery is canceled, not sent,
// and the others are claimed as usual.
func TestClaimCancelsDeliveriesOfDisabledEndpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	w := newWorld(t, db, 2)
	m := w.publish(w.t0)
	if _, err := db.pool.Exec(ctx, `UPDATE endpoints SET disabled = true WHERE id = $1`, w.eps[0].ID); err != nil {
		t.Fatal(err)
	}
	jobs, err := db.Claim(ctx, "node", w.t0.Add(time.Second), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].Endpoint.ID != w.eps[1].ID {
		t.Fatalf("claimed %d jobs, want the one to the enabled endpoint", len(jobs))
	}
	var status int
	if err := db.pool.QueryRow(ctx, `SELECT status FROM deliveries WHERE msg_id = $1 AND endpoint_id = $2`,
		m.ID, w.eps[0].ID).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if herald.MessageStatus(status) != herald.StatusCanceled {
		t.Errorf("delivery to the disabled endpoint: status %d, want canceled (%d)", status, herald.StatusCanceled)
	}
}

// TestUndecryptableClaimHandsItsLeasesBack: a claim leases its rows, then
// loads their messages and endpoints. A node without the key that decrypts
// an endpoint's secrets must not keep the leases (it would hold the rows
// from every node until they expire, never sending them), nor fail the
// claim (every claim reaching these rows would fail): it gives them back
// unleased, due UnreadableSecretsRetry later, and another node takes them.
func TestUndecryptableClaimHandsItsLeasesBack(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	schema := newSchema(t)
	key, err := secretbox.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secretbox.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	withKeys := openSchema(t, schema, func(c *Config) { c.Keys = keys })
	noKeys := openSchema(t, schema)
	now := time.Now().UTC().Truncate(time.Millisecond)
	app := &herald.Application{ID: herald.NewID(herald.PrefixApp, now), Name: "a", CreatedAt: now, UpdatedAt: now}
	if err := withKeys.CreateApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: app.ID, URL: "https://example.com/x",
		Secrets: []herald.Secret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, CreatedAt: now, UpdatedAt: now}
	if err := withKeys.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: app.ID, EventType: "a",
		Payload: []byte(`{}`), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := withKeys.Publish(ctx, m, []herald.Delivery{{EndpointID: ep.ID}}, "", time.Time{}); err != nil {
		t.Fatal(err)
	}

	if jobs, err := noKeys.Claim(ctx, "node_a", now, time.Minute, 10); err != nil || len(jobs) != 0 {
		t.Fatalf("a claim that cannot decrypt the endpoint's secrets: %d jobs, %v; want none, no error", len(jobs), err)
	}
	jobs, err := withKeys.Claim(ctx, "node_b", now.Add(store.UnreadableSecretsRetry), time.Minute, 10)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("another node's claim after the held-back one: %d jobs, %v; want the delivery", len(jobs), err)
	}
	if jobs[0].Delivery.Trigger != herald.TriggerScheduled {
		t.Errorf("trigger %d, want scheduled: node_a kept the lease", jobs[0].Delivery.Trigger)
	}
}
