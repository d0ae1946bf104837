package opevent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

const opsApp = "app_ops"

// lookup is a Lookup made of functions; nil ones answer not found.
type lookup struct {
	app      func(id string) (*herald.Application, error)
	endpoint func(appID, id string) (*herald.Endpoint, error)
	message  func(appID, id string) (*herald.Message, error)
}

func (l lookup) GetApplication(_ context.Context, id string) (*herald.Application, error) {
	if l.app == nil {
		return nil, herald.ErrNotFound
	}
	return l.app(id)
}

func (l lookup) GetEndpoint(_ context.Context, appID, id string) (*herald.Endpoint, error) {
	if l.endpoint == nil {
		return nil, herald.ErrNotFound
	}
	return l.endpoint(appID, id)
}

func (l lookup) GetMessage(_ context.Context, appID, id string) (*herald.Message, error) {
	if l.message == nil {
		return nil, herald.ErrNotFound
	}
	return l.message(appID, id)
}

// publisher is a Publisher made of a function, that keeps what it
// published.
type publisher struct {
	mu   sync.Mutex
	fn   func(msg *herald.Message) error // nil: accept
	msgs []*herald.Message
}

func (p *publisher) Publish(_ context.Context, msg *herald.Message) error {
	if p.fn != nil {
		if err := p.fn(msg); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, msg)
	return nil
}

// bodies returns the payloads published, in order.
func (p *publisher) bodies() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, len(p.msgs))
	for i, m := range p.msgs {
		out[i] = string(m.Payload)
		if m.AppID != opsApp || m.EventType == "" || m.ExpiresAt.IsZero() {
			out[i] = fmt.Sprintf("bad message: app %s, type %q, expires %v", m.AppID, m.EventType, m.ExpiresAt)
		}
	}
	return out
}

func newEmitter(t *testing.T, l Lookup, queue int) *Emitter {
	t.Helper()
	e, err := New(Config{AppID: opsApp, Lookup: l, QueueSize: queue, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// run publishes what e was given through pub and returns once it is done.
func run(t *testing.T, e *Emitter, pub Publisher) {
	t.Helper()
	if err := e.Start(pub); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// counter returns the value of the emitter's counter name, with the
// reason label when given.
func counter(t *testing.T, e *Emitter, name, reason string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.published, e.dropped)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if reason == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == reason) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

var at = time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC)

func result(appID, epID string, attempts, code int, status herald.MessageStatus) store.Result {
	a := herald.StatusFail
	if code/100 == 2 {
		a = herald.StatusSuccess
	}
	return store.Result{
		Attempt: herald.Attempt{ID: fmt.Sprintf("atmpt_%d", attempts), MsgID: "msg_1", EndpointID: epID, AppID: appID,
			Status: a, StatusCode: code, CreatedAt: at},
		Outcome:  herald.Outcome{Status: status, DisableEndpoint: code == 410},
		Attempts: attempts,
	}
}

// interrupted marks r as a send its node's stop cut off.
func interrupted(r store.Result) store.Result {
	r.Interrupted = true
	return r
}

func TestRecordedSendsSvixAttemptEvents(t *testing.T) {
	t.Parallel()
	l := lookup{
		app: func(id string) (*herald.Application, error) { return &herald.Application{ID: id, UID: "acme"}, nil },
		endpoint: func(appID, id string) (*herald.Endpoint, error) {
			return &herald.Endpoint{ID: id, AppID: appID, UID: "hooks", FailingSince: at.Add(-time.Hour).Truncate(time.Millisecond)}, nil
		},
		message: func(appID, id string) (*herald.Message, error) {
			return &herald.Message{ID: id, AppID: appID, EventID: "order-1"}, nil
		},
	}
	tests := []struct {
		name     string
		batch    []store.Result
		disabled []string
		want     []string
	}{
		{"third failure", []store.Result{result("app_1", "ep_1", 3, 500, herald.StatusSending)}, nil, nil},
		{"fourth failure with a retry", []store.Result{result("app_1", "ep_1", 4, 500, herald.StatusSending)}, nil, []string{
			`{"type":"message.attempt.failing","data":{"appId":"app_1","appUid":"acme","msgId":"msg_1","msgEventId":"order-1","endpointId":"ep_1","lastAttempt":{"id":"atmpt_4","timestamp":"2026-05-01T12:00:00.123Z","responseStatusCode":500}}}`,
		}},
		{"fifth failure", []store.Result{result("app_1", "ep_1", 5, 0, herald.StatusSending)}, nil, nil},
		{"a send cut off by a stop", []store.Result{interrupted(result("app_1", "ep_1", 4, 0, herald.StatusSending))}, nil, nil},
		{"last failure", []store.Result{result("app_1", "ep_1", 8, 0, herald.StatusFail)}, nil, []string{
			`{"type":"message.attempt.exhausted","data":{"appId":"app_1","appUid":"acme","msgId":"msg_1","msgEventId":"order-1","endpointId":"ep_1","lastAttempt":{"id":"atmpt_8","timestamp":"2026-05-01T12:00:00.123Z","responseStatusCode":0}}}`,
		}},
		{"fourth failure is the last", []store.Result{result("app_1", "ep_1", 4, 500, herald.StatusFail)}, nil, []string{
			`{"type":"message.attempt.exhausted","data":{"appId":"app_1","appUid":"acme","msgId":"msg_1","msgEventId":"order-1","endpointId":"ep_1","lastAttempt":{"id":"atmpt_4","timestamp":"2026-05-01T12:00:00.123Z","responseStatusCode":500}}}`,
		}},
		{"success after a failing event", []store.Result{result("app_1", "ep_1", 5, 200, herald.StatusSuccess)}, nil, []string{
			`{"type":"message.attempt.recovered","data":{"appId":"app_1","appUid":"acme","msgId":"msg_1","msgEventId":"order-1","endpointId":"ep_1","lastAttempt":{"id":"atmpt_5","timestamp":"2026-05-01T12:00:00.123Z","responseStatusCode":200}}}`,
		}},
		{"success before one", []store.Result{result("app_1", "ep_1", 4, 204, herald.StatusSuccess)}, nil, nil},
		{"410 disables", []store.Result{result("app_1", "ep_1", 1, 410, herald.StatusFail)}, []string{"ep_1"}, []string{
			`{"type":"message.attempt.exhausted","data":{"appId":"app_1","appUid":"acme","msgId":"msg_1","msgEventId":"order-1","endpointId":"ep_1","lastAttempt":{"id":"atmpt_1","timestamp":"2026-05-01T12:00:00.123Z","responseStatusCode":410}}}`,
			`{"type":"endpoint.disabled","data":{"appId":"app_1","appUid":"acme","endpointId":"ep_1","endpointUid":"hooks","failSince":"2026-05-01T11:00:00.123Z","trigger":"automatic"}}`,
		}},
		{"the operational application", []store.Result{
			result(opsApp, "ep_ops", 4, 500, herald.StatusSending),
			result(opsApp, "ep_ops", 8, 500, herald.StatusFail),
			result(opsApp, "ep_ops2", 1, 410, herald.StatusFail),
		}, []string{"ep_ops2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEmitter(t, l, 0)
			e.Recorded(tt.batch, tt.disabled)
			pub := &publisher{}
			run(t, e, pub)
			got := pub.bodies()
			if len(got) != len(tt.want) {
				t.Fatalf("published %d events, want %d:\n%v", len(got), len(tt.want), got)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("event %d:\ngot  %s\nwant %s", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestEndpointEvents(t *testing.T) {
	t.Parallel()
	e := newEmitter(t, lookup{}, 0)
	app := &herald.Application{ID: "app_1"} // no UID: left out
	ep := &herald.Endpoint{ID: "ep_1", UID: "hooks"}
	e.EndpointCreated(app, ep)
	e.EndpointUpdated(app, ep, false)
	ep.FailingSince = at
	e.EndpointUpdated(app, ep, true)
	e.EndpointDeleted(app, ep)
	ops := &herald.Application{ID: opsApp, UID: AppUID}
	e.EndpointCreated(ops, ep)
	e.EndpointUpdated(ops, ep, true)
	e.EndpointDeleted(ops, ep)
	pub := &publisher{}
	run(t, e, pub)
	want := []string{
		`{"type":"endpoint.created","data":{"appId":"app_1","endpointId":"ep_1","endpointUid":"hooks"}}`,
		`{"type":"endpoint.updated","data":{"appId":"app_1","endpointId":"ep_1","endpointUid":"hooks"}}`,
		`{"type":"endpoint.updated","data":{"appId":"app_1","endpointId":"ep_1","endpointUid":"hooks"}}`,
		`{"type":"endpoint.disabled","data":{"appId":"app_1","endpointId":"ep_1","endpointUid":"hooks","failSince":"2026-05-01T12:00:00.123456789Z","trigger":"manual"}}`,
		`{"type":"endpoint.deleted","data":{"appId":"app_1","endpointId":"ep_1","endpointUid":"hooks"}}`,
	}
	got := pub.bodies()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("published:\n%v\nwant:\n%v", got, want)
	}
	for _, b := range got {
		if !json.Valid([]byte(b)) {
			t.Errorf("not JSON: %s", b)
		}
	}
}

// Svix requires failSince in endpoint.disabled. An endpoint disabled by
// hand while healthy reports when it was disabled; with no such time
// either, the clock's.
func TestManualDisableAlwaysHasFailSince(t *testing.T) {
	t.Parallel()
	e, err := New(Config{AppID: opsApp, Lookup: lookup{}, Registry: prometheus.NewRegistry(), Now: func() time.Time { return at.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	app := &herald.Application{ID: "app_1"}
	e.EndpointUpdated(app, &herald.Endpoint{ID: "ep_1", UpdatedAt: at}, true)
	e.EndpointUpdated(app, &herald.Endpoint{ID: "ep_2"}, true)
	pub := &publisher{}
	run(t, e, pub)
	want := []string{
		`{"type":"endpoint.updated","data":{"appId":"app_1","endpointId":"ep_1"}}`,
		`{"type":"endpoint.disabled","data":{"appId":"app_1","endpointId":"ep_1","failSince":"2026-05-01T12:00:00.123456789Z","trigger":"manual"}}`,
		`{"type":"endpoint.updated","data":{"appId":"app_1","endpointId":"ep_2"}}`,
		`{"type":"endpoint.disabled","data":{"appId":"app_1","endpointId":"ep_2","failSince":"2026-05-01T13:00:00.123456789Z","trigger":"manual"}}`,
	}
	if got := pub.bodies(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("published:\n%v\nwant:\n%v", got, want)
	}
}

func TestEmitterRetriesWhileStoreUnavailable(t *testing.T) {
	t.Parallel()
	lookups := 0
	l := lookup{app: func(id string) (*herald.Application, error) {
		lookups++
		if lookups == 1 {
			return nil, fmt.Errorf("get application: %w", herald.ErrUnavailable)
		}
		return &herald.Application{ID: id, UID: "acme"}, nil
	}}
	publishes := 0
	pub := &publisher{fn: func(*herald.Message) error {
		publishes++
		if publishes <= 2 {
			return fmt.Errorf("publish: %w", herald.ErrUnavailable)
		}
		return nil
	}}
	e := newEmitter(t, l, 0)
	e.Recorded([]store.Result{result("app_1", "ep_1", 8, 500, herald.StatusFail)}, nil)
	run(t, e, pub)
	if got := pub.bodies(); len(got) != 1 || publishes != 3 || lookups != 2 {
		t.Fatalf("published %v after %d publishes and %d lookups; want one event after 3 and 2", got, publishes, lookups)
	}
	if n := counter(t, e, "herald_operational_events_published_total", ""); n != 1 {
		t.Errorf("published counter %v, want 1", n)
	}
}

// A publish the store committed but could not confirm is retried under
// the same message ID, so the retry conflicts instead of publishing the
// event a second time, and counts as published.
func TestEmitterRetriesUnderTheSameID(t *testing.T) {
	t.Parallel()
	var ids []string
	committed := map[string]bool{}
	pub := &publisher{fn: func(msg *herald.Message) error {
		ids = append(ids, msg.ID)
		switch {
		case committed[msg.ID]:
			return fmt.Errorf("publish: %w", herald.ErrConflict)
		case len(ids) == 1:
			committed[msg.ID] = true
			return fmt.Errorf("publish: the commit's answer was lost: %w", herald.ErrUnavailable)
		}
		return nil
	}}
	e := newEmitter(t, lookup{}, 0)
	e.EndpointCreated(&herald.Application{ID: "app_1", UID: "acme"}, &herald.Endpoint{ID: "ep_1", AppID: "app_1"})
	run(t, e, pub)
	if len(ids) != 2 || ids[0] != ids[1] {
		t.Errorf("publish calls with message IDs %v, want two with the same ID", ids)
	}
	if n := counter(t, e, "herald_operational_events_published_total", ""); n != 1 {
		t.Errorf("published counter %v, want 1", n)
	}
}

func TestEmitterDropsOnOtherErrors(t *testing.T) {
	t.Parallel()
	pub := &publisher{fn: func(msg *herald.Message) error {
		if msg.EventType == EndpointCreated {
			return errors.New("application deleted")
		}
		return nil
	}}
	e := newEmitter(t, lookup{}, 0)
	app, ep := &herald.Application{ID: "app_1"}, &herald.Endpoint{ID: "ep_1"}
	e.EndpointCreated(app, ep)
	e.EndpointDeleted(app, ep)
	run(t, e, pub)
	if got := pub.bodies(); len(got) != 1 {
		t.Fatalf("published %v, want only endpoint.deleted: a failed event must not hold up the next", got)
	}
	if n := counter(t, e, "herald_operational_events_dropped_total", "error"); n != 1 {
		t.Errorf("dropped{reason=error} = %v, want 1", n)
	}
}

func TestEmitterDropsWhenQueueFull(t *testing.T) {
	t.Parallel()
	e := newEmitter(t, lookup{}, 2)
	app := &herald.Application{ID: "app_1"}
	for i := range 3 {
		e.EndpointCreated(app, &herald.Endpoint{ID: fmt.Sprintf("ep_%d", i)})
	}
	if n := counter(t, e, "herald_operational_events_dropped_total", "queue_full"); n != 1 {
		t.Errorf("dropped{reason=queue_full} = %v, want 1", n)
	}
	pub := &publisher{}
	run(t, e, pub)
	want := []string{
		`{"type":"endpoint.created","data":{"appId":"app_1","endpointId":"ep_0"}}`,
		`{"type":"endpoint.created","data":{"appId":"app_1","endpointId":"ep_1"}}`,
	}
	if got := pub.bodies(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("published %v, want the first two in order: %v", got, want)
	}
	// After Stop nothing is queued any more.
	e.EndpointCreated(app, &herald.Endpoint{ID: "ep_late"})
	if n := counter(t, e, "herald_operational_events_dropped_total", "stopped"); n != 1 {
		t.Errorf("dropped{reason=stopped} = %v after an event emitted after Stop, want 1", n)
	}
}

func TestEmitterStopGivesUpAtDeadline(t *testing.T) {
	t.Parallel()
	tried := make(chan struct{}, 1)
	pub := &publisher{fn: func(*herald.Message) error {
		select {
		case tried <- struct{}{}:
		default:
		}
		return herald.ErrUnavailable
	}}
	e := newEmitter(t, lookup{}, 0)
	e.EndpointCreated(&herald.Application{ID: "app_1"}, &herald.Endpoint{ID: "ep_1"})
	if err := e.Start(pub); err != nil {
		t.Fatal(err)
	}
	<-tried // the store is down and the emitter is retrying
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Stop(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Stop with a canceled context = %v, want context.Canceled", err)
	}
	if n := counter(t, e, "herald_operational_events_dropped_total", "stopped"); n != 1 {
		t.Errorf("dropped{reason=stopped} = %v, want 1", n)
	}
	if err := e.Stop(context.Background()); err != nil {
		t.Errorf("second Stop = %v, want nil", err)
	}
}
