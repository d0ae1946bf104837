package delivery

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// claimsStillFlow publishes to an ordered endpoint of another application,
// which only a claim sends, and fails unless it arrives while e holds the
// deliveries it was given before: had they kept their room in MaxHeld,
// the poller would claim nothing for anyone.
func claimsStillFlow(t *testing.T, e *Engine, db *sqlite.DB, what string) {
	t.Helper()
	ctx := context.Background()
	srv, got := sink(t, ok)
	now := time.Now()
	app := "app_" + herald.NewID("", now)
	if err := db.CreateApplication(ctx, &herald.Application{ID: app, Name: "other", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatalf("create application: %v", err)
	}
	ordered := endpoint("ep_"+herald.NewID("", now), srv.URL)
	ordered.AppID, ordered.Ordered, ordered.CreatedAt, ordered.UpdatedAt = app, true, now, now
	if err := db.CreateEndpoint(ctx, &ordered); err != nil {
		t.Fatalf("create endpoint: %v", err)
	}
	m := message("b", `{}`)
	m.AppID = app
	if err := e.Publish(ctx, m); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the other application's endpoint got nothing: claims stopped with %d deliveries held (MaxHeld %d)",
			what, e.disp.held.Load(), e.cfg.MaxHeld)
	}
}

// TestSQLiteThrottledQueueLeavesRoomForClaims: an endpoint held to its
// rate keeps two seconds' worth in memory, and hands the rest back paced
// at its rate, this node's share of it: each due at its own time, so that
// claims meet them no faster than the endpoint takes them, and none
// before.
func TestSQLiteThrottledQueueLeavesRoomForClaims(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		perSec, nodes int
		gap           time.Duration // between two paced deliveries
		held          int           // two seconds' worth
	}{
		{perSec: 1, nodes: 1, gap: time.Second, held: 2},
		{perSec: 1, nodes: 2, gap: 2 * time.Second, held: 1},
		{perSec: 3, nodes: 2, gap: 2 * time.Second / 3, held: 3},
	} {
		t.Run(fmt.Sprintf("%d/s over %d nodes", c.perSec, c.nodes), func(t *testing.T) {
			t.Parallel()
			srv, _ := sink(t, ok)
			slow := endpoint("ep_paced_slow", srv.URL)
			slow.ThrottleRate = c.perSec
			db := openSQLite(t, slow)
			e := startSQLiteEngine(t, db, Config{MaxHeld: 8, EndpointQueue: 50, EndpointConcurrency: 1})
			e.share.Store(&share{index: 0, count: c.nodes})
			ctx := context.Background()
			start := time.Now()
			var msgs []string
			for range 30 {
				m := message("a", `{}`)
				if err := e.Publish(ctx, m); err != nil {
					t.Fatalf("Publish: %v", err)
				}
				msgs = append(msgs, m.ID)
			}
			claimsStillFlow(t, e, db, "beside a throttled backlog")

			next := nextAttempts(t, db, slow.ID)
			var deferred []time.Time
			held := 0
			for _, id := range msgs {
				switch at := next[id]; {
				case at.Sub(start) > 2*time.Minute: // leased until the lease ends
					held++
				case at.After(time.Now()):
					deferred = append(deferred, at)
				}
			}
			if held > c.held {
				t.Errorf("deliveries held in memory: %d, want two seconds' worth, %d", held, c.held)
			}
			// 30 published, a few held or sent: the rest paced (fewer on a
			// machine so slow that some came due while it published).
			if len(deferred) < 20 {
				t.Fatalf("deliveries due ahead: %d, want most of 30 paced", len(deferred))
			}
			slices.SortFunc(deferred, func(a, b time.Time) int { return a.Compare(b) })
			for i := 1; i < len(deferred); i++ {
				// Never faster than the rate (times are stored in
				// milliseconds).
				if gap := deferred[i].Sub(deferred[i-1]); gap < c.gap-time.Millisecond {
					t.Fatalf("paced deliveries %d and %d are %v apart, want %v: %v", i-1, i, gap, c.gap, deferred)
				}
			}
			// Nor slower, beyond a start afresh if the first batch came
			// due while the machine was still publishing.
			if span, most := deferred[len(deferred)-1].Sub(deferred[0]), time.Duration(len(deferred)-1)*c.gap+2*time.Second; span > most {
				t.Errorf("%d paced over %v, want at most %v", len(deferred), span, most)
			}
		})
	}
}

// TestSQLiteBackedOffQueueLeavesRoomForClaims: an endpoint that answered
// 429 with Retry-After keeps only what it sends first in memory during the
// back-off, and hands the rest back due when the back-off ends.
func TestSQLiteBackedOffQueueLeavesRoomForClaims(t *testing.T) {
	t.Parallel()
	firstIn := make(chan struct{})
	answer := make(chan struct{})
	srv, _ := sink(t, func(w http.ResponseWriter, n int) {
		if n == 1 {
			close(firstIn)
			<-answer
		}
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	busy := endpoint("ep_backed_off", srv.URL)
	db := openSQLite(t, busy)
	e := startSQLiteEngine(t, db, Config{MaxHeld: 8, EndpointQueue: 50, EndpointConcurrency: 1, CircuitFailures: -1,
		Policy: herald.Policy{Schedule: []time.Duration{time.Hour}, Jitter: -1}})
	ctx := context.Background()
	first := message("a", `{}`)
	if err := e.Publish(ctx, first); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	<-firstIn
	var msgs []string
	for range 20 {
		m := message("a", `{}`)
		if err := e.Publish(ctx, m); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		msgs = append(msgs, m.ID)
	}
	answered := time.Now()
	close(answer)
	waitStatus(t, db, first.ID, busy.ID, herald.StatusSending)
	claimsStillFlow(t, e, db, "beside a backed-off endpoint")

	next := nextAttempts(t, db, busy.ID)
	atBackOffEnd := 0
	for _, id := range msgs {
		if d := next[id].Sub(answered); d >= 59*time.Second && d <= 70*time.Second {
			atBackOffEnd++
		}
	}
	// One stays in memory, to go first when the back-off ends.
	if atBackOffEnd != len(msgs)-1 {
		t.Errorf("deliveries due when the back-off ends: %d, want %d", atBackOffEnd, len(msgs)-1)
	}
}

// TestSQLiteRaisedRateBringsPacedDeliveriesForward: once the endpoint may
// go faster, what was paced at its old rate (the endpoint's or the
// application's) is due at once instead of at the old rate's times. A
// retry the endpoint has scheduled keeps its time.
func TestSQLiteRaisedRateBringsPacedDeliveriesForward(t *testing.T) {
	t.Parallel()
	for _, limit := range []string{"endpoint", "application"} {
		t.Run(limit, func(t *testing.T) {
			t.Parallel()
			srv, got := sink(t, ok)
			ep := endpoint("ep_paced_raised", srv.URL)
			if limit == "endpoint" {
				ep.ThrottleRate = 1
			}
			db := openSQLite(t, ep)
			ctx := context.Background()
			app, err := db.GetApplication(ctx, testApp)
			if err != nil {
				t.Fatal(err)
			}
			setAppRate := func(perSec int) {
				t.Helper()
				app.ThrottleRate, app.UpdatedAt = perSec, time.Now()
				if err := db.UpdateApplication(ctx, app); err != nil {
					t.Fatalf("update application: %v", err)
				}
			}
			if limit == "application" {
				setAppRate(1)
			}
			retry := scheduleRetry(t, db, ep.ID, time.Hour)
			e := startSQLiteEngine(t, db, Config{EndpointConcurrency: 1})
			var msgs []string
			for range 40 {
				m := message("a", `{}`)
				if err := e.Publish(ctx, m); err != nil {
					t.Fatalf("Publish: %v", err)
				}
				msgs = append(msgs, m.ID)
			}
			<-got
			if limit == "endpoint" {
				if _, err := db.UpdateEndpoint(ctx, testApp, ep.ID, func(ep *herald.Endpoint) error {
					ep.ThrottleRate, ep.UpdatedAt = 0, time.Now()
					return nil
				}); err != nil {
					t.Fatalf("update endpoint: %v", err)
				}
				e.InvalidateEndpoints(testApp)
			} else {
				setAppRate(0)
				e.InvalidateApplication(testApp)
			}
			// Paced at one a second, the last would be due 38s from now.
			deadline := time.After(10 * time.Second)
			for range len(msgs) - 1 {
				select {
				case <-got:
				case <-deadline:
					t.Fatalf("deliveries still paced at the old rate after it was lifted: %v", nextAttempts(t, db, ep.ID))
				}
			}
			if at := nextAttempts(t, db, ep.ID)[retry.ID]; !at.Equal(retry.at) {
				t.Errorf("the scheduled retry is due at %v, want %v, as scheduled", at, retry.at)
			}
		})
	}
}

// deferCount wraps a store and counts the deliveries given back deferred.
type deferCount struct {
	Store
	deferred atomic.Int64
}

func (s *deferCount) DeferLeases(ctx context.Context, owner string, ds []store.Deferral) error {
	s.deferred.Add(int64(len(ds)))
	return s.Store.DeferLeases(ctx, owner, ds)
}

// TestSQLiteSlowEndpointUnderItsRateIsNotPaced: an endpoint slower than
// its rate (here, one slow request at a time) is held by its answers, not
// its rate: its queue spills as any full queue does, rather than pacing
// its backlog at a rate it does not reach, which would only bring it back
// due, to be claimed and deferred again.
func TestSQLiteSlowEndpointUnderItsRateIsNotPaced(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	srv, got := sink(t, func(w http.ResponseWriter, _ int) {
		<-gate
		w.WriteHeader(http.StatusNoContent)
	})
	defer close(gate)
	ep := endpoint("ep_slow_under_rate", srv.URL)
	ep.ThrottleRate = 1000
	db := openSQLite(t, ep)
	s := &deferCount{Store: recordSignal{Store: db, recorded: recorded(db)}}
	e := startEngine2(t, Config{Store: s, EndpointQueue: 10, EndpointConcurrency: 1})
	ctx := context.Background()
	for i := range 30 {
		if err := e.Publish(ctx, message("a", `{}`)); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if i == 0 {
			<-got // in flight, and held there
		}
	}
	if n := s.deferred.Load(); n != 0 {
		t.Errorf("deliveries deferred: %d, want none: the endpoint's rate is not what holds it", n)
	}
	if held := e.disp.held.Load(); held != 11 {
		t.Errorf("deliveries held: %d, want 11 (one in flight, a full queue of 10)", held)
	}
}

// scheduled is a delivery waiting for its retry.
type scheduled struct {
	ID string
	at time.Time
}

// scheduleRetry stores a message to the endpoint whose first attempt
// failed, with its retry due in after.
func scheduleRetry(t *testing.T, db *sqlite.DB, endpointID string, after time.Duration) scheduled {
	t.Helper()
	ctx := context.Background()
	m := message("a", `{}`)
	if err := db.Publish(ctx, m, []herald.Delivery{{MsgID: m.ID, EndpointID: endpointID, AppID: m.AppID}}, "", time.Time{}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	jobs, err := db.Claim(ctx, "node-before", m.CreatedAt, time.Minute, 1)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %d jobs, %v", len(jobs), err)
	}
	at := m.CreatedAt.Add(after).Truncate(time.Millisecond)
	res := store.Result{
		Attempt: herald.Attempt{ID: herald.NewID(herald.PrefixAttempt, m.CreatedAt), MsgID: m.ID, EndpointID: endpointID,
			AppID: m.AppID, Status: herald.StatusFail, StatusCode: 500, CreatedAt: m.CreatedAt},
		Outcome:  herald.Outcome{Status: herald.StatusSending, NextAttemptAt: at},
		Attempts: 1,
		Owner:    "node-before",
	}
	if _, err := db.Record(ctx, []store.Result{res}); err != nil {
		t.Fatalf("record: %v", err)
	}
	return scheduled{ID: m.ID, at: at}
}
