package ui

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/inbound"
	"github.com/heraldhq/herald/internal/store"
)

// fakeInbound reports fixed refusals for one source.
type fakeInbound struct {
	sourceID string
	refused  []inbound.Refusal
}

func (f fakeInbound) Refusals(id string) []inbound.Refusal {
	if id == f.sourceID {
		return f.refused
	}
	return nil
}

func TestSourcesPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	src := &store.Source{ID: herald.NewID(herald.PrefixSource, b.now), UID: "stripe-live", AppID: b.a.ID, Name: "Stripe live",
		Verifier: []byte(`{"type":"stripe","secrets":["whsec_do_not_show"]}`), DedupeWindow: time.Hour, CreatedAt: b.now, UpdatedAt: b.now}
	must(t, "create source", b.db.CreateSource(b.ctx, src))
	msg := &herald.Message{ID: herald.NewID(herald.PrefixMessage, b.now), AppID: b.a.ID, EventType: "invoice.paid",
		Payload: []byte(`{"id":"evt_1"}`), CreatedAt: b.now, ExpiresAt: b.now.Add(time.Hour)}
	ev := &store.InboundEvent{ID: herald.NewID(herald.PrefixInbound, b.now), SourceID: src.ID, ReceivedAt: b.now,
		DedupeKey: "evt_1", DedupeUntil: b.now.Add(time.Hour), EventType: "invoice.paid", Status: store.InboundAccepted,
		MsgID: msg.ID, Body: msg.Payload}
	if _, err := b.db.Ingest(b.ctx, ev, msg, nil, "", time.Time{}); err != nil {
		t.Fatalf("ingest: %v", err)
	}

	// The same interface, told of two refused requests.
	s, err := New(Config{Store: b.db, Engine: fakeEngine{wake: func() {}, invalidate: func(string) {}}, AdminToken: testAdminToken,
		Inbound: fakeInbound{sourceID: src.ID, refused: []inbound.Refusal{{Reason: "bad_signature", Count: 2, Last: b.now}}},
		Logger:  slog.New(slog.NewTextHandler(testLog{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	withInbound := &bundle{srv: httptest.NewServer(s.Handler()), db: b.db, ctx: b.ctx, now: b.now}
	defer withInbound.srv.Close()
	c, _ := withInbound.login(t)

	list := c.get(t, "/ui/sources")
	for _, want := range []string{"Stripe live", "stripe", "/in/stripe-live", "Acme Store", ">2<"} {
		if list.status != http.StatusOK || !strings.Contains(list.body, want) {
			t.Errorf("/ui/sources (%d) lacks %q", list.status, want)
		}
	}
	page := c.get(t, "/ui/sources/"+src.ID)
	for _, want := range []string{ev.ID, "evt_1", "accepted", msg.ID, "bad_signature"} {
		if page.status != http.StatusOK || !strings.Contains(page.body, want) {
			t.Errorf("/ui/sources/{id} (%d) lacks %q", page.status, want)
		}
	}
	for _, p := range []resp{list, page} {
		if strings.Contains(p.body, "whsec_do_not_show") {
			t.Error("a source page shows the verifier secret")
		}
	}
	if got := c.get(t, "/ui/sources/src_nope"); got.status != http.StatusNotFound {
		t.Errorf("unknown source: got %d, want 404", got.status)
	}
	// Without a session, the pages are not shown.
	if got := withInbound.client(t).get(t, "/ui/sources"); got.status == http.StatusOK {
		t.Errorf("/ui/sources without a session: got %d", got.status)
	}
}
