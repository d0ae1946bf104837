package storetest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

var sourceTests = []test{
	{"CreateGetByIDAndUID", testSourceCreateGet},
	{"UIDConflict", testSourceUIDConflict},
	{"UnknownApplication", testSourceUnknownApp},
	{"ListUpdateDelete", testSourceListUpdateDelete},
	{"IngestAcceptedStoresEventMessageAndDeliveries", testIngestAccepted},
	{"IngestDuplicateWithinWindow", testIngestDuplicate},
	{"IngestSameKeyAfterWindow", testIngestAfterWindow},
	{"IngestWithoutKeyNeverDuplicate", testIngestNoKey},
	{"IngestConcurrentCopiesAcceptOne", testIngestConcurrent},
	{"ListInboundEventsNewestFirst", testListInbound},
	{"DeleteApplicationDeletesSources", testDeleteAppDeletesSources},
	{"MessageForwardingFieldsRoundTrip", testMessageForwardingFields},
}

// source creates a source of appID.
func (f *fixture) source(appID string, mods ...func(*store.Source)) *store.Source {
	f.Helper()
	src := &store.Source{
		ID: herald.NewID(herald.PrefixSource, f.t0), AppID: appID, Name: f.name("source"),
		Verifier:     json.RawMessage(`{"type":"github","secrets":["It's a Secret to Everybody"]}`),
		DedupeWindow: 72 * time.Hour, AllowedIPs: []string{"10.0.0.0/8", "192.0.2.1/32"},
		MaxBodyBytes: 1 << 20, CreatedAt: f.t0, UpdatedAt: f.t0,
	}
	for _, m := range mods {
		m(src)
	}
	f.noErr("create source", f.s.CreateSource(f.ctx, src))
	return src
}

// inbound builds an unsaved inbound event of src received at at.
func (f *fixture) inbound(src *store.Source, at time.Time, key string) *store.InboundEvent {
	return &store.InboundEvent{
		ID: herald.NewID(herald.PrefixInbound, at), SourceID: src.ID, ReceivedAt: at,
		DedupeKey: key, DedupeUntil: at.Add(src.DedupeWindow), EventType: "push",
		Body:       []byte("{\"zen\": \"Keep it logically awesome.\"}\n"),
		Headers:    map[string][]string{"X-Github-Delivery": {key}, "X-Hub-Signature-256": {"sha256=abc"}},
		RemoteAddr: "192.0.2.1:4711",
	}
}

func (f *fixture) ingest(ev *store.InboundEvent, msg *herald.Message, endpointIDs ...string) bool {
	f.Helper()
	dup, err := f.s.Ingest(f.ctx, ev, msg, deliveries(msg, endpointIDs...), "", time.Time{})
	f.noErr("ingest", err)
	return dup
}

func sameSource(f *fixture, got, want *store.Source) {
	f.Helper()
	if got.ID != want.ID || got.UID != want.UID || got.AppID != want.AppID || got.Name != want.Name ||
		got.EventType != want.EventType || got.DedupeWindow != want.DedupeWindow ||
		got.MaxBodyBytes != want.MaxBodyBytes || !reflect.DeepEqual(got.AllowedIPs, want.AllowedIPs) ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		f.Errorf("source: got %+v, want %+v", *got, *want)
	}
	var g, w any
	if json.Unmarshal(got.Verifier, &g) != nil || json.Unmarshal(want.Verifier, &w) != nil || !reflect.DeepEqual(g, w) {
		f.Errorf("source verifier: got %s, want %s", got.Verifier, want.Verifier)
	}
}

func testSourceCreateGet(f *fixture) {
	app := f.app()
	src := f.source(app.ID, func(s *store.Source) { s.UID = "stripe-live"; s.EventType = "payment" })
	for _, key := range []string{src.ID, "stripe-live"} {
		got, err := f.s.GetSource(f.ctx, key)
		f.noErr("get source "+key, err)
		sameSource(f, got, src)
	}
	_, err := f.s.GetSource(f.ctx, "src_missing")
	f.wantErr("get missing source", err, herald.ErrNotFound)
}

func testSourceUIDConflict(f *fixture) {
	app := f.app()
	f.source(app.ID, func(s *store.Source) { s.UID = "gh" })
	err := f.s.CreateSource(f.ctx, &store.Source{
		ID: herald.NewID(herald.PrefixSource, f.t0), UID: "gh", AppID: app.ID, Name: "again",
		Verifier: json.RawMessage(`{}`), CreatedAt: f.t0, UpdatedAt: f.t0,
	})
	f.wantErr("create source with a taken uid", err, herald.ErrConflict)
}

func testSourceUnknownApp(f *fixture) {
	err := f.s.CreateSource(f.ctx, &store.Source{
		ID: herald.NewID(herald.PrefixSource, f.t0), AppID: "app_missing", Name: "orphan",
		Verifier: json.RawMessage(`{}`), CreatedAt: f.t0, UpdatedAt: f.t0,
	})
	f.wantErr("create source of a missing app", err, herald.ErrNotFound)
}

func testSourceListUpdateDelete(f *fixture) {
	app := f.app()
	a, b := f.source(app.ID), f.source(app.ID)
	list, err := f.s.ListSources(f.ctx, page(10, ""))
	f.noErr("list sources", err)
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		f.Fatalf("list sources: got %d, want [%s %s]", len(list), a.ID, b.ID)
	}
	next, err := f.s.ListSources(f.ctx, page(10, a.ID))
	f.noErr("list sources after a", err)
	if len(next) != 1 || next[0].ID != b.ID {
		f.Errorf("list sources after %s: got %d sources, want [%s]", a.ID, len(next), b.ID)
	}

	a.Name, a.UID, a.EventType, a.AllowedIPs = "renamed", "renamed", "x", nil
	a.DedupeWindow, a.MaxBodyBytes, a.UpdatedAt = time.Hour, 512, f.at(time.Minute)
	a.Verifier = json.RawMessage(`{"type":"gitlab","secrets":["tok"]}`)
	f.noErr("update source", f.s.UpdateSource(f.ctx, a))
	got, err := f.s.GetSource(f.ctx, "renamed")
	f.noErr("get updated source", err)
	sameSource(f, got, a)

	f.noErr("delete source", f.s.DeleteSource(f.ctx, a.ID))
	_, err = f.s.GetSource(f.ctx, a.ID)
	f.wantErr("get deleted source", err, herald.ErrNotFound)
	f.wantErr("delete again", f.s.DeleteSource(f.ctx, a.ID), herald.ErrNotFound)
	f.wantErr("update deleted", f.s.UpdateSource(f.ctx, a), herald.ErrNotFound)
}

func testIngestAccepted(f *fixture) {
	app := f.app()
	ep := f.endpoint(app.ID)
	src := f.source(app.ID)
	ev := f.inbound(src, f.t0, "d-1")
	msg := f.message(app.ID, f.t0, func(m *herald.Message) {
		m.Payload = ev.Body
		m.ContentType = "application/json"
		m.Headers = map[string]string{"X-Hub-Signature-256": "sha256=abc"}
	})
	if f.ingest(ev, msg, ep.ID) {
		f.Fatalf("ingest: got duplicate, want accepted")
	}
	if ev.Status != store.InboundAccepted || ev.MsgID != msg.ID {
		f.Errorf("ingested event: got status %q msg %q, want accepted %q", ev.Status, ev.MsgID, msg.ID)
	}
	got, err := f.s.GetInboundEvent(f.ctx, src.ID, ev.ID)
	f.noErr("get inbound event", err)
	if !bytes.Equal(got.Body, ev.Body) || !reflect.DeepEqual(got.Headers, ev.Headers) ||
		got.Status != store.InboundAccepted || got.MsgID != msg.ID || got.DedupeKey != "d-1" ||
		got.EventType != "push" || got.RemoteAddr != ev.RemoteAddr || !got.ReceivedAt.Equal(f.t0) ||
		!got.DedupeUntil.Equal(ev.DedupeUntil) {
		f.Errorf("inbound event: got %+v, want %+v", *got, *ev)
	}
	job := f.claimOne("node-a", f.at(time.Second))
	if job.Message.ID != msg.ID || !bytes.Equal(job.Message.Payload, ev.Body) ||
		job.Message.ContentType != "application/json" || job.Message.Headers["X-Hub-Signature-256"] != "sha256=abc" {
		f.Errorf("claimed message: got %+v, want the ingested one with its forwarding headers", *job.Message)
	}
	_, err = f.s.GetInboundEvent(f.ctx, "src_other", ev.ID)
	f.wantErr("get event of another source", err, herald.ErrNotFound)
}

func testIngestDuplicate(f *fixture) {
	app := f.app()
	ep := f.endpoint(app.ID)
	src := f.source(app.ID)
	first := f.inbound(src, f.t0, "d-1")
	f.ingest(first, f.message(app.ID, f.t0), ep.ID)

	again := f.inbound(src, f.at(time.Hour), "d-1")
	msg := f.message(app.ID, f.at(time.Hour))
	if !f.ingest(again, msg, ep.ID) {
		f.Fatalf("ingest a repeated key: got accepted, want duplicate")
	}
	got, err := f.s.GetInboundEvent(f.ctx, src.ID, again.ID)
	f.noErr("get duplicate", err)
	if got.Status != store.InboundDuplicate || got.DuplicateOf != first.ID || got.MsgID != "" {
		f.Errorf("duplicate: got status %q of %q msg %q, want duplicate of %q without message",
			got.Status, got.DuplicateOf, got.MsgID, first.ID)
	}
	_, err = f.s.GetMessage(f.ctx, app.ID, msg.ID)
	f.wantErr("get the duplicate's message", err, herald.ErrNotFound)
	for _, j := range f.claim("node-b", f.at(2*time.Hour), 10) {
		if j.Delivery.MsgID == msg.ID {
			f.Errorf("claim: got a delivery of the duplicate's message %s, want none", msg.ID)
		}
	}

	// Another source may use the same key.
	other := f.source(app.ID)
	if f.ingest(f.inbound(other, f.at(time.Hour), "d-1"), f.message(app.ID, f.at(time.Hour)), ep.ID) {
		f.Errorf("ingest the key at another source: got duplicate, want accepted")
	}
}

func testIngestAfterWindow(f *fixture) {
	app := f.app()
	src := f.source(app.ID, func(s *store.Source) { s.DedupeWindow = time.Hour })
	f.ingest(f.inbound(src, f.t0, "k"), f.message(app.ID, f.t0))
	later := f.at(time.Hour + time.Second)
	if f.ingest(f.inbound(src, later, "k"), f.message(app.ID, later)) {
		f.Errorf("ingest the key after its window: got duplicate, want accepted")
	}
}

func testIngestNoKey(f *fixture) {
	app := f.app()
	src := f.source(app.ID)
	for i := range 2 {
		at := f.at(time.Duration(i) * time.Second)
		if f.ingest(f.inbound(src, at, ""), f.message(app.ID, at)) {
			f.Errorf("ingest %d without a key: got duplicate, want accepted", i)
		}
	}
}

func testIngestConcurrent(f *fixture) {
	app := f.app()
	src := f.source(app.ID)
	const copies = 8
	type result struct {
		dup bool
		err error
	}
	results := make(chan result, copies)
	for i := range copies {
		at := f.at(time.Duration(i) * time.Millisecond)
		ev, msg := f.inbound(src, at, "same"), f.message(app.ID, at)
		go func() {
			dup, err := f.s.Ingest(f.ctx, ev, msg, nil, "", time.Time{})
			results <- result{dup, err}
		}()
	}
	accepted := 0
	for range copies {
		r := <-results
		f.noErr("concurrent ingest", r.err)
		if !r.dup {
			accepted++
		}
	}
	if accepted != 1 {
		f.Errorf("concurrent copies of one event: got %d accepted, want exactly 1", accepted)
	}
}

func testListInbound(f *fixture) {
	app := f.app()
	src, other := f.source(app.ID), f.source(app.ID)
	var ids []string
	for i := range 3 {
		at := f.at(time.Duration(i) * time.Millisecond)
		ev := f.inbound(src, at, "same")
		f.ingest(ev, f.message(app.ID, at))
		ids = append(ids, ev.ID)
	}
	f.ingest(f.inbound(other, f.t0, "x"), f.message(app.ID, f.t0))
	list, err := f.s.ListInboundEvents(f.ctx, src.ID, page(2, ""))
	f.noErr("list inbound events", err)
	if len(list) != 2 || list[0].ID != ids[2] || list[1].ID != ids[1] {
		f.Fatalf("list inbound events: got %d events, want [%s %s]", len(list), ids[2], ids[1])
	}
	if list[0].Status != store.InboundDuplicate || list[0].DuplicateOf != ids[0] {
		f.Errorf("newest event: got %q of %q, want duplicate of %s", list[0].Status, list[0].DuplicateOf, ids[0])
	}
	rest, err := f.s.ListInboundEvents(f.ctx, src.ID, page(2, list[1].ID))
	f.noErr("list inbound events page 2", err)
	if len(rest) != 1 || rest[0].ID != ids[0] || rest[0].Status != store.InboundAccepted {
		f.Errorf("page 2: got %d events, want [%s accepted]", len(rest), ids[0])
	}
}

func testDeleteAppDeletesSources(f *fixture) {
	app := f.app()
	src := f.source(app.ID)
	f.ingest(f.inbound(src, f.t0, "k"), f.message(app.ID, f.t0))
	f.noErr("delete application", f.s.DeleteApplication(f.ctx, app.ID))
	_, err := f.s.GetSource(f.ctx, src.ID)
	f.wantErr("get source of a deleted app", err, herald.ErrNotFound)
}

func testMessageForwardingFields(f *fixture) {
	app := f.app()
	ep := f.endpoint(app.ID)
	m := f.message(app.ID, f.t0, func(m *herald.Message) {
		m.Payload = []byte("a=1&b=2")
		m.ContentType = "application/x-www-form-urlencoded"
		m.Headers = map[string]string{"X-Twilio-Signature": "abc="}
	})
	f.noErr("publish", f.s.Publish(f.ctx, m, deliveries(m, ep.ID), "", time.Time{}))
	got, err := f.s.GetMessage(f.ctx, app.ID, m.ID)
	f.noErr("get message", err)
	if string(got.Payload) != "a=1&b=2" || got.ContentType != m.ContentType || !reflect.DeepEqual(got.Headers, m.Headers) {
		f.Errorf("message: got payload %q type %q headers %v, want %q %q %v",
			got.Payload, got.ContentType, got.Headers, m.Payload, m.ContentType, m.Headers)
	}
	plain := f.publish(app.ID, f.t0, ep.ID)
	got, err = f.s.GetMessage(f.ctx, app.ID, plain.ID)
	f.noErr("get plain message", err)
	if got.ContentType != "" || got.Headers != nil {
		f.Errorf("plain message: got type %q headers %v, want none", got.ContentType, got.Headers)
	}
}
