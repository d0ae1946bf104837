package storetest

import (
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// holdTests specify where an open circuit keeps its endpoint's waiting
// deliveries: at the circuit's RetryAt, out of the due head that every
// claim reads, and due again at once when the circuit closes.
var holdTests = []test{
	{"CircuitMovesWaitingDeliveriesAndCloseMakesThemDue", func(f *fixture) {
		a := f.app()
		down := f.endpoint(a.ID)
		up := f.endpoint(a.ID)

		// A delivery waiting for a retry of its own, later than any
		// circuit time below: it keeps its schedule throughout.
		late := f.publish(a.ID, f.t0, down.ID)
		j := f.claimOne("node-a", f.t0)
		lateAt := f.at(10 * time.Minute)
		f.record(result(j, f.t0, 500, herald.Outcome{Status: herald.StatusSending, NextAttemptAt: lateAt}))

		var held []string
		for i := range 5 {
			held = append(held, f.publish(a.ID, f.at(time.Duration(i+1)*time.Millisecond), down.ID).ID)
		}
		other := f.publish(a.ID, f.at(10*time.Millisecond), up.ID)

		c, err := f.s.OpenCircuit(f.ctx, down.ID, herald.CircuitClosed, f.at(time.Second), 30*time.Second)
		f.noErr("open", err)
		retryAt := f.at(31 * time.Second)
		sameCircuit(f, "after open", c, herald.Circuit{State: herald.CircuitOpen, OpenedAt: f.at(time.Second), RetryAt: retryAt, Cooldown: 30 * time.Second})
		wantNext(f, a.ID, down.ID, held, retryAt)
		wantNext(f, a.ID, down.ID, []string{late.ID}, lateAt)

		if got := f.claimOne("node-b", f.at(2*time.Second)); got.Delivery.MsgID != other.ID {
			f.Errorf("claim while held: got %s, want %s of the other endpoint", got.Delivery.MsgID, other.ID)
		}

		// Released leases and manual attempts wait for the circuit too.
		one := f.publishLeased(a.ID, f.at(3*time.Second), "node-a", f.at(time.Minute), down.ID)
		f.noErr("release one", f.s.ReleaseLeases(f.ctx, "node-a", []store.DeliveryKey{{MsgID: one.ID, EndpointID: down.ID}}))
		all := f.publishLeased(a.ID, f.at(3*time.Second), "node-a", f.at(time.Minute), down.ID)
		f.noErr("release all", f.s.ReleaseLeases(f.ctx, "node-a", nil))
		f.noErr("resend", f.s.Resend(f.ctx, a.ID, held[0], down.ID, f.at(4*time.Second)))
		held = append(held, one.ID, all.ID)
		wantNext(f, a.ID, down.ID, held, retryAt)
		f.claimNone("node-b", f.at(5*time.Second))

		// The probe's winner holds them until the probe's hold ends.
		c, won, err := f.s.ProbeCircuit(f.ctx, down.ID, retryAt, 20*time.Second)
		f.noErr("probe", err)
		if !won || !c.RetryAt.Equal(f.at(51*time.Second)) {
			f.Fatalf("probe: won %v, RetryAt %v, want won until +51s", won, c.RetryAt.Sub(f.t0))
		}
		wantNext(f, a.ID, down.ID, held, f.at(51*time.Second))
		f.claimNone("node-b", f.at(31500*time.Millisecond)) // before the other endpoint's lease ends

		// The probe succeeded: the backlog is due at once, the later
		// retry keeps its time.
		closedAt := f.at(41 * time.Second)
		f.noErr("close", f.s.CloseCircuit(f.ctx, down.ID, closedAt))
		wantNext(f, a.ID, down.ID, held, closedAt)
		wantNext(f, a.ID, down.ID, []string{late.ID}, lateAt)
		n := 0
		for _, j := range f.claim("node-b", closedAt, 100) {
			if j.Delivery.EndpointID == down.ID {
				n++
			}
		}
		if n != len(held) {
			f.Errorf("claim after close: got %d of the endpoint's jobs, want the %d held back", n, len(held))
		}
	}},
	{"ReopeningMovesThemToTheNewRetryAt", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		m := f.publish(a.ID, f.t0, e.ID)
		_, err := f.s.OpenCircuit(f.ctx, e.ID, herald.CircuitClosed, f.t0, 30*time.Second)
		f.noErr("open", err)
		_, won, err := f.s.ProbeCircuit(f.ctx, e.ID, f.at(30*time.Second), 20*time.Second)
		f.noErr("probe", err)
		if !won {
			f.Fatalf("probe: not won")
		}
		// The probe failed.
		c, err := f.s.OpenCircuit(f.ctx, e.ID, herald.CircuitHalfOpen, f.at(35*time.Second), time.Minute)
		f.noErr("reopen", err)
		wantNext(f, a.ID, e.ID, []string{m.ID}, c.RetryAt)
		f.claimNone("node-a", c.RetryAt.Add(-time.Millisecond))
		f.claimOne("node-a", c.RetryAt)
	}},
	{"RecoverAndExpediteWaitForTheCircuit", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		m := f.publish(a.ID, f.t0, e.ID)
		j := f.claimOne("node-a", f.t0)
		f.record(result(j, f.t0, 500, herald.Outcome{Status: herald.StatusFail}))
		w := f.publish(a.ID, f.t0, e.ID)
		j = f.claimOne("node-a", f.t0)
		f.record(result(j, f.t0, 500, herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(time.Hour)}))

		c, err := f.s.OpenCircuit(f.ctx, e.ID, herald.CircuitClosed, f.t0, 30*time.Second)
		f.noErr("open", err)
		n, err := f.s.Recover(f.ctx, a.ID, e.ID, time.Time{}, time.Time{}, f.at(time.Second))
		f.noErr("recover", err)
		if n != 1 {
			f.Errorf("recover: %d, want 1", n)
		}
		_, err = f.s.Expedite(f.ctx, a.ID, e.ID, f.at(time.Second))
		f.noErr("expedite", err)
		wantNext(f, a.ID, e.ID, []string{m.ID, w.ID}, c.RetryAt)

		f.noErr("close", f.s.CloseCircuit(f.ctx, e.ID, f.at(2*time.Second)))
		wantNext(f, a.ID, e.ID, []string{m.ID, w.ID}, f.at(2*time.Second))
	}},
}

// wantNext checks when each of the endpoint's deliveries of msgIDs is next
// due, as ListEndpointMessages reports it.
func wantNext(f *fixture, appID, endpointID string, msgIDs []string, want time.Time) {
	f.Helper()
	ems, err := f.s.ListEndpointMessages(f.ctx, appID, endpointID, store.MessageFilter{Page: store.Page{Limit: 250}})
	f.noErr("list endpoint messages", err)
	next := make(map[string]time.Time, len(ems))
	for _, em := range ems {
		next[em.Message.ID] = em.NextAttemptAt
	}
	for _, id := range msgIDs {
		got, ok := next[id]
		if !ok {
			f.Errorf("delivery of %s: not listed", id)
			continue
		}
		if !got.Equal(want) {
			f.Errorf("delivery of %s: next attempt at +%v, want +%v", id, got.Sub(f.t0), want.Sub(f.t0))
		}
	}
}
