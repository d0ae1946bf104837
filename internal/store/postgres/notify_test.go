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
// turns the next notification for its schema into a wakeup.
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
	if _, err := db.pool.Exec(ctx, notifySQL, "another_schema"); err != nil {
		t.Fatalf("notify another schema: %v", err)
	}
	if _, err := db.pool.Exec(ctx, notifySQL, db.notifyPayload()); err != nil {
		t.Fatalf("notify: %v", err)
	}
	// Notifications arrive in commit order, each ending one receive.
	l.heartbeat = 10 * time.Second
	if err := l.receive(ctx, conn); err != nil {
		t.Fatalf("receive: %v", err)
	}
	select {
	case <-l.c:
		t.Fatalf("notification for another schema: got a wakeup, want none")
	default:
	}
	if err := l.receive(ctx, conn); err != nil {
		t.Fatalf("receive: %v", err)
	}
	select {
	case <-l.c:
	default:
		t.Fatalf("notification for this schema: got no wakeup, want one")
	}
}
