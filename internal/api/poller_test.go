package api

import (
	"encoding/json"
	"net/url"
	"slices"
	"testing"
	"time"
)

// pollPage is a decoded PollingEndpointOut.
type pollPage struct {
	Data []struct {
		ID        string         `json:"id"`
		EventType string         `json:"eventType"`
		Channels  []string       `json:"channels"`
		Payload   map[string]any `json:"payload"`
		Timestamp time.Time      `json:"timestamp"`
	} `json:"data"`
	Iterator string `json:"iterator"`
	Done     bool   `json:"done"`
}

func (p pollPage) ids() []string {
	out := []string{}
	for _, m := range p.Data {
		out = append(out, m.ID)
	}
	return out
}

func (b *bundle) pollGet(t *testing.T, path string) pollPage {
	t.Helper()
	r := b.call(t, "GET", path, nil).want(t, 200)
	var p pollPage
	if err := json.Unmarshal(r.raw, &p); err != nil {
		t.Fatalf("decode %s: %v", r.raw, err)
	}
	if p.Iterator == "" {
		t.Fatalf("GET %s: no iterator in %s", path, r.raw)
	}
	return p
}

func (b *bundle) createPoller(t *testing.T, app string, in map[string]any) string {
	t.Helper()
	r := b.call(t, "POST", "/api/v1/app/"+app+"/poller", in).want(t, 201).obj(t)
	return r["id"].(string)
}

func TestPollerPollsInOrderWithFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createEventType(t, "invoice.paid", nil)
	b.createEventType(t, "user.signup", nil)
	app := b.createApp(t, "Poll", "")
	sink := b.createPoller(t, app, map[string]any{"uid": "reader", "eventTypes": []string{"invoice.paid"}})
	base := "/api/v1/app/" + app + "/poller/"

	m1 := b.sendMessage(t, app, map[string]any{"eventType": "invoice.paid", "channels": []string{"eu"}})
	b.sendMessage(t, app, map[string]any{"eventType": "user.signup"})
	m3 := b.sendMessage(t, app, map[string]any{"eventType": "invoice.paid", "channels": []string{"us"}})

	// The endpoint's filter applies; pages follow each other by iterator.
	p := b.pollGet(t, base+"reader?limit=1")
	if got := p.ids(); !slices.Equal(got, []string{m1}) || p.Done {
		t.Fatalf("first page: got %v done=%v, want [%s] done=false", got, p.Done, m1)
	}
	if p.Data[0].EventType != "invoice.paid" || p.Data[0].Payload["k"] != "v" {
		t.Errorf("first message: got %+v, want invoice.paid with its payload", p.Data[0])
	}
	p = b.pollGet(t, base+sink+"?limit=1&iterator="+url.QueryEscape(p.Iterator))
	if got := p.ids(); !slices.Equal(got, []string{m3}) {
		t.Fatalf("second page: got %v, want [%s]", got, m3)
	}
	last := p.Iterator
	if p = b.pollGet(t, base+sink+"?iterator="+url.QueryEscape(last)); len(p.Data) != 0 || !p.Done || p.Iterator != last {
		t.Errorf("after the end: got %v done=%v iterator %q, want none, done, iterator %q", p.ids(), p.Done, p.Iterator, last)
	}
	m4 := b.sendMessage(t, app, map[string]any{"eventType": "invoice.paid"})
	if got := b.pollGet(t, base+sink+"?iterator="+url.QueryEscape(last)).ids(); !slices.Equal(got, []string{m4}) {
		t.Errorf("after a new publish: got %v, want [%s]", got, m4)
	}

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"channel=us", []string{m3}},
		{"event_type=invoice.paid&channel=eu", []string{m1}},
		{"event_type=user.signup", []string{}},
		{"after=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)), []string{}},
		{"after=" + url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339)), []string{m1, m3, m4}},
	} {
		if got := b.pollGet(t, base+sink+"?"+tc.query).ids(); !slices.Equal(got, tc.want) {
			t.Errorf("?%s: got %v, want %v", tc.query, got, tc.want)
		}
	}
}

// TestPollerIteratorPassesFilteredOutMessages: a filtered poller's last
// page ends after the messages its filters left out, so its next poll, and
// its consumers' stored positions, do not read them again; a match
// published afterwards is still the next poll's.
func TestPollerIteratorPassesFilteredOutMessages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createEventType(t, "invoice.paid", nil)
	b.createEventType(t, "user.signup", nil)
	app := b.createApp(t, "Filtered", "")
	rare := "/api/v1/app/" + app + "/poller/" + b.createPoller(t, app, map[string]any{"eventTypes": []string{"invoice.paid"}})
	all := "/api/v1/app/" + app + "/poller/" + b.createPoller(t, app, map[string]any{})

	m1 := b.sendMessage(t, app, map[string]any{"eventType": "invoice.paid"})
	first := b.pollGet(t, rare)
	if got := first.ids(); !slices.Equal(got, []string{m1}) || !first.Done {
		t.Fatalf("first poll: got %v done=%v, want [%s] done", got, first.Done, m1)
	}
	consumer := b.pollGet(t, rare+"/consumer/c1")
	var signups []string
	for range 3 {
		signups = append(signups, b.sendMessage(t, app, map[string]any{"eventType": "user.signup"}))
	}

	// The poll and the consumer's poll find nothing, and move past the
	// signups: the unfiltered poller finds them after the old iterator,
	// and nothing after the new one.
	idle := b.pollGet(t, rare+"?iterator="+url.QueryEscape(first.Iterator))
	idleConsumer := b.pollGet(t, rare+"/consumer/c1")
	for name, p := range map[string]pollPage{"poll": idle, "consumer poll": idleConsumer} {
		if len(p.Data) != 0 || !p.Done {
			t.Errorf("%s over the signups: got %v done=%v, want none, done", name, p.ids(), p.Done)
		}
		if got := b.pollGet(t, all+"?iterator="+url.QueryEscape(p.Iterator)).ids(); len(got) != 0 {
			t.Errorf("%s over the signups: its iterator %s is before %v, want after the signups", name, p.Iterator, got)
		}
	}
	for name, it := range map[string]string{"poll": first.Iterator, "consumer poll": consumer.Iterator} {
		if got := b.pollGet(t, all+"?iterator="+url.QueryEscape(it)).ids(); !slices.Equal(got, signups) {
			t.Errorf("after the %s before the signups: got %v, want the signups %v", name, got, signups)
		}
	}

	m5 := b.sendMessage(t, app, map[string]any{"eventType": "invoice.paid"})
	if got := b.pollGet(t, rare+"?iterator="+url.QueryEscape(idle.Iterator)).ids(); !slices.Equal(got, []string{m5}) {
		t.Errorf("poll after a new match: got %v, want [%s]", got, m5)
	}
	if got := b.pollGet(t, rare+"/consumer/c1").ids(); !slices.Equal(got, []string{m5}) {
		t.Errorf("consumer poll after a new match: got %v, want [%s]", got, m5)
	}
}

func TestPollerConsumerResumesAndSeeks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Consumers", "")
	sink := b.createPoller(t, app, map[string]any{})
	path := "/api/v1/app/" + app + "/poller/" + sink + "/consumer/"

	m1 := b.sendMessage(t, app, map[string]any{})
	m2 := b.sendMessage(t, app, map[string]any{})
	if got := b.pollGet(t, path+"c1").ids(); !slices.Equal(got, []string{m1, m2}) {
		t.Fatalf("c1 first poll: got %v, want [%s %s]", got, m1, m2)
	}
	m3 := b.sendMessage(t, app, map[string]any{})
	if got := b.pollGet(t, path+"c1").ids(); !slices.Equal(got, []string{m3}) {
		t.Errorf("c1 resumed: got %v, want [%s]", got, m3)
	}
	if p := b.pollGet(t, path+"c1"); len(p.Data) != 0 || !p.Done {
		t.Errorf("c1 caught up: got %v done=%v, want none, done", p.ids(), p.Done)
	}
	// Another consumer has its own position.
	if got := b.pollGet(t, path+"c2?limit=2").ids(); !slices.Equal(got, []string{m1, m2}) {
		t.Errorf("c2 first poll: got %v, want [%s %s]", got, m1, m2)
	}

	seek := b.call(t, "POST", path+"c1/seek", map[string]any{"after": time.Now().Add(-time.Hour)}).want(t, 200).obj(t)
	if it, _ := seek["iterator"].(string); it == "" {
		t.Errorf("seek: got %v, want an iterator", seek)
	}
	if got := b.pollGet(t, path+"c1").ids(); !slices.Equal(got, []string{m1, m2, m3}) {
		t.Errorf("c1 after seeking back: got %v, want all three", got)
	}
	b.call(t, "POST", path+"c1/seek", map[string]any{}).want(t, 422)
}

func TestPollerRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Refusals", "")
	push := b.createEndpoint(t, app, map[string]any{})
	sink := b.createPoller(t, app, map[string]any{"uid": "r"})
	base := "/api/v1/app/" + app + "/poller/"

	b.call(t, "GET", base+push, nil).want(t, 404)
	b.call(t, "GET", base+"missing", nil).want(t, 404)
	b.call(t, "GET", base+sink+"?iterator=msg_123", nil).want(t, 422)
	b.call(t, "GET", base+sink+"?limit=0", nil).want(t, 422)
	b.call(t, "POST", "/api/v1/app/"+app+"/poller", map[string]any{"uid": "r"}).want(t, 409)
	b.call(t, "POST", "/api/v1/app/"+app+"/poller", map[string]any{"eventTypes": []string{"no.such.type"}}).want(t, 422)

	// The polling endpoint is one of the application's endpoints.
	ep := b.call(t, "GET", "/api/v1/app/"+app+"/endpoint/r", nil).want(t, 200).obj(t)
	if want := "herald-poll://" + app + "/r"; ep["url"] != want {
		t.Errorf("endpoint url: got %v, want %s", ep["url"], want)
	}
	// Nothing is ever sent to it, so resend and recover are refused.
	msg := b.sendMessage(t, app, map[string]any{"eventType": "a", "payload": map[string]any{}})
	b.call(t, "POST", "/api/v1/app/"+app+"/msg/"+msg+"/endpoint/r/resend", map[string]any{}).want(t, 422)
	b.call(t, "POST", "/api/v1/app/"+app+"/endpoint/r/recover", map[string]any{"since": "2026-01-01T00:00:00Z"}).want(t, 422)
}
