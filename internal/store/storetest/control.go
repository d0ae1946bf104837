package storetest

import (
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// controlTests specify the circuit breaker and strict FIFO ordering: what
// the store keeps and how Claim honours them on every node.
var controlTests = []test{
	{"CircuitOpensProbesOnceAndCloses", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		wantCircuit(f, e.ID, herald.Circuit{})

		c, err := f.s.OpenCircuit(f.ctx, e.ID, herald.CircuitClosed, f.t0, 30*time.Second)
		f.noErr("open", err)
		open := herald.Circuit{State: herald.CircuitOpen, OpenedAt: f.t0, RetryAt: f.at(30 * time.Second), Cooldown: 30 * time.Second}
		sameCircuit(f, "after open", c, open)
		// A second node tripping it too changes nothing.
		c, err = f.s.OpenCircuit(f.ctx, e.ID, herald.CircuitClosed, f.at(time.Second), 30*time.Second)
		f.noErr("open again", err)
		sameCircuit(f, "after a second open", c, open)
		wantCircuit(f, e.ID, open)

		f.publish(a.ID, f.t0, e.ID)
		f.claimNone("node-a", f.at(10*time.Second))
		if c, won, err := f.s.ProbeCircuit(f.ctx, e.ID, f.at(10*time.Second), 20*time.Second); err != nil || won || c.State != herald.CircuitOpen {
			f.Errorf("probe during the cool-down: got %v won %v err %v, want open and not won", c.State, won, err)
		}

		c, won, err := f.s.ProbeCircuit(f.ctx, e.ID, f.at(30*time.Second), 20*time.Second)
		f.noErr("probe", err)
		half := herald.Circuit{State: herald.CircuitHalfOpen, OpenedAt: f.t0, RetryAt: f.at(50 * time.Second), Cooldown: 30 * time.Second}
		if !won {
			f.Errorf("probe after the cool-down: not won, want won")
		}
		sameCircuit(f, "after probe", c, half)
		if _, won, _ := f.s.ProbeCircuit(f.ctx, e.ID, f.at(30*time.Second), 20*time.Second); won {
			f.Errorf("second probe: won, want only one probe at a time")
		}
		f.claimNone("node-a", f.at(40*time.Second))

		// The probe failed: open again for longer, keeping when it opened.
		c, err = f.s.OpenCircuit(f.ctx, e.ID, herald.CircuitHalfOpen, f.at(40*time.Second), time.Minute)
		f.noErr("reopen", err)
		sameCircuit(f, "after reopen", c, herald.Circuit{State: herald.CircuitOpen, OpenedAt: f.t0, RetryAt: f.at(100 * time.Second), Cooldown: time.Minute})
		f.claimNone("node-a", f.at(99*time.Second))
		f.claimOne("node-a", f.at(100*time.Second))

		// Updating the endpoint leaves its circuit alone, whatever the
		// change does to Circuit.
		ep := f.update(a.ID, e.ID, func(ep *herald.Endpoint) { ep.Description, ep.Circuit = "changed", herald.Circuit{} })
		sameCircuit(f, "returned by the update", ep.Circuit, herald.Circuit{State: herald.CircuitOpen, OpenedAt: f.t0, RetryAt: f.at(100 * time.Second), Cooldown: time.Minute})
		wantCircuit(f, e.ID, herald.Circuit{State: herald.CircuitOpen, OpenedAt: f.t0, RetryAt: f.at(100 * time.Second), Cooldown: time.Minute})

		f.noErr("close", f.s.CloseCircuit(f.ctx, e.ID, f.at(100*time.Second)))
		wantCircuit(f, e.ID, herald.Circuit{})
	}},
	{"EnablingClosesTheCircuit", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		_, err := f.s.OpenCircuit(f.ctx, e.ID, herald.CircuitClosed, f.t0, time.Minute)
		f.noErr("open", err)
		f.update(a.ID, e.ID, func(ep *herald.Endpoint) { ep.Disabled = true })
		if got, _ := f.s.GetEndpoint(f.ctx, a.ID, e.ID); got.Circuit.State != herald.CircuitOpen {
			f.Errorf("circuit after disabling: %v, want still open", got.Circuit.State)
		}
		if ep := f.update(a.ID, e.ID, func(ep *herald.Endpoint) { ep.Disabled = false }); ep.Circuit != (herald.Circuit{}) {
			f.Errorf("circuit returned by enabling: %+v, want closed", ep.Circuit)
		}
		wantCircuit(f, e.ID, herald.Circuit{})
	}},
	{"CircuitOfMissingEndpoint", func(f *fixture) {
		_, err := f.s.OpenCircuit(f.ctx, "ep_missing", herald.CircuitClosed, f.t0, time.Second)
		f.wantErr("open", err, herald.ErrNotFound)
		_, _, err = f.s.ProbeCircuit(f.ctx, "ep_missing", f.t0, time.Second)
		f.wantErr("probe", err, herald.ErrNotFound)
		f.wantErr("close", f.s.CloseCircuit(f.ctx, "ep_missing", f.t0), herald.ErrNotFound)
	}},
	{"OrderedIsStored", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID, func(e *herald.Endpoint) { e.Ordered = true })
		got, err := f.s.GetEndpoint(f.ctx, a.ID, e.ID)
		f.noErr("get", err)
		if !got.Ordered {
			f.Errorf("created ordered: got Ordered false")
		}
		f.update(a.ID, e.ID, func(ep *herald.Endpoint) { ep.Ordered = false })
		if got, _ = f.s.GetEndpoint(f.ctx, a.ID, e.ID); got.Ordered {
			f.Errorf("updated unordered: got Ordered true")
		}
	}},
	{"OrderedEndpointClaimsInOrderOneAtATime", func(f *fixture) {
		a := f.app()
		ord := f.endpoint(a.ID, func(e *herald.Endpoint) { e.Ordered = true })
		free := f.endpoint(a.ID)
		var msgs []*herald.Message
		for i := range 3 {
			msgs = append(msgs, f.publish(a.ID, f.at(time.Duration(i)*time.Millisecond), ord.ID, free.ID))
		}
		jobs := f.claim("node-a", f.at(time.Second), 10)
		got := map[string][]string{}
		for _, j := range jobs {
			got[j.Delivery.EndpointID] = append(got[j.Delivery.EndpointID], j.Delivery.MsgID)
		}
		if len(got[ord.ID]) != 1 || got[ord.ID][0] != msgs[0].ID {
			f.Fatalf("ordered endpoint: claimed %v, want only the first message %s", got[ord.ID], msgs[0].ID)
		}
		if len(got[free.ID]) != 3 {
			f.Errorf("unordered endpoint: claimed %d, want all 3", len(got[free.ID]))
		}
		first := jobs[0]
		for _, j := range jobs {
			if j.Delivery.EndpointID == ord.ID {
				first = j
			}
		}
		// Leased by another node, the first still holds the rest back.
		f.claimNone("node-b", f.at(2*time.Second))

		// A retry keeps them waiting behind it.
		retryAt := f.at(20 * time.Second) // before node-a's other leases expire
		f.record(result(first, f.at(2*time.Second), 500, herald.Outcome{Status: herald.StatusSending, NextAttemptAt: retryAt}))
		f.claimNone("node-b", f.at(3*time.Second))
		first = f.claimOne("node-b", retryAt)
		if first.Delivery.MsgID != msgs[0].ID {
			f.Fatalf("claim at the retry: got %s, want the retried %s", first.Delivery.MsgID, msgs[0].ID)
		}
		f.record(result(first, retryAt, 200, herald.Outcome{Status: herald.StatusSuccess}))

		second := f.claimOne("node-b", retryAt)
		if second.Delivery.MsgID != msgs[1].ID {
			f.Fatalf("claim after the success: got %s, want %s", second.Delivery.MsgID, msgs[1].ID)
		}
		// Given up for good, it lets the next one go.
		f.record(result(second, retryAt, 500, herald.Outcome{Status: herald.StatusFail}))
		if third := f.claimOne("node-b", retryAt); third.Delivery.MsgID != msgs[2].ID {
			f.Errorf("claim after the failure: got %s, want %s", third.Delivery.MsgID, msgs[2].ID)
		}
	}},
	{"OrderedDeliveriesWaitTheirTurnAndGoWhenOrderingEnds", func(f *fixture) {
		a := f.app()
		ord := f.endpoint(a.ID, func(e *herald.Endpoint) { e.Ordered = true })
		var msgs []*herald.Message
		for i := range 4 {
			// As the engine does: published leased, then handed back.
			m := f.publishLeased(a.ID, f.at(time.Duration(i)*time.Millisecond), "node-a", f.at(time.Minute), ord.ID)
			f.noErr("release", f.s.ReleaseLeases(f.ctx, "node-a", []store.DeliveryKey{{MsgID: m.ID, EndpointID: ord.ID}}))
			msgs = append(msgs, m)
		}
		now := f.at(time.Second)
		first := f.claimOne("node-a", now)
		if first.Delivery.MsgID != msgs[0].ID {
			f.Fatalf("first claim: got %s, want %s", first.Delivery.MsgID, msgs[0].ID)
		}
		// Expediting the endpoint, or resending a later message, does not
		// let the waiting ones pass the one in flight.
		_, err := f.s.Expedite(f.ctx, a.ID, ord.ID, now)
		f.noErr("expedite", err)
		f.noErr("resend", f.s.Resend(f.ctx, a.ID, msgs[3].ID, ord.ID, now))
		f.claimNone("node-b", now)

		f.record(result(first, now, 200, herald.Outcome{Status: herald.StatusSuccess}))
		if second := f.claimOne("node-b", now); second.Delivery.MsgID != msgs[1].ID {
			f.Fatalf("claim after the success: got %s, want %s", second.Delivery.MsgID, msgs[1].ID)
		}
		// Unordered, the rest go at once, beside the one in flight.
		f.update(a.ID, ord.ID, func(ep *herald.Endpoint) { ep.Ordered, ep.UpdatedAt = false, now })
		jobs := f.claim("node-b", now, 10)
		if len(jobs) != 2 || jobs[0].Delivery.MsgID != msgs[2].ID || jobs[1].Delivery.MsgID != msgs[3].ID {
			f.Fatalf("claim after unordering: got %d jobs, want %s and %s", len(jobs), msgs[2].ID, msgs[3].ID)
		}
	}},
	{"OrderingABacklogSendsItOneAtATime", func(f *fixture) {
		a := f.app()
		ep := f.endpoint(a.ID)
		var msgs []*herald.Message
		for i := range 3 {
			msgs = append(msgs, f.publish(a.ID, f.at(time.Duration(i)*time.Millisecond), ep.ID))
		}
		now := f.at(time.Second)
		// Each fails for good; then ordering is turned on and they are
		// recovered together.
		for _, j := range f.claim("node-a", now, 10) {
			f.record(result(j, now, 500, herald.Outcome{Status: herald.StatusFail}))
		}
		f.update(a.ID, ep.ID, func(ep *herald.Endpoint) { ep.Ordered, ep.UpdatedAt = true, now })
		n, err := f.s.Recover(f.ctx, a.ID, ep.ID, time.Time{}, time.Time{}, now)
		f.noErr("recover", err)
		if n != 3 {
			f.Fatalf("recovered %d, want 3", n)
		}
		for i, m := range msgs {
			j := f.claimOne("node-a", now)
			if j.Delivery.MsgID != m.ID {
				f.Fatalf("claim %d: got %s, want %s", i, j.Delivery.MsgID, m.ID)
			}
			f.record(result(j, now, 200, herald.Outcome{Status: herald.StatusSuccess}))
		}
		f.claimNone("node-a", now)
	}},
}

// wantCircuit checks the endpoint's stored circuit as GetEndpoint and
// ActiveEndpoints return it.
func wantCircuit(f *fixture, endpointID string, want herald.Circuit) {
	f.Helper()
	var appID string
	eps, err := f.s.ListApplications(f.ctx, store.Page{Limit: 250})
	f.noErr("list applications", err)
	for _, a := range eps {
		if ep, err := f.s.GetEndpoint(f.ctx, a.ID, endpointID); err == nil {
			appID = a.ID
			sameCircuit(f, "GetEndpoint", ep.Circuit, want)
		}
	}
	active, err := f.s.ActiveEndpoints(f.ctx, appID)
	f.noErr("active endpoints", err)
	for _, ep := range active {
		if ep.ID == endpointID {
			sameCircuit(f, "ActiveEndpoints", ep.Circuit, want)
		}
	}
}

func sameCircuit(f *fixture, what string, got, want herald.Circuit) {
	f.Helper()
	if got.State != want.State || !got.OpenedAt.Equal(want.OpenedAt) || !got.RetryAt.Equal(want.RetryAt) || got.Cooldown != want.Cooldown {
		f.Errorf("%s: circuit %+v, want %+v", what, got, want)
	}
}
