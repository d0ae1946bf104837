package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// A batch in which one publish reuses an eventId commits the others: the
// failing op is undone alone.
func TestOneFailingOpDoesNotFailItsBatch(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openTest(t, filepath.Join(t.TempDir(), "herald.db"))
	now := time.Now().UTC().Truncate(time.Millisecond)
	app := &herald.Application{ID: herald.NewID(herald.PrefixApp, now), Name: "a", CreatedAt: now, UpdatedAt: now}
	ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: app.ID, URL: "https://e", CreatedAt: now, UpdatedAt: now}
	must(t, db.CreateApplication(ctx, app))
	must(t, db.CreateEndpoint(ctx, ep))

	var msgs []*herald.Message
	var ops []op
	for i, eventID := range []string{"a", "b", "a", "c"} {
		m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: app.ID, EventID: eventID,
			EventType: "t", Payload: []byte(`{}`), CreatedAt: now.Add(time.Duration(i) * time.Millisecond)}
		msgs = append(msgs, m)
		ds := []herald.Delivery{{EndpointID: ep.ID}}
		ops = append(ops, func(ctx context.Context, w *wtx) error { return db.publish(ctx, w, m, ds, "", time.Time{}) })
	}
	errs := db.runBatch(ctx, ops)
	for i, err := range errs {
		if wantConflict := i == 2; errors.Is(err, herald.ErrConflict) != wantConflict || (!wantConflict && err != nil) {
			t.Errorf("op %d: got %v, want conflict only for the reused eventId", i, err)
		}
	}
	for i, m := range msgs {
		_, err := db.GetMessage(ctx, app.ID, m.ID)
		if stored := err == nil; stored != (i != 2) {
			t.Errorf("message %d: got stored=%v (%v), want %v", i, stored, err, i != 2)
		}
	}
	if n, err := db.Backlog(ctx); err != nil || n != 3 {
		t.Errorf("backlog: got %d, %v, want 3 deliveries", n, err)
	}

	// The undone publish's number went back with it; the next publish is
	// numbered after every committed message.
	late := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: app.ID, EventType: "t",
		Payload: []byte(`{}`), CreatedAt: now.Add(time.Second)}
	must(t, db.Publish(ctx, late, nil, "", time.Time{}))
	page, err := db.PollMessages(ctx, app.ID, store.PollFilter{Limit: 10})
	must(t, err)
	polled := page.Messages
	want := []string{msgs[0].ID, msgs[1].ID, msgs[3].ID, late.ID}
	var last int64
	for i, pm := range polled {
		if i >= len(want) || pm.Message.ID != want[i] || pm.Seq <= last {
			t.Errorf("polled %d: %s at %d after %d, want %v in increasing order", i, pm.Message.ID, pm.Seq, last, want)
		}
		last = pm.Seq
	}
	if len(polled) != len(want) {
		t.Errorf("polled %d messages, want %d", len(polled), len(want))
	}
}

func TestRecordSpreadCountsEndpoints(t *testing.T) {
	result := func(ep string) store.Result {
		return store.Result{Attempt: herald.Attempt{EndpointID: ep}}
	}
	one := []store.Result{result("ep_a"), result("ep_a"), result("ep_a")}
	if got := endpointCount(one); got != 1 {
		t.Errorf("three results for one endpoint: spread %d, want 1", got)
	}
	var many []store.Result
	for i := range 50 {
		many = append(many, result(fmt.Sprintf("ep_%d", i)))
	}
	if got := endpointCount(many); got != store.WideSpread {
		t.Errorf("results for 50 endpoints: spread %d, want the wide mark %d", got, store.WideSpread)
	}
}
