package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/webhook"
)

// opEvent is an operational webhook as the operator's endpoint gets it.
type opEvent struct {
	Type string `json:"type"`
	Data struct {
		AppID       string     `json:"appId"`
		AppUID      string     `json:"appUid"`
		EndpointID  string     `json:"endpointId"`
		EndpointUID string     `json:"endpointUid"`
		MsgID       string     `json:"msgId"`
		MsgEventID  string     `json:"msgEventId"`
		FailSince   *time.Time `json:"failSince"`
		Trigger     string     `json:"trigger"`
		LastAttempt *struct {
			ID                 string    `json:"id"`
			Timestamp          time.Time `json:"timestamp"`
			ResponseStatusCode int       `json:"responseStatusCode"`
		} `json:"lastAttempt"`
	} `json:"data"`
}

// opSink receives operational webhooks and checks each one's signature
// with the operator endpoint's secret, read from the API.
type opSink struct {
	*sink
	t      *testing.T
	verify *webhook.Verifier
	read   int             // requests decoded so far
	ids    map[string]bool // webhook-ids decoded so far
	got    []opEvent       // decoded, once per webhook-id
}

func newOpSink(t *testing.T) *opSink {
	return &opSink{sink: newSink(t), t: t, ids: map[string]bool{}}
}

// connect reads the operator endpoint's secret from the API.
func (o *opSink) connect(ctx context.Context, ts *testServer) {
	o.t.Helper()
	var secret struct{ Key string }
	if _, err := call(ctx, ts.URL, ts.Token, "GET", "/api/v1/app/herald-operational/endpoint/operator/secret", nil, &secret); err != nil {
		o.t.Fatal(err)
	}
	v, err := webhook.NewVerifier(secret.Key)
	if err != nil {
		o.t.Fatal(err)
	}
	o.verify = v
}

// events decodes what arrived since the last call, failing the test on a
// request whose signature does not verify. o.mu is held.
func (o *opSink) events() []opEvent {
	for ; o.read < len(o.requests); o.read++ {
		r := o.requests[o.read]
		id := r.Header.Get("webhook-id")
		if o.ids[id] {
			continue
		}
		o.ids[id] = true
		if err := o.verify.Verify(r.Body, r.Header); err != nil {
			o.t.Errorf("operational webhook %s does not verify with the operator endpoint's secret: %v", id, err)
		}
		var ev opEvent
		if err := json.Unmarshal(r.Body, &ev); err != nil {
			o.t.Errorf("operational webhook %s: %v: %s", id, err, r.Body)
		}
		o.got = append(o.got, ev)
	}
	return append([]opEvent(nil), o.got...)
}

// waitEvents waits until done holds over the events received, and returns
// them.
func (o *opSink) waitEvents(ctx context.Context, done func([]opEvent) bool) []opEvent {
	o.t.Helper()
	var got []opEvent
	if !o.waitFor(ctx, func(map[string]int) bool { got = o.events(); return done(got) }) {
		o.t.Fatalf("gave up waiting for operational webhooks; got %+v", got)
	}
	return got
}

// hasAll reports whether each of want matches at least one event.
func hasAll(want ...func(opEvent) bool) func([]opEvent) bool {
	return func(evs []opEvent) bool {
		for _, w := range want {
			if count(evs, w) == 0 {
				return false
			}
		}
		return true
	}
}

func count(evs []opEvent, match func(opEvent) bool) int {
	n := 0
	for _, ev := range evs {
		if match(ev) {
			n++
		}
	}
	return n
}

func about(typ, endpointID string) func(opEvent) bool {
	return func(ev opEvent) bool { return ev.Type == typ && ev.Data.EndpointID == endpointID }
}

func TestOperationalWebhooksEndpointLifecycle(t *testing.T) {
	t.Parallel()
	ops := newOpSink(t)
	ts := setup(t, "--operational-webhook-url", ops.URL)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ops.connect(ctx, ts)

	var app struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app", map[string]any{"name": "Acme", "uid": "acme"}, &app); err != nil {
		t.Fatal(err)
	}
	var ep struct{ ID string }
	path := "/api/v1/app/" + app.ID + "/endpoint"
	if _, err := call(ctx, ts.URL, ts.Token, "POST", path, map[string]any{"url": "https://example.com/hook", "uid": "hooks"}, &ep); err != nil {
		t.Fatal(err)
	}
	if _, err := call(ctx, ts.URL, ts.Token, "PUT", path+"/"+ep.ID, map[string]any{"url": "https://example.com/hook2", "uid": "hooks"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := call(ctx, ts.URL, ts.Token, "PATCH", path+"/hooks", map[string]any{"disabled": true}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := call(ctx, ts.URL, ts.Token, "DELETE", path+"/hooks", nil, nil); err != nil {
		t.Fatal(err)
	}

	got := ops.waitEvents(ctx, func(evs []opEvent) bool { return len(evs) >= 5 })
	want := map[string]int{"endpoint.created": 1, "endpoint.updated": 2, "endpoint.disabled": 1, "endpoint.deleted": 1}
	for typ, n := range want {
		if c := count(got, about(typ, ep.ID)); c != n {
			t.Errorf("got %d %s events, want %d", c, typ, n)
		}
	}
	for _, ev := range got {
		if ev.Data.AppID != app.ID || ev.Data.AppUID != "acme" || ev.Data.EndpointUID != "hooks" {
			t.Errorf("%s: data = %+v, want app %s (acme), endpoint %s (hooks)", ev.Type, ev.Data, app.ID, ep.ID)
		}
		if ev.Data.MsgID != "" || ev.Data.LastAttempt != nil {
			t.Errorf("%s carries message fields: %+v", ev.Type, ev.Data)
		}
		if ev.Type == "endpoint.disabled" && ev.Data.Trigger != "manual" {
			t.Errorf("endpoint.disabled after PATCH disabled=true: trigger %q, want manual", ev.Data.Trigger)
		}
	}

	// The event types exist, so operators can filter on them.
	for _, name := range []string{"endpoint.created", "endpoint.updated", "endpoint.deleted", "endpoint.disabled",
		"message.attempt.failing", "message.attempt.exhausted", "message.attempt.recovered"} {
		if _, err := call(ctx, ts.URL, ts.Token, "GET", "/api/v1/event-type/"+name, nil, nil); err != nil {
			t.Errorf("event type %s: %v", name, err)
		}
	}
	logs := ts.Logs.String()
	if !strings.Contains(logs, "/api/v1/app/herald-operational/endpoint/operator/secret") {
		t.Errorf("the logs do not say where the operational webhook secret is")
	}
}

func TestOperationalWebhooksAttemptOutcomes(t *testing.T) {
	t.Parallel()
	ops := newOpSink(t)
	// Six attempts: the fourth failure sends failing, the sixth exhausted.
	// The circuit breaker is off so that every attempt goes at once rather
	// than after a cool-down.
	ts := setup(t, "--operational-webhook-url", ops.URL, "--retry-schedule", "10ms,10ms,10ms,10ms,10ms", "--circuit-failures", "0")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ops.connect(ctx, ts)

	// A second endpoint of the operational application that always fails:
	// its failures must not become operational events themselves.
	brokenOps := newSink(t)
	brokenOps.status = func() int { return http.StatusInternalServerError }
	var brokenOpsEp struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/herald-operational/endpoint",
		map[string]any{"url": brokenOps.URL}, &brokenOpsEp); err != nil {
		t.Fatal(err)
	}

	failing := newSink(t)
	failing.status = func() int { return http.StatusInternalServerError }
	var calls atomic.Int32
	recovering := newSink(t)
	recovering.status = func() int {
		if calls.Add(1) <= 4 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	}
	gone := newSink(t)
	gone.status = func() int { return http.StatusGone }

	var app struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app", map[string]any{"name": "Acme", "uid": "acme"}, &app); err != nil {
		t.Fatal(err)
	}
	endpoint := func(url string) string {
		var ep struct{ ID string }
		if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/"+app.ID+"/endpoint", map[string]any{"url": url}, &ep); err != nil {
			t.Fatal(err)
		}
		return ep.ID
	}
	epFail, epRecover, epGone := endpoint(failing.URL), endpoint(recovering.URL), endpoint(gone.URL)
	var msg struct{ ID string }
	if _, err := call(ctx, ts.URL, ts.Token, "POST", "/api/v1/app/"+app.ID+"/msg",
		map[string]any{"eventType": "order.paid", "eventId": "order-1", "payload": map[string]any{"id": 1}}, &msg); err != nil {
		t.Fatal(err)
	}

	got := ops.waitEvents(ctx, hasAll(
		about("message.attempt.failing", epFail), about("message.attempt.exhausted", epFail),
		about("message.attempt.failing", epRecover), about("message.attempt.recovered", epRecover),
		about("message.attempt.exhausted", epGone), about("endpoint.disabled", epGone)))

	// Each names the message and its last attempt, which the API lists.
	attempts := func(ep string) []listedAttempt {
		var list struct{ Data []listedAttempt }
		if _, err := call(ctx, ts.URL, ts.Token, "GET", "/api/v1/app/"+app.ID+"/attempt/endpoint/"+ep, nil, &list); err != nil {
			t.Fatal(err)
		}
		return list.Data // newest first
	}
	failAttempts, recoverAttempts := attempts(epFail), attempts(epRecover)
	if len(failAttempts) != 6 || len(recoverAttempts) != 5 {
		t.Fatalf("got %d and %d attempts, want 6 (always failing) and 5 (recovering)", len(failAttempts), len(recoverAttempts))
	}
	checks := []struct {
		typ, ep string
		last    listedAttempt
	}{
		{"message.attempt.failing", epFail, failAttempts[2]}, // the fourth of six
		{"message.attempt.exhausted", epFail, failAttempts[0]},
		{"message.attempt.failing", epRecover, recoverAttempts[1]},
		{"message.attempt.recovered", epRecover, recoverAttempts[0]},
		{"message.attempt.exhausted", epGone, attempts(epGone)[0]},
	}
	for _, c := range checks {
		if n := count(got, about(c.typ, c.ep)); n != 1 {
			t.Errorf("%s for %s: got %d, want 1", c.typ, c.ep, n)
		}
		for _, ev := range got {
			if !about(c.typ, c.ep)(ev) {
				continue
			}
			d := ev.Data
			if d.AppID != app.ID || d.AppUID != "acme" || d.MsgID != msg.ID || d.MsgEventID != "order-1" {
				t.Errorf("%s for %s: data = %+v, want app %s (acme), message %s (order-1)", c.typ, c.ep, d, app.ID, msg.ID)
			}
			if d.LastAttempt == nil || d.LastAttempt.ID != c.last.ID || d.LastAttempt.ResponseStatusCode != c.last.ResponseStatusCode ||
				!d.LastAttempt.Timestamp.Equal(c.last.Timestamp) {
				t.Errorf("%s for %s: lastAttempt = %+v, want %+v", c.typ, c.ep, d.LastAttempt, c.last)
			}
		}
	}
	for _, ev := range got {
		if about("endpoint.disabled", epGone)(ev) && (ev.Data.Trigger != "automatic" || ev.Data.FailSince == nil || ev.Data.FailSince.IsZero()) {
			t.Errorf("endpoint.disabled after 410: trigger %q, failSince %v; want automatic with a time", ev.Data.Trigger, ev.Data.FailSince)
		}
	}
	if n := count(got, func(ev opEvent) bool {
		return ev.Data.EndpointID == epRecover && ev.Type == "message.attempt.exhausted"
	}); n != 0 {
		t.Errorf("the recovered delivery was reported exhausted")
	}

	// No loops: wait until the failing operational endpoint has had all
	// six attempts of every operational event, stop the engine (its last
	// results are recorded and reported) and the emitter (which stores
	// what it was given), and look for events about the operational
	// application among everything stored.
	ids := func() map[string]bool {
		ops.mu.Lock()
		defer ops.mu.Unlock()
		out := map[string]bool{}
		for id := range ops.seen {
			out[id] = true
		}
		return out
	}()
	if !brokenOps.waitFor(ctx, func(seen map[string]int) bool {
		for id := range ids {
			if seen[id] < 6 {
				return false
			}
		}
		return true
	}) {
		t.Fatal("the failing operational endpoint did not get six attempts of every event")
	}
	stopCtx, stopCancel := context.WithTimeout(ctx, 10*time.Second)
	defer stopCancel()
	if err := ts.engine.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if err := ts.ops.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	opApp, err := ts.store.GetApplication(ctx, "herald-operational")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := ts.store.ListMessages(ctx, opApp.ID, store.MessageFilter{Page: store.Page{Limit: 250}})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) < len(ids) {
		t.Fatalf("the operational application holds %d messages, want at least the %d received", len(stored), len(ids))
	}
	for _, m := range stored {
		var ev opEvent
		if err := json.Unmarshal(m.Payload, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Data.AppID == opApp.ID || ev.Data.EndpointID == brokenOpsEp.ID {
			t.Errorf("operational event about the operational application: %s", m.Payload)
		}
	}
}

// listedAttempt is an attempt as the API lists it.
type listedAttempt struct {
	ID                 string    `json:"id"`
	ResponseStatusCode int       `json:"responseStatusCode"`
	Timestamp          time.Time `json:"timestamp"`
}
