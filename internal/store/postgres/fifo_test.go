package postgres

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// setOrdered turns ordering of ep on or off, keeping its UpdatedAt.
func setOrdered(ctx context.Context, db *DB, ep *herald.Endpoint, ordered bool) error {
	_, err := db.UpdateEndpoint(ctx, ep.AppID, ep.ID, func(e *herald.Endpoint) error {
		e.Ordered, e.UpdatedAt = ordered, ep.UpdatedAt
		return nil
	})
	return err
}

func TestParkedIsTheStoreConstant(t *testing.T) {
	if parked != strconv.FormatInt(store.ParkedMS, 10) {
		t.Fatalf("parked = %s, want store.ParkedMS %d", parked, store.ParkedMS)
	}
}

// orderedWorld is a world of one ordered endpoint with n deliveries
// published and handed back as the engine does with an ordered
// endpoint's fresh deliveries.
func orderedWorld(t *testing.T, db *DB, n int) (*world, []*herald.Message) {
	t.Helper()
	ctx := context.Background()
	w := newWorld(t, db, 1)
	ep := w.eps[0]
	if err := setOrdered(ctx, db, ep, true); err != nil {
		t.Fatal(err)
	}
	var msgs []*herald.Message
	for i := range n {
		m, ds := w.message(w.t0.Add(time.Duration(i) * time.Millisecond))
		if err := db.Publish(ctx, m, ds, "node", w.t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := db.ReleaseLeases(ctx, "node", []store.DeliveryKey{{MsgID: m.ID, EndpointID: ep.ID}}); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	return w, msgs
}

// An ordered endpoint's waiting deliveries stay out of what a claim walks,
// and each comes due when its turn does.
func TestOrderedBacklogWaitsOutOfTheDueHead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	n := 50
	w, msgs := orderedWorld(t, db, n)
	now := w.t0.Add(time.Second)
	due := func() int { return countDue(t, ctx, db, `status IN (1, 3) AND next_attempt_at <= $1`, ms(now)) }
	if got := due(); got != 1 {
		t.Fatalf("published: %d rows due, want only the head", got)
	}
	for i := range 3 {
		jobs, err := db.Claim(ctx, "node", now, time.Minute, 10)
		if err != nil || len(jobs) != 1 || jobs[0].Delivery.MsgID != msgs[i].ID {
			t.Fatalf("claim %d: %d jobs, %v; want only %s", i, len(jobs), err, msgs[i].ID)
		}
		if got := due(); got != 0 {
			t.Fatalf("while %s is in flight: %d rows due, want 0", msgs[i].ID, got)
		}
		if _, err := db.Record(ctx, []store.Result{success(jobs[0], now)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := setOrdered(ctx, db, w.eps[0], false); err != nil {
		t.Fatal(err)
	}
	if got := due(); got != n-3 {
		t.Fatalf("after unordering: %d rows due, want %d", got, n-3)
	}
}

// A release that parks a delivery share-locks its ordered endpoint first,
// so turning ordering off waits for it and then unparks what it parked:
// otherwise the row would stay parked on an endpoint nobody unparks.
func TestUnorderingWaitsForAParkingInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	w, msgs := orderedWorld(t, db, 2)
	ep := w.eps[0]

	tx, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, lockOrdered, []string{ep.ID}); err != nil {
		t.Fatal(err)
	}
	last, ds := w.message(w.t0.Add(time.Second))
	if err := db.Publish(ctx, last, ds, "node", w.t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, releaseLeased, []string{last.ID}, []string{ep.ID}, []string{"node"}, []int64{0}); err != nil {
		t.Fatal(err)
	}
	var xid string
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&xid); err != nil {
		t.Fatal(err)
	}

	updated := make(chan error, 1)
	go func() { updated <- setOrdered(ctx, db, ep, false) }()
	waitBlocked(t, db, updated, "turning ordering off, with a release in flight,", `SELECT count(*) FROM pg_locks
		WHERE locktype = 'transactionid' AND NOT granted AND transactionid::text = $1`, xid)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-updated; err != nil {
		t.Fatalf("update: %v", err)
	}
	if got := countDue(t, ctx, db, `next_attempt_at = $1`, store.ParkedMS); got != 0 {
		t.Errorf("after unordering: %d deliveries parked, want 0 (%s and %s among them?)", got, msgs[1].ID, last.ID)
	}
}

// A claim finds the heads of ordered endpoints through endpoints_ordered,
// not by reading every endpoint.
func TestUnparkHeadsReadsOnlyOrderedEndpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	newWorld(t, db, 0)
	if _, err := db.pool.Exec(ctx, `INSERT INTO endpoints (id, app_id, url, created_at, updated_at, ordered)
		SELECT 'ep_' || g, (SELECT id FROM applications), 'https://x', 0, 0, g % 10000 = 0
		FROM generate_series(1, 20000) AS g`); err != nil {
		t.Fatal(err)
	}
	rows, err := db.pool.Query(ctx, `EXPLAIN `+unparkHeads, pgx.QueryExecModeExec, int64(1))
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	if growingScan.MatchString(plan) || !strings.Contains(plan, "endpoints_ordered") {
		t.Errorf("unpark heads reads more than the ordered endpoints:\n%s", plan)
	}
}

func success(j store.Job, at time.Time) store.Result {
	return store.Result{
		Attempt: herald.Attempt{
			ID: herald.NewID(herald.PrefixAttempt, at), MsgID: j.Delivery.MsgID, EndpointID: j.Delivery.EndpointID,
			AppID: j.Delivery.AppID, URL: j.Endpoint.URL, Status: herald.StatusSuccess, StatusCode: 200, CreatedAt: at,
		},
		Outcome:  herald.Outcome{Status: herald.StatusSuccess},
		Attempts: j.Delivery.Attempts + 1,
		Ordered:  j.Endpoint.Ordered,
		Owner:    j.Delivery.LeaseOwner,
	}
}

// A release that began before ordering was turned on (so it locked no
// endpoint) and writes after ordering was turned off again, while the
// unparking is in flight, must not park its delivery: the unparking
// cannot see it, and nothing unparks deliveries of an unordered endpoint.
func TestReleaseDoesNotParkBehindAnUnorderingInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t, func(c *Config) { c.MaxConns = 10 }) // three transactions held open at once
	w := newWorld(t, db, 1)
	ep := w.eps[0] // not ordered
	h := w.publish(w.t0)
	p := w.publish(w.t0.Add(time.Millisecond))
	r, ds := w.message(w.t0.Add(2 * time.Millisecond))
	if err := db.Publish(ctx, r, ds, "node", w.t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	lockRow := func(msgID string) (pgx.Tx, string) {
		tx, err := db.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tx.Rollback(ctx) })
		if _, err := tx.Exec(ctx, `SELECT 1 FROM deliveries WHERE msg_id = $1 FOR UPDATE`, msgID); err != nil {
			t.Fatal(err)
		}
		var xid string
		if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&xid); err != nil {
			t.Fatal(err)
		}
		return tx, xid
	}
	waiting := `SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted AND transactionid::text = $1`

	// The release locks no endpoint (none is ordered) and waits for r.
	b1, x1 := lockRow(r.ID)
	released := make(chan error, 1)
	go func() {
		released <- db.ReleaseLeases(ctx, "node", []store.DeliveryKey{{MsgID: r.ID, EndpointID: ep.ID}})
	}()
	waitBlocked(t, db, released, "the release", waiting, x1)

	if err := setOrdered(ctx, db, ep, true); err != nil { // parks p
		t.Fatal(err)
	}
	// Turning ordering off again waits, in its unparking, for p.
	b2, x2 := lockRow(p.ID)
	unordered := make(chan error, 1)
	go func() { unordered <- setOrdered(ctx, db, ep, false) }()
	waitBlocked(t, db, unordered, "turning ordering off", waiting, x2)

	if err := b1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	if err := b2.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-unordered; err != nil {
		t.Fatal(err)
	}
	jobs, err := db.Claim(ctx, "other", w.t0.Add(time.Hour), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	claimed := map[string]bool{}
	for _, j := range jobs {
		claimed[j.Delivery.MsgID] = true
	}
	if !claimed[h.ID] || !claimed[p.ID] || !claimed[r.ID] {
		t.Errorf("claimed h %v, p %v, r %v; want all three of the unordered endpoint (%d parked)",
			claimed[h.ID], claimed[p.ID], claimed[r.ID], countDue(t, ctx, db, `next_attempt_at = $1`, store.ParkedMS))
	}
}

// A turn that comes without a final result for an ordered endpoint (here:
// ordering turned on while the head was in flight) waits for the claims'
// sweep of ordered heads, at most store.UnparkSweep.
func TestClaimsSweepParkedHeads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	w := newWorld(t, db, 1)
	var msgs []*herald.Message
	for i := range 3 {
		msgs = append(msgs, w.publish(w.t0.Add(time.Duration(i)*time.Millisecond)))
	}
	now := w.t0.Add(time.Second)
	jobs, err := db.Claim(ctx, "node", now, time.Minute, 1)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %d jobs, %v", len(jobs), err)
	}
	if err := setOrdered(ctx, db, w.eps[0], true); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Record(ctx, []store.Result{success(jobs[0], now)}); err != nil { // claimed unordered
		t.Fatal(err)
	}
	if got, err := db.Claim(ctx, "node", now.Add(store.UnparkSweep-time.Millisecond), time.Minute, 10); err != nil || len(got) != 0 {
		t.Fatalf("claim before the sweep is due: %d jobs, %v; want none", len(got), err)
	}
	got, err := db.Claim(ctx, "node", now.Add(store.UnparkSweep), time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].Delivery.MsgID != msgs[1].ID {
		t.Fatalf("claim at the sweep: %d jobs, %v; want only %s", len(got), err, msgs[1].ID)
	}
}
