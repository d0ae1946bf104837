package retention

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// fakeStore is a Store of function fields; a nil expireInbound deletes
// nothing.
type fakeStore struct {
	expire        func(ctx context.Context, now time.Time, limit int) (int, error)
	expireInbound func(ctx context.Context, before time.Time, limit int) (int, error)
}

func (s fakeStore) ExpireMessages(ctx context.Context, now time.Time, limit int) (int, error) {
	return s.expire(ctx, now, limit)
}

func (s fakeStore) ExpireInboundEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	if s.expireInbound == nil {
		return 0, nil
	}
	return s.expireInbound(ctx, before, limit)
}

func (s fakeStore) ExpireIdempotencyKeys(context.Context, time.Time, int) (int, error) { return 0, nil }

func (s fakeStore) ExpireRevokedSessions(context.Context, time.Time, int) (int, error) { return 0, nil }

func newJob(t *testing.T, cfg Config) *Job {
	t.Helper()
	j, err := New(cfg)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	return j
}

func TestRunOnceLoopsUntilAShortBatch(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		batches   []int
		wantCalls int
		wantTotal int
	}{
		{"nothing expired", []int{0}, 1, 0},
		{"one short batch", []int{1}, 1, 1},
		{"full batches then short", []int{2, 2, 1}, 3, 5},
		{"full batches then empty", []int{2, 2, 0}, 3, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			st := fakeStore{expire: func(_ context.Context, at time.Time, limit int) (int, error) {
				if !at.Equal(now) {
					t.Errorf("now: got %v, want %v", at, now)
				}
				if limit != 2 {
					t.Errorf("limit: got %d, want 2", limit)
				}
				if calls >= len(tc.batches) {
					t.Fatalf("call %d: want at most %d calls", calls+1, len(tc.batches))
				}
				n := tc.batches[calls]
				calls++
				return n, nil
			}}
			j := newJob(t, Config{Store: st, Batch: 2, Now: func() time.Time { return now }})
			c, err := j.RunOnce(t.Context())
			if err != nil {
				t.Fatalf("run once: %v", err)
			}
			if total := c.MessageRows; total != tc.wantTotal || calls != tc.wantCalls {
				t.Errorf("got total %d in %d calls, want %d in %d", total, calls, tc.wantTotal, tc.wantCalls)
			}
		})
	}
}

func TestRunOnceReturnsStoreErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk full")
	calls := 0
	st := fakeStore{expire: func(context.Context, time.Time, int) (int, error) {
		calls++
		if calls == 1 {
			return 1000, nil
		}
		return 0, boom
	}}
	inboundCalled := false
	st.expireInbound = func(context.Context, time.Time, int) (int, error) { inboundCalled = true; return 0, nil }
	c, err := newJob(t, Config{Store: st}).RunOnce(t.Context())
	if !errors.Is(err, boom) {
		t.Errorf("error: got %v, want %v", err, boom)
	}
	if inboundCalled {
		t.Error("inbound events expired after the messages failed: want the run to stop at the error")
	}
	if total := c.MessageRows; total != 1000 {
		t.Errorf("total: got %d, want 1000 (the batch before the error)", total)
	}
}

func TestNewAppliesDefaults(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}); err == nil {
		t.Errorf("new without store: got nil error, want one")
	}
	j := newJob(t, Config{Store: fakeStore{}})
	if j.cfg.Interval != time.Hour || j.cfg.Batch != 1000 || j.cfg.Now == nil || j.cfg.Logger == nil || j.cfg.InboundAge != 90*24*time.Hour {
		t.Errorf("defaults: got interval %v batch %d inbound age %v, want 1h 1000 90 days with a clock and logger",
			j.cfg.Interval, j.cfg.Batch, j.cfg.InboundAge)
	}
}

// Inbound events go when older than InboundAge, in batches, after the
// messages.
func TestRunOnceExpiresInboundEvents(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var calls []int
	st := fakeStore{
		expire: func(context.Context, time.Time, int) (int, error) { return 0, nil },
		expireInbound: func(_ context.Context, before time.Time, limit int) (int, error) {
			if want := now.Add(-7 * 24 * time.Hour); !before.Equal(want) {
				t.Errorf("before: got %v, want %v", before, want)
			}
			n := []int{3, 3, 1}[len(calls)]
			calls = append(calls, limit)
			return n, nil
		},
	}
	j := newJob(t, Config{Store: st, Batch: 3, InboundAge: 7 * 24 * time.Hour, Now: func() time.Time { return now }})
	c, err := j.RunOnce(t.Context())
	if err != nil {
		t.Fatalf("run once: %v", err)
	}
	if c.InboundEvents != 7 || len(calls) != 3 {
		t.Errorf("got %d inbound events in %d calls, want 7 in 3", c.InboundEvents, len(calls))
	}
}

// The job runs at start and on every tick, and Stop waits for it and may
// be called twice.
func TestStartRunsOnEachTickUntilStopped(t *testing.T) {
	t.Parallel()
	runs := make(chan struct{})
	st := fakeStore{expire: func(ctx context.Context, _ time.Time, _ int) (int, error) {
		select {
		case runs <- struct{}{}:
		case <-ctx.Done():
		}
		return 0, nil
	}}
	tick := make(chan time.Time)
	j := newJob(t, Config{Store: st, Tick: tick})
	if err := j.Stop(t.Context()); err != nil {
		t.Fatalf("stop before start: got %v, want nil", err)
	}
	j.Start(t.Context())
	j.Start(t.Context()) // no second goroutine
	<-runs               // the run at start
	tick <- time.Now()
	<-runs // the run on the tick
	if err := j.Stop(t.Context()); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := j.Stop(t.Context()); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	select {
	case tick <- time.Now():
		t.Fatalf("tick after stop: got it received, want the job gone")
	default:
	}
}

// Stop gives up when its context ends before the run does.
func TestStopHonoursItsContext(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	st := fakeStore{expire: func(context.Context, time.Time, int) (int, error) {
		close(started)
		<-release // ignores cancellation, like a stuck database call
		return 0, nil
	}}
	j := newJob(t, Config{Store: st, Tick: make(chan time.Time)})
	j.Start(t.Context())
	<-started
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := j.Stop(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("stop: got %v, want %v", err, context.Canceled)
	}
	close(release)
	if err := j.Stop(t.Context()); err != nil {
		t.Errorf("stop after release: got %v, want nil", err)
	}
}

// Against a real SQLite file, one run deletes every expired message in
// several batches, even one with more rows than a batch, and keeps the
// rest.
func TestRunOnceAgainstSQLite(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "herald.db")})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	app := &herald.Application{ID: herald.NewID(herald.PrefixApp, t0), Name: "shop", CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateApplication(ctx, app); err != nil {
		t.Fatalf("create application: %v", err)
	}
	publish := func(expires time.Time) *herald.Message {
		m := &herald.Message{
			ID: herald.NewID(herald.PrefixMessage, t0), AppID: app.ID, EventType: "invoice.paid",
			Payload: []byte(`{"amount":100}`), CreatedAt: t0, ExpiresAt: expires,
		}
		if err := db.Publish(ctx, m, nil, "", time.Time{}); err != nil {
			t.Fatalf("publish: %v", err)
		}
		return m
	}
	for range 5 {
		publish(t0.Add(time.Hour))
	}
	kept := publish(t0.Add(3 * time.Hour))
	// A message with more rows than a batch goes over several batches.
	fanned := &herald.Message{ID: herald.NewID(herald.PrefixMessage, t0), AppID: app.ID, EventType: "invoice.paid",
		Payload: []byte(`{}`), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	var ds []herald.Delivery
	for i := range 3 {
		ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, t0), AppID: app.ID,
			URL: fmt.Sprintf("https://example.com/%d", i), CreatedAt: t0, UpdatedAt: t0}
		if err := db.CreateEndpoint(ctx, ep); err != nil {
			t.Fatalf("create endpoint: %v", err)
		}
		ds = append(ds, herald.Delivery{MsgID: fanned.ID, EndpointID: ep.ID, AppID: app.ID, Status: herald.StatusPending})
	}
	if err := db.Publish(ctx, fanned, ds, "", time.Time{}); err != nil {
		t.Fatalf("publish to three endpoints: %v", err)
	}
	jobs, err := db.Claim(ctx, "node", t0, time.Minute, 10)
	if err != nil || len(jobs) != 3 {
		t.Fatalf("claim: got %d jobs, %v; want 3", len(jobs), err)
	}
	for _, j := range jobs {
		if _, err := db.Record(ctx, []store.Result{{
			Attempt: herald.Attempt{ID: herald.NewID(herald.PrefixAttempt, t0), MsgID: j.Delivery.MsgID, EndpointID: j.Delivery.EndpointID,
				AppID: app.ID, URL: j.Endpoint.URL, Status: herald.StatusSuccess, StatusCode: 200, CreatedAt: t0},
			Outcome: herald.Outcome{Status: herald.StatusSuccess}, Attempts: 1, Owner: j.Delivery.LeaseOwner,
		}}); err != nil {
			t.Fatalf("record: %v", err)
		}
	}
	src := &store.Source{ID: herald.NewID(herald.PrefixSource, t0), AppID: app.ID, Name: "gh",
		Verifier: []byte(`{"type":"github"}`), MaxBodyBytes: 1 << 20, CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateSource(ctx, src); err != nil {
		t.Fatalf("create source: %v", err)
	}
	ingest := func(at time.Time) *store.InboundEvent {
		ev := &store.InboundEvent{ID: herald.NewID(herald.PrefixInbound, at), SourceID: src.ID, ReceivedAt: at,
			Body: []byte("{}"), Headers: map[string][]string{}}
		m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, at), AppID: app.ID, EventType: "push",
			Payload: ev.Body, CreatedAt: at, ExpiresAt: t0.Add(3 * time.Hour)}
		if _, err := db.Ingest(ctx, ev, m, nil, "", time.Time{}); err != nil {
			t.Fatalf("ingest: %v", err)
		}
		return ev
	}
	for range 3 {
		ingest(t0.Add(-DefaultInboundAge))
	}
	recent := ingest(t0)
	for i, expires := range []time.Duration{time.Hour, time.Hour, time.Hour, 3 * time.Hour} {
		key := fmt.Sprintf("idem-%d", i)
		if _, _, err := db.BeginIdempotent(ctx, key, t0, t0.Add(expires), ""); err != nil {
			t.Fatalf("begin idempotent: %v", err)
		}
		if err := db.FinishIdempotent(ctx, key, &store.IdempotentResponse{StatusCode: 202, Body: []byte("{}")}); err != nil {
			t.Fatalf("finish idempotent: %v", err)
		}
	}
	for i, expires := range []time.Duration{time.Hour, time.Hour, time.Hour, 3 * time.Hour} {
		if err := db.RevokeSession(ctx, []byte{byte(i)}, t0.Add(expires)); err != nil {
			t.Fatalf("revoke session: %v", err)
		}
	}

	j := newJob(t, Config{Store: db, Batch: 2, Now: func() time.Time { return t0.Add(2 * time.Hour) }})
	c, err := j.RunOnce(ctx)
	if err != nil {
		t.Fatalf("run once: %v", err)
	}
	if c.MessageRows != 12 || c.InboundEvents != 3 || c.IdempotencyKeys != 3 || c.RevokedSessions != 3 {
		t.Errorf("deleted: got %+v, want 12 message rows (6 messages, 3 deliveries, 3 attempts), 3 inbound events, 3 idempotency keys and 3 revoked sessions", c)
	}
	if revoked, err := db.SessionRevoked(ctx, []byte{3}); err != nil || !revoked {
		t.Errorf("unexpired session revocation: got %v, %v; want it kept", revoked, err)
	}
	if _, err := db.GetMessage(ctx, app.ID, fanned.ID); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("message with more rows than a batch: got %v, want %v", err, herald.ErrNotFound)
	}
	if _, err := db.GetInboundEvent(ctx, src.ID, recent.ID); err != nil {
		t.Errorf("recent inbound event: got %v, want it kept", err)
	}
	if _, err := db.GetMessage(ctx, app.ID, kept.ID); err != nil {
		t.Errorf("unexpired message: got %v, want it kept", err)
	}
}
