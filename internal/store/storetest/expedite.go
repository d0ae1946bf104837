package storetest

import (
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

var expediteTests = []test{
	// Expedite brings an endpoint's waiting retries forward and leaves
	// leased rows and other endpoints alone.
	{"ExpediteMakesTheEndpointsRetriesDue", func(f *fixture) {
		a := f.app()
		e, other := f.endpoint(a.ID), f.endpoint(a.ID)
		m := f.publish(a.ID, f.t0, e.ID, other.ID)
		later := f.at(5 * time.Minute)
		for _, j := range f.claim("node-a", f.t0, 10) {
			f.record(result(j, f.at(time.Second), 500, herald.Outcome{Status: herald.StatusSending, NextAttemptAt: later}))
		}
		f.publishLeased(a.ID, f.t0, "node-b", f.at(lease), e.ID)

		now := f.at(2 * time.Second)
		n, err := f.s.Expedite(f.ctx, a.ID, e.ID, now)
		f.noErr("expedite", err)
		if n != 1 {
			f.Errorf("expedited: got %d, want 1", n)
		}
		wantDelivery(f, a.ID, e.ID, m.ID, herald.StatusSending, now)
		wantDelivery(f, a.ID, other.ID, m.ID, herald.StatusSending, later)
		jobs := f.claim("node-a", now, 10)
		if len(jobs) != 1 || jobs[0].Delivery.MsgID != m.ID || jobs[0].Delivery.EndpointID != e.ID {
			f.Fatalf("claim after expedite: got %d jobs, want the retry of %s to %s only", len(jobs), m.ID, e.ID)
		}
		if jobs[0].Delivery.Attempts != 1 || jobs[0].Delivery.Trigger != herald.TriggerScheduled {
			f.Errorf("expedited retry: got attempts %d trigger %d, want 1, scheduled", jobs[0].Delivery.Attempts, jobs[0].Delivery.Trigger)
		}
		f.claimNone("node-c", f.at(lease-time.Millisecond)) // leased's lease still holds
	}},
	// ExpeditePaced brings forward what DeferLeases put back and nothing
	// else: not a retry, nor a deferred delivery whose attempt was
	// recorded since.
	{"ExpeditePacedLeavesRetries", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		retry := f.publish(a.ID, f.t0, e.ID)
		j := f.claimOne("node-a", f.t0)
		f.record(result(j, f.at(time.Second), 500, herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(time.Hour)}))
		paced := f.publishLeased(a.ID, f.at(time.Second), "node-a", f.at(time.Hour), e.ID)
		tried := f.publishLeased(a.ID, f.at(time.Second), "node-a", f.at(time.Hour), e.ID)
		f.noErr("defer", f.s.DeferLeases(f.ctx, "node-a", []store.Deferral{
			{DeliveryKey: store.DeliveryKey{MsgID: paced.ID, EndpointID: e.ID}, NotBefore: f.at(time.Minute)},
			{DeliveryKey: store.DeliveryKey{MsgID: tried.ID, EndpointID: e.ID}, NotBefore: f.at(2 * time.Second)},
		}))
		j = f.claimOne("node-a", f.at(2*time.Second))
		if j.Delivery.MsgID != tried.ID {
			f.Fatalf("claim at +2s: got %s, want %s", j.Delivery.MsgID, tried.ID)
		}
		f.record(result(j, f.at(3*time.Second), 500, herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(time.Hour)}))

		now := f.at(4 * time.Second)
		n, err := f.s.ExpeditePaced(f.ctx, a.ID, e.ID, now)
		f.noErr("expedite paced", err)
		if n != 1 {
			f.Errorf("expedited: got %d, want 1", n)
		}
		wantDelivery(f, a.ID, e.ID, paced.ID, herald.StatusPending, now)
		wantDelivery(f, a.ID, e.ID, retry.ID, herald.StatusSending, f.at(time.Hour))
		wantDelivery(f, a.ID, e.ID, tried.ID, herald.StatusSending, f.at(time.Hour))
	}},
	{"ExpediteUnknownEndpointIsNotFound", func(f *fixture) {
		a := f.app()
		_, err := f.s.Expedite(f.ctx, a.ID, "ep_missing", f.t0)
		f.wantErr("expedite missing endpoint", err, herald.ErrNotFound)
	}},
}
