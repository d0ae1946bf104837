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

// TestListenerHeartbeatKeepsTheConnection waits past a heartbeat with no
// notification: the listener pings and keeps its connection, then still
// turns the next notification for its schema into a wakeup. Other tests
// (and other packages' tests) notify on the same channel meanwhile, so a
// receive may end with one of theirs.
func TestListenerHeartbeatKeepsTheConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	cfg := db.pool.Config().ConnConfig.Copy()
	l := newListener(cfg, db.notifyPayload(), db.log)
	l.heartbeat = 50 * time.Millisecond
	conn, err := l.connect(ctx)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	for range 3 {
		if err := l.receive(ctx, conn); err != nil || conn.IsClosed() {
			t.Fatalf("receive with no notification: got %v (closed %v), want a kept connection", err, conn.IsClosed())
		}
	}
	select {
	case <-l.c:
		t.Fatalf("heartbeat: got a wakeup, want none")
	default:
	}
	if _, err := db.pool.Exec(ctx, notifySQL, db.notifyPayload()); err != nil {
		t.Fatalf("notify: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := l.receive(ctx, conn); err != nil {
			t.Fatalf("receive: %v", err)
		}
		select {
		case <-l.c:
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("notification for this schema: got no wakeup within 10s, want one")
		}
	}
}

// TestListenerWakesOnlyForItsSchema: each installation's notifications
// carry its schema, and a listener wakes for its own alone.
func TestListenerWakesOnlyForItsSchema(t *testing.T) {
	t.Parallel()
	l := newListener(nil, "herald_a", nil)
	woke := func() bool {
		select {
		case <-l.c:
			return true
		default:
			return false
		}
	}
	l.notified(notifyChannel, "herald_b")
	if woke() {
		t.Errorf("another schema's notification: got a wakeup, want none")
	}
	l.notified("other_channel", "herald_a")
	if woke() {
		t.Errorf("another channel's notification: got a wakeup, want none")
	}
	l.notified(notifyChannel, "herald_a")
	if !woke() {
		t.Errorf("this schema's notification: got no wakeup, want one")
	}
}
