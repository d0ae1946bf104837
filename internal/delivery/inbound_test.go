package delivery

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

func TestPublishInboundForwardsOnceFromMemory(t *testing.T) {
	t.Parallel()
	srv, got := sink(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusOK) })
	ep := endpoint("ep_inbound", srv.URL)
	db := openSQLite(t, ep)
	// The engine gets the store itself: PublishInbound needs its Ingest.
	e, err := New(Config{Store: db, AllowNetworks: loopback, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	})
	if err := db.CreateSource(context.Background(), &store.Source{ID: "src_1", AppID: testApp, Name: "gh",
		Verifier: []byte(`{}`), DedupeWindow: time.Hour, CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	inbound := func(key, body string) (*store.InboundEvent, *herald.Message, bool) {
		t.Helper()
		now := time.Now()
		ev := &store.InboundEvent{ID: herald.NewID(herald.PrefixInbound, now), SourceID: "src_1", ReceivedAt: now,
			DedupeKey: key, DedupeUntil: now.Add(time.Hour), Body: []byte(body), Headers: map[string][]string{}}
		msg := &herald.Message{AppID: testApp, EventType: "push", Payload: []byte(body),
			ContentType: "application/x-www-form-urlencoded", Headers: map[string]string{"X-Hub-Signature-256": "sha256=1"}}
		dup, err := e.PublishInbound(context.Background(), ev, msg)
		if err != nil {
			t.Fatalf("PublishInbound: %v", err)
		}
		return ev, msg, dup
	}

	_, first, dup := inbound("d-1", "a=1")
	if dup || first.ID == "" {
		t.Fatalf("first event: got duplicate %v, message %q; want accepted with a message ID", dup, first.ID)
	}
	r := <-got
	if r.header.Get("webhook-id") != first.ID || string(r.body) != "a=1" ||
		r.header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.header.Get("X-Hub-Signature-256") != "sha256=1" {
		t.Errorf("forwarded request: got id %q body %q headers %v", r.header.Get("webhook-id"), r.body, r.header)
	}
	if ev, _, dup := inbound("d-1", "a=1"); !dup || ev.Status != store.InboundDuplicate {
		t.Errorf("repeat: got duplicate %v status %q, want a recorded duplicate", dup, ev.Status)
	}
	_, third, _ := inbound("d-2", "a=3")
	if r := <-got; r.header.Get("webhook-id") != third.ID {
		t.Errorf("next request: got %q, want the third event's message %s (the duplicate is never sent)",
			r.header.Get("webhook-id"), third.ID)
	}
}

func TestPublishInboundNeedsIngest(t *testing.T) {
	t.Parallel()
	db := openSQLite(t)
	e, err := New(Config{Store: recordSignal{Store: db, recorded: make(chan struct{}, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.PublishInbound(context.Background(), &store.InboundEvent{}, &herald.Message{AppID: testApp})
	if !errors.Is(err, errNoIngest) {
		t.Errorf("PublishInbound on a store without Ingest: got %v, want errNoIngest", err)
	}
}
