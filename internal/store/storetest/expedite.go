package storetest

import (
	"time"

	"github.com/heraldhq/herald/internal/herald"
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
		n, err := f.s.Expedite(f.ctx, a.ID, e.ID, now, time.Time{})
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
	// With until, only what is due by then comes forward.
	{"ExpediteUntilLeavesLaterRetries", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		soon, late := f.publish(a.ID, f.t0, e.ID), f.publish(a.ID, f.t0, e.ID)
		for _, j := range f.claim("node-a", f.t0, 10) {
			next := f.at(time.Minute)
			if j.Delivery.MsgID == late.ID {
				next = f.at(time.Hour)
			}
			f.record(result(j, f.at(time.Second), 500, herald.Outcome{Status: herald.StatusSending, NextAttemptAt: next}))
		}
		now := f.at(2 * time.Second)
		n, err := f.s.Expedite(f.ctx, a.ID, e.ID, now, f.at(time.Minute))
		f.noErr("expedite", err)
		if n != 1 {
			f.Errorf("expedited: got %d, want 1", n)
		}
		wantDelivery(f, a.ID, e.ID, soon.ID, herald.StatusSending, now)
		wantDelivery(f, a.ID, e.ID, late.ID, herald.StatusSending, f.at(time.Hour))
	}},
	{"ExpediteUnknownEndpointIsNotFound", func(f *fixture) {
		a := f.app()
		_, err := f.s.Expedite(f.ctx, a.ID, "ep_missing", f.t0, time.Time{})
		f.wantErr("expedite missing endpoint", err, herald.ErrNotFound)
	}},
}
