// Package storetest is the one conformance suite every store engine must
// pass. It specifies the Store contract through behaviour: an engine is
// correct when Run passes against it.
//
// Times are always passed in explicitly, relative to a base instant taken
// when each subtest starts, so the suite never sleeps and never depends on
// the wall clock moving.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// Run runs the suite. open must return a new, empty store isolated from
// every other call (subtests run in parallel) and register its Close with
// t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Applications", applicationTests},
		{"EventTypes", eventTypeTests},
		{"Endpoints", endpointTests},
		{"EndpointUpdates", updateTests},
		{"Messages", messageTests},
		{"Queue", queueTests},
		{"Expedite", expediteTests},
		{"Record", recordTests},
		{"Views", viewTests},
		{"Auth", authTests},
		{"Sessions", sessionTests},
		{"Sources", sourceTests},
		{"Nodes", nodeTests},
		{"Poller", pollerTests},
		{"Retention", retentionTests},
		{"DeliveryControl", controlTests},
		{"HeldBack", holdTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.fn(newFixture(t, open(t)))
				})
			}
		})
	}
}

// test is one specification of the contract.
type test struct {
	name string
	fn   func(f *fixture)
}

// lease is the lease length the queue tests use.
const lease = 30 * time.Second

// fixture is one subtest's store and clock.
type fixture struct {
	*testing.T
	s   store.Store
	ctx context.Context
	t0  time.Time // base instant; every time in a test is t0 plus an offset
	seq int
}

func newFixture(t *testing.T, s store.Store) *fixture {
	return &fixture{T: t, s: s, ctx: t.Context(), t0: time.Now().UTC().Truncate(time.Millisecond)}
}

// at returns t0+d.
func (f *fixture) at(d time.Duration) time.Time { return f.t0.Add(d) }

func (f *fixture) name(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s-%d", prefix, f.seq)
}

// app creates an application.
func (f *fixture) app(mods ...func(*herald.Application)) *herald.Application {
	f.Helper()
	a := &herald.Application{
		ID: herald.NewID(herald.PrefixApp, f.t0), Name: f.name("app"),
		Metadata: map[string]string{"team": "billing"}, CreatedAt: f.t0, UpdatedAt: f.t0,
	}
	for _, m := range mods {
		m(a)
	}
	if err := f.s.CreateApplication(f.ctx, a); err != nil {
		f.Fatalf("create application: %v", err)
	}
	return a
}

// endpoint creates an endpoint of appID.
func (f *fixture) endpoint(appID string, mods ...func(*herald.Endpoint)) *herald.Endpoint {
	f.Helper()
	e := &herald.Endpoint{
		ID: herald.NewID(herald.PrefixEndpoint, f.t0), AppID: appID,
		URL:       "https://example.com/" + f.name("hook"),
		Secrets:   []herald.Secret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		CreatedAt: f.t0, UpdatedAt: f.t0,
	}
	for _, m := range mods {
		m(e)
	}
	if err := f.s.CreateEndpoint(f.ctx, e); err != nil {
		f.Fatalf("create endpoint: %v", err)
	}
	return e
}

// update applies change to endpoint id of appID with UpdateEndpoint and
// returns the endpoint as written.
func (f *fixture) update(appID, id string, change func(*herald.Endpoint)) *herald.Endpoint {
	f.Helper()
	ep, err := f.s.UpdateEndpoint(f.ctx, appID, id, func(ep *herald.Endpoint) error {
		change(ep)
		return nil
	})
	if err != nil {
		f.Fatalf("update endpoint: %v", err)
	}
	return ep
}

// getEndpoint reads an endpoint back.
func (f *fixture) getEndpoint(appID, id string) *herald.Endpoint {
	f.Helper()
	ep, err := f.s.GetEndpoint(f.ctx, appID, id)
	if err != nil {
		f.Fatalf("get endpoint: %v", err)
	}
	return ep
}

// message builds an unsaved message of appID created at at.
func (f *fixture) message(appID string, at time.Time, mods ...func(*herald.Message)) *herald.Message {
	m := &herald.Message{
		ID: herald.NewID(herald.PrefixMessage, at), AppID: appID, EventType: "invoice.paid",
		Payload:   []byte(`{"amount": 100,  "currency":"EUR"}`),
		CreatedAt: at, ExpiresAt: at.Add(90 * 24 * time.Hour),
	}
	for _, mod := range mods {
		mod(m)
	}
	return m
}

// deliveries builds one pending delivery of m per endpoint.
func deliveries(m *herald.Message, endpointIDs ...string) []herald.Delivery {
	ds := make([]herald.Delivery, len(endpointIDs))
	for i, id := range endpointIDs {
		ds[i] = herald.Delivery{
			MsgID: m.ID, EndpointID: id, AppID: m.AppID, Status: herald.StatusPending,
			NextAttemptAt: m.CreatedAt, CreatedAt: m.CreatedAt, UpdatedAt: m.CreatedAt,
		}
	}
	return ds
}

// publish stores a message created at at, due at once for each endpoint
// and leased to nobody.
func (f *fixture) publish(appID string, at time.Time, endpointIDs ...string) *herald.Message {
	f.Helper()
	m := f.message(appID, at)
	if err := f.s.Publish(f.ctx, m, deliveries(m, endpointIDs...), "", time.Time{}); err != nil {
		f.Fatalf("publish: %v", err)
	}
	return m
}

// publishLeased stores a message created at at, leased to owner until
// until.
func (f *fixture) publishLeased(appID string, at time.Time, owner string, until time.Time, endpointIDs ...string) *herald.Message {
	f.Helper()
	m := f.message(appID, at)
	if err := f.s.Publish(f.ctx, m, deliveries(m, endpointIDs...), owner, until); err != nil {
		f.Fatalf("publish leased: %v", err)
	}
	return m
}

// claim claims for owner at now with the suite's lease.
func (f *fixture) claim(owner string, now time.Time, limit int) []store.Job {
	f.Helper()
	jobs, err := f.s.Claim(f.ctx, owner, now, lease, limit)
	if err != nil {
		f.Fatalf("claim: %v", err)
	}
	return jobs
}

// claimOne claims and requires exactly one job.
func (f *fixture) claimOne(owner string, now time.Time) store.Job {
	f.Helper()
	jobs := f.claim(owner, now, 10)
	if len(jobs) != 1 {
		f.Fatalf("claim at +%v: got %d jobs, want 1", now.Sub(f.t0), len(jobs))
	}
	return jobs[0]
}

// claimNone claims and requires nothing.
func (f *fixture) claimNone(owner string, now time.Time) {
	f.Helper()
	if jobs := f.claim(owner, now, 10); len(jobs) != 0 {
		f.Fatalf("claim at +%v: got %d jobs (first %s), want none", now.Sub(f.t0), len(jobs), jobs[0].Delivery.MsgID)
	}
}

// result builds the Result of one attempt of job's delivery at at.
func result(j store.Job, at time.Time, code int, out herald.Outcome) store.Result {
	st := herald.StatusFail
	if out.Status == herald.StatusSuccess {
		st = herald.StatusSuccess
	}
	return store.Result{
		Attempt: herald.Attempt{
			ID: herald.NewID(herald.PrefixAttempt, at), MsgID: j.Delivery.MsgID, EndpointID: j.Delivery.EndpointID,
			AppID: j.Delivery.AppID, URL: j.Endpoint.URL, Status: st, StatusCode: code,
			ResponseBody:    fmt.Sprintf(`{"code":%d}`, code),
			ResponseHeaders: map[string]string{"Content-Type": "application/json"},
			RequestHeaders:  map[string]string{"webhook-id": j.Delivery.MsgID},
			Duration:        42 * time.Millisecond, Trigger: j.Delivery.Trigger, CreatedAt: at,
		},
		Outcome:  out,
		Attempts: j.Delivery.Attempts + 1,
		Ordered:  j.Endpoint.Ordered,
		Owner:    j.Delivery.LeaseOwner,
	}
}

// record records results and returns the disabled endpoints.
func (f *fixture) record(results ...store.Result) []string {
	f.Helper()
	disabled, err := f.s.Record(f.ctx, results)
	if err != nil {
		f.Fatalf("record: %v", err)
	}
	return disabled
}

// wantErr fails unless err wraps target.
func (f *fixture) wantErr(what string, err, target error) {
	f.Helper()
	if !errors.Is(err, target) {
		f.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// noErr fails the test on err.
func (f *fixture) noErr(what string, err error) {
	f.Helper()
	if err != nil {
		f.Fatalf("%s: %v", what, err)
	}
}

// page is a Page of limit items after iterator.
func page(limit int, iterator string) store.Page { return store.Page{Limit: limit, Iterator: iterator} }
