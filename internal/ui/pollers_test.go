package ui

import (
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

func TestCreatePollerFromAppPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, token := b.login(t)
	base := "/ui/apps/" + b.a.ID

	page := c.get(t, base)
	if page.status != http.StatusOK || !strings.Contains(page.body, `action="`+base+`/pollers"`) {
		t.Fatalf("app page: got %d, want 200 with the polling endpoint form", page.status)
	}
	r := c.post(t, base+"/pollers", url.Values{"_csrf": {token}, "name": {"reader"}, "description": {"Billing pulls"},
		"eventType": {"invoice.paid"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create: got %d (%s), want 303", r.status, r.body)
	}
	ep, err := b.db.GetEndpoint(b.ctx, b.a.ID, "reader")
	must(t, "get polling endpoint", err)
	if want := "herald-poll://" + b.a.ID + "/reader"; ep.URL != want {
		t.Errorf("url: got %q, want %q", ep.URL, want)
	}
	if len(ep.EventTypes) != 1 || ep.EventTypes[0] != "invoice.paid" || ep.Description != "Billing pulls" {
		t.Errorf("endpoint: got types %v, description %q; want [invoice.paid], Billing pulls", ep.EventTypes, ep.Description)
	}
	if !strings.HasPrefix(r.location, base+"/endpoints/"+ep.ID) {
		t.Errorf("redirect: got %q, want the endpoint's page", r.location)
	}
	if b.invalidated.Load() == 0 {
		t.Errorf("endpoint cache not invalidated")
	}
	if got, want := b.events.take(), []string{"created " + b.a.ID + " " + ep.ID}; !slices.Equal(got, want) {
		t.Errorf("endpoint events: got %q, want %q", got, want)
	}
	if page := c.get(t, base); !strings.Contains(page.body, "herald-poll://"+b.a.ID+"/reader") {
		t.Errorf("app page does not list the polling endpoint")
	}

	for _, tc := range []struct {
		name string
		want int
	}{
		{"", http.StatusBadRequest},
		{"has space", http.StatusBadRequest},
		{"reader", http.StatusConflict},
	} {
		if r := c.post(t, base+"/pollers", url.Values{"_csrf": {token}, "name": {tc.name}}); r.status != tc.want {
			t.Errorf("name %q: got %d, want %d", tc.name, r.status, tc.want)
		}
	}
	if r := c.post(t, base+"/pollers", url.Values{"name": {"nocsrf"}}); r.status != http.StatusForbidden {
		t.Errorf("without CSRF token: got %d, want 403", r.status)
	}
}

// A polling endpoint is read by its consumers and never sent to: Retry
// (dashboard and portal) and Recover refuse it with the API's reason,
// instead of queueing attempts the engine would fail for days, and Recover
// all leaves it out.
func TestNothingIsSentToAPoller(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, token := b.login(t)
	base := "/ui/apps/" + b.a.ID
	if r := c.post(t, base+"/pollers", url.Values{"_csrf": {token}, "name": {"reader"}}); r.status != http.StatusSeeOther {
		t.Fatalf("create poller: got %d (%s), want 303", r.status, r.body)
	}
	poller, err := b.db.GetEndpoint(b.ctx, b.a.ID, "reader")
	must(t, "get poller", err)
	reason := "is a polling endpoint: its consumers read messages through the poller API, nothing is sent to it"

	portal, ptoken := b.portal(t, b.a)
	for _, tc := range []struct {
		name string
		c    *client
		path string
		form url.Values
	}{
		{"dashboard retry", c, base + "/messages/" + b.mA.ID + "/retry", url.Values{"_csrf": {token}, "endpoint": {poller.ID}}},
		{"portal retry", portal, "/ui/portal/messages/" + b.mA.ID + "/retry", url.Values{"_csrf": {ptoken}, "endpoint": {poller.ID}}},
		{"recover", c, base + "/endpoints/" + poller.ID + "/recover", url.Values{"_csrf": {token}, "since": {"24h"}}},
	} {
		r := tc.c.post(t, tc.path, tc.form)
		if r.status != http.StatusBadRequest || !strings.Contains(html.UnescapeString(r.body), reason) {
			t.Errorf("%s to the poller: got %d, want 400 saying it %s", tc.name, r.status, reason)
		}
	}
	dests, err := b.db.ListMessageDestinations(b.ctx, b.a.ID, b.mA.ID, store.Page{Limit: 10})
	must(t, "destinations", err)
	for _, d := range dests {
		if d.Endpoint.ID == poller.ID {
			t.Errorf("a delivery of %s to the poller was queued", b.mA.ID)
		}
	}
	if n := b.wakes.Load(); n != 0 {
		t.Errorf("engine woken %d times, want none", n)
	}
	if page := c.get(t, base+"/endpoints/"+poller.ID); strings.Contains(page.body, "/recover") {
		t.Errorf("the poller's page offers Recover")
	}
	if page := c.get(t, base+"/endpoints/"+b.a1.ID); !strings.Contains(page.body, "/recover") {
		t.Errorf("a push endpoint's page lacks Recover")
	}

	// A delivery to the poller that failed before this was refused stays
	// failed when everything is recovered; the others are resent.
	m := failTo(t, b, poller)
	if r := c.post(t, "/ui/failed/recover", url.Values{"_csrf": {token}, "since": {"24h"}}); r.status != http.StatusSeeOther {
		t.Fatalf("recover all: got %d, want 303", r.status)
	}
	if got := deliveryStatus(t, b, b.a.ID, m.ID); got != herald.StatusFail {
		t.Errorf("the poller's delivery after recover all: got %v, want still failed", got)
	}
	if got := deliveryStatus(t, b, b.a.ID, b.mA.ID); got.Final() {
		t.Errorf("a1's delivery after recover all: got %v, want scheduled", got)
	}
}

// failTo stores a message with one delivery to ep that failed for good.
func failTo(t *testing.T, b *bundle, ep *herald.Endpoint) *herald.Message {
	t.Helper()
	now := b.now.Add(-time.Minute)
	m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: ep.AppID, EventType: "invoice.paid",
		Payload: []byte(`{}`), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	d := herald.Delivery{MsgID: m.ID, EndpointID: ep.ID, AppID: ep.AppID, Status: herald.StatusPending,
		NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
	must(t, "publish", b.db.Publish(b.ctx, m, []herald.Delivery{d}, "", time.Time{}))
	jobs, err := b.db.Claim(b.ctx, "test", now, time.Minute, 10)
	must(t, "claim", err)
	if len(jobs) != 1 {
		t.Fatalf("claim: got %d jobs, want 1", len(jobs))
	}
	j := jobs[0]
	_, err = b.db.Record(b.ctx, []store.Result{{Attempt: herald.Attempt{
		ID: herald.NewID(herald.PrefixAttempt, now), MsgID: m.ID, EndpointID: ep.ID, AppID: ep.AppID,
		URL: ep.URL, Status: herald.StatusFail, CreatedAt: now,
	}, Outcome: herald.Outcome{Status: herald.StatusFail}, Attempts: j.Delivery.Attempts + 1, Owner: j.Delivery.LeaseOwner}})
	must(t, "record", err)
	return m
}
