// Package dashtest is the one test suite of the dashboard's read models
// (store.Bucket, store.FailedDelivery and friends), run against every
// engine so the SQLite and PostgreSQL queries cannot drift.
package dashtest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// Store is a store with the dashboard's queries.
type Store interface {
	store.Store
	CountMessages(ctx context.Context, since, until time.Time) (int64, error)
	DeliveryStats(ctx context.Context, since, until time.Time) (store.Stats, error)
	AttemptBuckets(ctx context.Context, since, until time.Time, width time.Duration) ([]store.Bucket, error)
	UnhealthyEndpoints(ctx context.Context, limit int) ([]store.EndpointHealth, error)
	ListAllMessages(ctx context.Context, f store.DashboardMessageFilter) ([]store.MessageRow, error)
	ListFailed(ctx context.Context, f store.FailedFilter) ([]store.FailedDelivery, error)
	FailedEndpoints(ctx context.Context, since time.Time) ([]store.EndpointKey, error)
}

// world is what every test starts from: two applications, three
// endpoints, four messages with their delivery outcomes.
//
//	app A: endpoint a1 (healthy), a2 (failing since t0+2m)
//	app B: endpoint b1 (disabled)
//	m1 (A, t0)      → a1 success, a2 fail (503, after 2 attempts)
//	m2 (A, t0+1m)   → a1 success, a2 fail (no response: timeout)
//	m3 (B, t0+2m)   → b1 fail (410, disabled the endpoint)
//	m4 (A, t0+20m)  → a1 pending
type world struct {
	s          Store
	ctx        context.Context
	t0         time.Time
	a, b       *herald.Application
	a1, a2, b1 *herald.Endpoint
	m          [4]*herald.Message
}

// Run runs the suite; open returns an empty store.
func Run(t *testing.T, open func(t *testing.T) Store) {
	t.Run("Overview", func(t *testing.T) { t.Parallel(); testOverview(t, setup(t, open(t))) })
	t.Run("Unhealthy", func(t *testing.T) { t.Parallel(); testUnhealthy(t, setup(t, open(t))) })
	t.Run("Messages", func(t *testing.T) { t.Parallel(); testMessages(t, setup(t, open(t))) })
	t.Run("Failed", func(t *testing.T) { t.Parallel(); testFailed(t, setup(t, open(t))) })
}

func setup(t *testing.T, s Store) *world {
	t.Helper()
	ctx := t.Context()
	t0 := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	w := &world{s: s, ctx: ctx, t0: t0}
	app := func(name string) *herald.Application {
		a := &herald.Application{ID: herald.NewID(herald.PrefixApp, t0), Name: name, CreatedAt: t0, UpdatedAt: t0}
		must(t, "create application", s.CreateApplication(ctx, a))
		return a
	}
	endpoint := func(app *herald.Application, url string) *herald.Endpoint {
		e := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, t0), AppID: app.ID, URL: url,
			Secrets: []herald.Secret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, CreatedAt: t0, UpdatedAt: t0}
		must(t, "create endpoint", s.CreateEndpoint(ctx, e))
		return e
	}
	w.a, w.b = app("Acme"), app("Globex")
	w.a1, w.a2 = endpoint(w.a, "https://a.example/1"), endpoint(w.a, "https://a.example/2")
	w.b1 = endpoint(w.b, "https://b.example/1")

	publish := func(i int, app *herald.Application, at time.Time, eventType string, eps ...*herald.Endpoint) {
		m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, at), AppID: app.ID, EventType: eventType,
			Payload: []byte(`{"n":` + string(rune('1'+i)) + `}`), CreatedAt: at, ExpiresAt: at.Add(72 * time.Hour)}
		ds := make([]herald.Delivery, len(eps))
		for j, e := range eps {
			ds[j] = herald.Delivery{MsgID: m.ID, EndpointID: e.ID, AppID: app.ID, Status: herald.StatusPending,
				NextAttemptAt: at, CreatedAt: at, UpdatedAt: at}
		}
		must(t, "publish", s.Publish(ctx, m, ds, "", time.Time{}))
		w.m[i] = m
	}
	publish(0, w.a, t0, "invoice.paid", w.a1, w.a2)
	publish(1, w.a, t0.Add(time.Minute), "invoice.paid", w.a1, w.a2)
	publish(2, w.b, t0.Add(2*time.Minute), "user.created", w.b1)

	// Attempt the first three messages' deliveries.
	jobs, err := s.Claim(ctx, "node", t0.Add(3*time.Minute), time.Minute, 10)
	must(t, "claim", err)
	if len(jobs) != 5 {
		t.Fatalf("claim: got %d jobs, want 5", len(jobs))
	}
	at := t0.Add(3 * time.Minute)
	var results []store.Result
	for i, j := range jobs {
		code, out, class := 200, herald.Outcome{Status: herald.StatusSuccess}, herald.ErrorClass("")
		switch {
		case j.Delivery.EndpointID == w.a2.ID && j.Delivery.MsgID == w.m[0].ID:
			code, out = 503, herald.Outcome{Status: herald.StatusFail}
		case j.Delivery.EndpointID == w.a2.ID:
			code, out, class = 0, herald.Outcome{Status: herald.StatusFail}, herald.ErrClassTimeout
		case j.Delivery.EndpointID == w.b1.ID:
			code, out = 410, herald.Outcome{Status: herald.StatusFail, DisableEndpoint: true}
		}
		st := herald.StatusFail
		if out.Status == herald.StatusSuccess {
			st = herald.StatusSuccess
		}
		results = append(results, store.Result{Attempt: herald.Attempt{
			ID: herald.NewID(herald.PrefixAttempt, at.Add(time.Duration(i)*time.Millisecond)), MsgID: j.Delivery.MsgID,
			EndpointID: j.Delivery.EndpointID, AppID: j.Delivery.AppID, URL: j.Endpoint.URL, Status: st,
			StatusCode: code, ErrorClass: class, Duration: time.Millisecond, CreatedAt: at,
		}, Outcome: out, Attempts: j.Delivery.Attempts + 1, Owner: j.Delivery.LeaseOwner})
	}
	_, err = s.Record(ctx, results)
	must(t, "record", err)
	publish(3, w.a, t0.Add(20*time.Minute), "order.shipped", w.a1)
	return w
}

func testOverview(t *testing.T, w *world) {
	n, err := w.s.CountMessages(w.ctx, w.t0, w.t0.Add(2*time.Minute))
	must(t, "count messages", err)
	if n != 2 {
		t.Errorf("count messages in [t0, t0+2m): got %d, want 2", n)
	}
	st, err := w.s.DeliveryStats(w.ctx, w.t0, w.t0.Add(time.Hour))
	must(t, "delivery stats", err)
	if want := (store.Stats{Success: 2, Fail: 3, Pending: 1}); st != want {
		t.Errorf("delivery stats: got %+v, want %+v", st, want)
	}
	b, err := w.s.AttemptBuckets(w.ctx, w.t0, w.t0.Add(time.Hour), 15*time.Minute)
	must(t, "attempt buckets", err)
	if len(b) != 4 {
		t.Fatalf("attempt buckets: got %d buckets, want 4", len(b))
	}
	if b[0].Success != 2 || b[0].Fail != 3 || !b[0].Start.Equal(w.t0) {
		t.Errorf("first bucket: got %+v, want 2 successes and 3 failures at %v", b[0], w.t0)
	}
	for i, bk := range b[1:] {
		if bk.Success+bk.Fail != 0 {
			t.Errorf("bucket %d: got %+v, want empty", i+1, bk)
		}
		if want := w.t0.Add(time.Duration(i+1) * 15 * time.Minute); !bk.Start.Equal(want) {
			t.Errorf("bucket %d: got start %v, want %v", i+1, bk.Start, want)
		}
	}
}

func testUnhealthy(t *testing.T, w *world) {
	hs, err := w.s.UnhealthyEndpoints(w.ctx, 10)
	must(t, "unhealthy endpoints", err)
	got := map[string]store.EndpointHealth{}
	for _, h := range hs {
		got[h.Endpoint.ID] = h
	}
	if len(hs) != 2 {
		t.Fatalf("unhealthy endpoints: got %d, want 2 (a2 failing, b1 disabled)", len(hs))
	}
	if h := got[w.a2.ID]; h.Endpoint.FailingSince.IsZero() || h.Endpoint.Disabled || h.AppName != "Acme" {
		t.Errorf("a2: got %+v, want failing, enabled, of Acme", h)
	}
	if h := got[w.b1.ID]; !h.Endpoint.Disabled || h.AppName != "Globex" || h.Endpoint.URL != w.b1.URL {
		t.Errorf("b1: got %+v, want disabled, of Globex", h)
	}
}

func testMessages(t *testing.T, w *world) {
	ids := func(rows []store.MessageRow) []string {
		var out []string
		for _, r := range rows {
			out = append(out, r.Message.ID)
		}
		return out
	}
	fail, pending := herald.StatusFail, herald.StatusPending
	for _, tc := range []struct {
		name string
		f    store.DashboardMessageFilter
		want []*herald.Message
	}{
		{"all, newest first", store.DashboardMessageFilter{}, []*herald.Message{w.m[3], w.m[2], w.m[1], w.m[0]}},
		{"one application", store.DashboardMessageFilter{AppID: w.b.ID}, []*herald.Message{w.m[2]}},
		{"event type", store.DashboardMessageFilter{EventType: "invoice.paid"}, []*herald.Message{w.m[1], w.m[0]}},
		{"status fail", store.DashboardMessageFilter{Status: &fail}, []*herald.Message{w.m[2], w.m[1], w.m[0]}},
		{"status pending", store.DashboardMessageFilter{Status: &pending}, []*herald.Message{w.m[3]}},
		{"since", store.DashboardMessageFilter{Since: w.t0.Add(time.Minute)}, []*herald.Message{w.m[3], w.m[2], w.m[1]}},
		{"until", store.DashboardMessageFilter{Until: w.t0.Add(time.Minute)}, []*herald.Message{w.m[0]}},
		{"page", store.DashboardMessageFilter{Page: store.Page{Limit: 2, Iterator: w.m[3].ID}}, []*herald.Message{w.m[2], w.m[1]}},
	} {
		rows, err := w.s.ListAllMessages(w.ctx, tc.f)
		must(t, tc.name, err)
		var want []string
		for _, m := range tc.want {
			want = append(want, m.ID)
		}
		if got := ids(rows); !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, want)
		}
	}
	rows, err := w.s.ListAllMessages(w.ctx, store.DashboardMessageFilter{AppID: w.a.ID, Until: w.t0.Add(time.Second)})
	must(t, "list m1", err)
	if len(rows) != 1 || rows[0].Stats != (store.Stats{Success: 1, Fail: 1}) || string(rows[0].Message.Payload) != `{"n":1}` ||
		rows[0].Message.EventType != "invoice.paid" || !rows[0].Message.CreatedAt.Equal(w.t0) {
		t.Errorf("m1 row: got %+v, want one success, one failure, its payload, type and time", rows)
	}
}

func testFailed(t *testing.T, w *world) {
	all, err := w.s.ListFailed(w.ctx, store.FailedFilter{})
	must(t, "list failed", err)
	if len(all) != 3 {
		t.Fatalf("list failed: got %d rows, want 3", len(all))
	}
	first := all[0]
	if first.Delivery.MsgID != w.m[2].ID || first.Delivery.EndpointID != w.b1.ID || first.AppName != "Globex" ||
		first.EndpointURL != w.b1.URL || first.LastStatusCode != 410 || first.EventType != "user.created" || first.Delivery.Attempts != 1 {
		t.Errorf("newest failed: got %+v, want m3 to b1 (Globex), 410, user.created, 2 attempts", first)
	}
	if all[1].Delivery.MsgID != w.m[1].ID || all[1].LastStatusCode != 0 || all[1].LastError != string(herald.ErrClassTimeout) {
		t.Errorf("second failed: got %+v, want m2 with a timeout", all[1])
	}
	if all[2].Delivery.MsgID != w.m[0].ID || all[2].LastStatusCode != 503 {
		t.Errorf("third failed: got %+v, want m1 with 503", all[2])
	}

	page1, err := w.s.ListFailed(w.ctx, store.FailedFilter{Limit: 2})
	must(t, "failed page 1", err)
	page2, err := w.s.ListFailed(w.ctx, store.FailedFilter{Limit: 2, Iterator: page1[len(page1)-1].Cursor()})
	must(t, "failed page 2", err)
	if len(page1) != 2 || len(page2) != 1 || page2[0].Delivery.MsgID != w.m[0].ID {
		t.Errorf("paging: got %d then %d rows, want 2 then 1 (m1)", len(page1), len(page2))
	}

	onlyA, err := w.s.ListFailed(w.ctx, store.FailedFilter{AppID: w.a.ID, Since: w.t0.Add(time.Minute)})
	must(t, "failed of A since t0+1m", err)
	if len(onlyA) != 1 || onlyA[0].Delivery.MsgID != w.m[1].ID {
		t.Errorf("failed of A since t0+1m: got %+v, want m2 only", onlyA)
	}

	keys, err := w.s.FailedEndpoints(w.ctx, w.t0)
	must(t, "failed endpoints", err)
	want := []store.EndpointKey{{AppID: w.a.ID, EndpointID: w.a2.ID}, {AppID: w.b.ID, EndpointID: w.b1.ID}}
	slices.SortFunc(want, func(x, y store.EndpointKey) int {
		if x.AppID < y.AppID {
			return -1
		}
		if x.AppID > y.AppID {
			return 1
		}
		return 0
	})
	if !slices.Equal(keys, want) {
		t.Errorf("failed endpoints: got %v, want %v", keys, want)
	}
	later, err := w.s.FailedEndpoints(w.ctx, w.t0.Add(2*time.Minute))
	must(t, "failed endpoints later", err)
	if len(later) != 1 || later[0].EndpointID != w.b1.ID {
		t.Errorf("failed endpoints since t0+2m: got %v, want b1 only", later)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
