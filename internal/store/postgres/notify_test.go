package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// waitWakeup fails the test unless db wakes within a generous bound.
func waitWakeup(t *testing.T, db *DB, what string) {
	t.Helper()
	select {
	case <-db.Wakeups():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: got no wakeup within 10s, want one", what)
	}
}

// drain empties a pending wakeup, so the next one is fresh.
func drain(db *DB) {
	select {
	case <-db.Wakeups():
	default:
	}
}

func TestWakerFiresAcrossNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := newSchema(t)
	a, b := openSchema(t, schema), openSchema(t, schema)
	w := newWorld(t, a, 1)

	drain(b)
	m := w.publish(w.t0)
	waitWakeup(t, b, "publish on another node")

	jobs, err := a.Claim(ctx, "node-a", w.t0, time.Minute, 10)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: got %d jobs, %v; want 1", len(jobs), err)
	}
	drain(b)
	if err := a.ReleaseLeases(ctx, "node-a", []store.DeliveryKey{{MsgID: m.ID, EndpointID: w.eps[0].ID}}); err != nil {
		t.Fatalf("release: %v", err)
	}
	waitWakeup(t, b, "release on another node")

	drain(b)
	if err := a.Resend(ctx, w.app.ID, m.ID, w.eps[0].ID, w.t0.Add(time.Minute)); err != nil {
		t.Fatalf("resend: %v", err)
	}
	waitWakeup(t, b, "resend on another node")
}
