package storetest

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

var queueTests = []test{
	{"ClaimReturnsJobWithMessageAndEndpoint", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID, func(e *herald.Endpoint) { e.Headers = map[string]string{"X-A": "1"} })
		m := f.publish(a.ID, f.t0, e.ID)
		j := f.claimOne("node-a", f.at(time.Second))
		d := j.Delivery
		if d.MsgID != m.ID || d.EndpointID != e.ID || d.AppID != a.ID || d.Status != herald.StatusPending || d.Attempts != 0 {
			f.Errorf("delivery: got %+v, want pending delivery of %s to %s", d, m.ID, e.ID)
		}
		if d.LeaseOwner != "node-a" || !d.NextAttemptAt.Equal(f.at(time.Second+lease)) || d.Trigger != herald.TriggerScheduled {
			f.Errorf("lease: got owner %q until %v trigger %d, want node-a until %v scheduled", d.LeaseOwner, d.NextAttemptAt, d.Trigger, f.at(time.Second+lease))
		}
		if j.Message == nil || j.Message.ID != m.ID || string(j.Message.Payload) != string(m.Payload) {
			f.Errorf("job message: got %+v, want %s with its payload", j.Message, m.ID)
		}
		if j.Endpoint == nil {
			f.Fatalf("job endpoint: got nil")
		}
		sameEndpoint(f, j.Endpoint, e)
	}},
	{"LeasedRowsWaitForExpiryThenComeBackAsRecovery", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		f.publish(a.ID, f.t0, e.ID)
		f.claimOne("node-a", f.t0)
		f.claimNone("node-b", f.at(lease-time.Millisecond))
		f.claimNone("node-a", f.at(lease-time.Millisecond))
		j := f.claimOne("node-b", f.at(lease))
		if j.Delivery.Trigger != herald.TriggerRecovery || j.Delivery.LeaseOwner != "node-b" {
			f.Errorf("claim after expiry: got trigger %d owner %q, want recovery by node-b", j.Delivery.Trigger, j.Delivery.LeaseOwner)
		}
	}},
	{"PublishLeasedSkipsTheQueueUntilTheLeaseExpires", func(f *fixture) {
		a := f.app()
		e1, e2 := f.endpoint(a.ID), f.endpoint(a.ID)
		m := f.publishLeased(a.ID, f.t0, "node-a", f.at(lease), e1.ID, e2.ID)
		f.claimNone("node-b", f.at(lease-time.Millisecond))
		jobs := f.claim("node-b", f.at(lease), 10)
		if len(jobs) != 2 {
			f.Fatalf("claim after the publish lease: got %d jobs, want 2", len(jobs))
		}
		for _, j := range jobs {
			if j.Delivery.MsgID != m.ID || j.Delivery.Trigger != herald.TriggerRecovery {
				f.Errorf("got %s trigger %d, want %s as recovery", j.Delivery.MsgID, j.Delivery.Trigger, m.ID)
			}
		}
	}},
	{"ExtendLeasesKeepsRows", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		m := f.publishLeased(a.ID, f.t0, "node-a", f.at(lease), e.ID)
		o := f.publish(a.ID, f.t0, e.ID)
		f.claimOne("node-c", f.t0) // o: extending node-a must not touch node-c's lease
		keys := []store.DeliveryKey{{MsgID: m.ID, EndpointID: e.ID}, {MsgID: o.ID, EndpointID: e.ID}}
		f.noErr("extend", f.s.ExtendLeases(f.ctx, "node-a", keys, f.at(3*lease)))
		if j := f.claimOne("node-b", f.at(2*lease)); j.Delivery.MsgID != o.ID {
			f.Errorf("claim at 2 leases: got %s, want %s whose lease was not extended", j.Delivery.MsgID, o.ID)
		}
		f.claimNone("node-d", f.at(3*lease-time.Millisecond))
		jobs := f.claim("node-d", f.at(3*lease), 10)
		if len(jobs) != 2 || (jobs[0].Delivery.MsgID != m.ID && jobs[1].Delivery.MsgID != m.ID) {
			f.Errorf("claim when the extended lease ends: got %d jobs, want 2 including %s", len(jobs), m.ID)
		}
	}},
	// A node extends only the leases it holds in memory. One it holds only
	// in the database (a release that failed, a claim whose answer was
	// lost) runs out, and any node recovers the delivery; and naming a
	// delivery it does not hold changes nothing.
	{"ExtendLeasesOnlyWhatIsHeld", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		key := func(m *herald.Message) store.DeliveryKey { return store.DeliveryKey{MsgID: m.ID, EndpointID: e.ID} }
		done := f.publish(a.ID, f.t0, e.ID)
		f.record(result(f.claimOne("node-a", f.t0), f.t0, 200, herald.Outcome{Status: herald.StatusSuccess}))
		until := f.at(lease)
		m1 := f.publishLeased(a.ID, f.t0, "node-a", until, e.ID)
		m2 := f.publishLeased(a.ID, f.t0, "node-a", until, e.ID)
		m3 := f.publishLeased(a.ID, f.t0, "node-a", until, e.ID)
		other := f.publishLeased(a.ID, f.t0, "node-z", until.Add(10*time.Second), e.ID)

		f.noErr("extend nothing", f.s.ExtendLeases(f.ctx, "node-a", nil, until.Add(time.Hour)))
		f.noErr("extend nothing", f.s.ExtendLeases(f.ctx, "node-a", []store.DeliveryKey{}, until.Add(time.Hour)))
		// Keys of deliveries that do not exist put m2 past the first
		// thousands, where an engine that works in chunks starts another.
		keys := []store.DeliveryKey{key(m1), key(other), key(done)}
		for i := range 9000 {
			keys = append(keys, store.DeliveryKey{MsgID: fmt.Sprintf("msg_missing_%d", i), EndpointID: e.ID})
		}
		keys = append(keys, key(m2))
		f.noErr("extend", f.s.ExtendLeases(f.ctx, "node-a", keys, until.Add(time.Minute)))

		j := f.claimOne("node-b", until.Add(time.Millisecond))
		if j.Delivery.MsgID != m3.ID || j.Delivery.Trigger != herald.TriggerRecovery {
			f.Errorf("claim when the first leases end: got %s trigger %d, want %s, which node-a did not extend, as recovery",
				j.Delivery.MsgID, j.Delivery.Trigger, m3.ID)
		}
		f.record(result(j, until.Add(time.Millisecond), 200, herald.Outcome{Status: herald.StatusSuccess}))
		f.claimNone("node-b", until.Add(10*time.Second-time.Millisecond))
		j = f.claimOne("node-b", until.Add(10*time.Second))
		if j.Delivery.MsgID != other.ID {
			f.Errorf("claim when node-z's lease ends: got %s, want %s, whose lease node-a's extension left alone", j.Delivery.MsgID, other.ID)
		}
		f.record(result(j, until.Add(10*time.Second), 200, herald.Outcome{Status: herald.StatusSuccess}))

		f.claimNone("node-b", until.Add(time.Minute-time.Millisecond))
		jobs := f.claim("node-b", until.Add(time.Minute), 10)
		var got []string
		for _, j := range jobs {
			got = append(got, j.Delivery.MsgID)
		}
		slices.Sort(got)
		want := []string{m1.ID, m2.ID}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			f.Errorf("claim when the extended leases end: got %v, want %v (not the finished %s)", got, want, done.ID)
		}
	}},
	// Released rows are due at once: a claim at any time after their
	// publish or last claim finds them, and they are not recoveries, since
	// their owner gave them back.
	{"ReleaseLeasesMakesRowsDue", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		m1 := f.publishLeased(a.ID, f.t0, "node-a", f.at(time.Hour), e.ID)
		f.publishLeased(a.ID, f.t0, "node-a", f.at(time.Hour), e.ID)
		f.publishLeased(a.ID, f.t0, "node-a", f.at(time.Hour), e.ID)
		other := f.publishLeased(a.ID, f.t0, "node-z", f.at(time.Hour), e.ID)
		f.noErr("release one", f.s.ReleaseLeases(f.ctx, "node-a", []store.DeliveryKey{{MsgID: m1.ID, EndpointID: e.ID}}))
		j := f.claimOne("node-b", f.at(time.Second))
		if j.Delivery.MsgID != m1.ID || j.Delivery.Trigger != herald.TriggerScheduled {
			f.Errorf("after releasing one: got %s trigger %d, want %s scheduled", j.Delivery.MsgID, j.Delivery.Trigger, m1.ID)
		}
		f.noErr("release a key not held", f.s.ReleaseLeases(f.ctx, "node-a", []store.DeliveryKey{{MsgID: other.ID, EndpointID: e.ID}}))
		f.noErr("release all", f.s.ReleaseLeases(f.ctx, "node-a", nil))
		jobs := f.claim("node-b", f.at(2*time.Second), 10)
		if len(jobs) != 2 {
			f.Errorf("after releasing all: got %d jobs, want 2 (node-z keeps its lease)", len(jobs))
		}
		for _, j := range jobs {
			if j.Delivery.MsgID == other.ID {
				f.Errorf("claimed %s, which node-z still holds", other.ID)
			}
		}
	}},
	// Deferred rows are given back like released ones, but are not due
	// before their own time: claims until then pass them by.
	{"DeferLeasesHoldsEachRowUntilItsTime", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		m1 := f.publishLeased(a.ID, f.t0, "node-a", f.at(time.Hour), e.ID)
		m2 := f.publishLeased(a.ID, f.t0, "node-a", f.at(time.Hour), e.ID)
		early := f.publishLeased(a.ID, f.t0, "node-a", f.at(time.Hour), e.ID)
		other := f.publishLeased(a.ID, f.t0, "node-z", f.at(time.Hour), e.ID)
		f.noErr("defer", f.s.DeferLeases(f.ctx, "node-a", []store.Deferral{
			{DeliveryKey: store.DeliveryKey{MsgID: m1.ID, EndpointID: e.ID}, NotBefore: f.at(10 * time.Second)},
			{DeliveryKey: store.DeliveryKey{MsgID: m2.ID, EndpointID: e.ID}, NotBefore: f.at(20 * time.Second)},
			// A time already past: due at once, as released.
			{DeliveryKey: store.DeliveryKey{MsgID: early.ID, EndpointID: e.ID}, NotBefore: f.t0.Add(-time.Minute)},
			// Not node-a's: left alone.
			{DeliveryKey: store.DeliveryKey{MsgID: other.ID, EndpointID: e.ID}, NotBefore: f.at(time.Second)},
		}))
		wantDelivery(f, a.ID, e.ID, m1.ID, herald.StatusPending, f.at(10*time.Second))
		wantDelivery(f, a.ID, e.ID, m2.ID, herald.StatusPending, f.at(20*time.Second))
		if j := f.claimOne("node-b", f.at(time.Second)); j.Delivery.MsgID != early.ID || j.Delivery.Trigger != herald.TriggerScheduled {
			f.Errorf("claim at +1s: got %s trigger %d, want %s scheduled", j.Delivery.MsgID, j.Delivery.Trigger, early.ID)
		}
		f.claimNone("node-b", f.at(10*time.Second-time.Millisecond))
		if j := f.claimOne("node-b", f.at(10*time.Second)); j.Delivery.MsgID != m1.ID || j.Delivery.Trigger != herald.TriggerScheduled {
			f.Errorf("claim at +10s: got %s trigger %d, want %s scheduled", j.Delivery.MsgID, j.Delivery.Trigger, m1.ID)
		}
		f.claimNone("node-b", f.at(20*time.Second-time.Millisecond))
		if j := f.claimOne("node-b", f.at(20*time.Second)); j.Delivery.MsgID != m2.ID {
			f.Errorf("claim at +20s: got %s, want %s", j.Delivery.MsgID, m2.ID)
		}
	}},
	// A circuit's RetryAt later than the deferral wins, as for a release.
	{"DeferLeasesWaitsForTheCircuit", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		m := f.publishLeased(a.ID, f.t0, "node-a", f.at(time.Hour), e.ID)
		_, err := f.s.OpenCircuit(f.ctx, e.ID, herald.CircuitClosed, f.t0, time.Minute)
		f.noErr("open", err)
		f.noErr("defer", f.s.DeferLeases(f.ctx, "node-a", []store.Deferral{
			{DeliveryKey: store.DeliveryKey{MsgID: m.ID, EndpointID: e.ID}, NotBefore: f.at(10 * time.Second)},
		}))
		wantDelivery(f, a.ID, e.ID, m.ID, herald.StatusPending, f.at(time.Minute))
	}},
	{"ClaimTakesOldestDueFirstUpToLimit", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		var ids []string
		for _, off := range []time.Duration{3 * time.Second, time.Second, 2 * time.Second, time.Hour} {
			ids = append(ids, f.publish(a.ID, f.at(off), e.ID).ID)
		}
		first := f.claim("node", f.at(time.Minute), 2)
		got := []string{first[0].Delivery.MsgID, first[1].Delivery.MsgID}
		slices.Sort(got)
		want := []string{ids[1], ids[2]}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			f.Errorf("first claim: got %v, want the two oldest due %v", got, want)
		}
		rest := f.claim("node", f.at(time.Minute), 10)
		if len(rest) != 1 || rest[0].Delivery.MsgID != ids[0] {
			f.Errorf("second claim: got %d jobs, want only %s (the last is not due)", len(rest), ids[0])
		}
	}},
	{"FanOutToManyEndpoints", func(f *fixture) {
		a := f.app()
		var eps []string
		for range 19 {
			eps = append(eps, f.endpoint(a.ID).ID)
		}
		m := f.publishLeased(a.ID, f.t0, "node-a", f.at(lease), eps...)
		wantBacklog(f, len(eps))
		jobs := f.claim("node-b", f.at(lease), 50)
		var got []string
		for _, j := range jobs {
			if j.Delivery.MsgID != m.ID || j.Endpoint.ID != j.Delivery.EndpointID {
				f.Errorf("job: got message %s endpoint %s/%s, want %s", j.Delivery.MsgID, j.Delivery.EndpointID, j.Endpoint.ID, m.ID)
			}
			got = append(got, j.Delivery.EndpointID)
		}
		slices.Sort(got)
		if !slices.Equal(got, eps) {
			f.Errorf("claimed endpoints: got %v, want %v", got, eps)
		}
	}},
	{"BacklogCountsUnfinished", func(f *fixture) {
		a := f.app()
		e1, e2 := f.endpoint(a.ID), f.endpoint(a.ID)
		f.publish(a.ID, f.t0, e1.ID, e2.ID)
		f.publishLeased(a.ID, f.t0, "node", f.at(lease), e1.ID)
		wantBacklog(f, 3)
		j := f.claim("node", f.t0, 1)
		f.record(result(j[0], f.at(time.Second), 200, herald.Outcome{Status: herald.StatusSuccess}))
		wantBacklog(f, 2)
	}},
	{"ConcurrentPublishesAreDurableAndClaimedOnce", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		const writers, each = 16, 40
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					m := f.message(a.ID, f.t0, func(m *herald.Message) {
						if i%5 == 0 {
							m.EventID = fmt.Sprintf("w%d-%d", w, i)
						}
					})
					if err := f.s.Publish(f.ctx, m, deliveries(m, e.ID), "", time.Time{}); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			f.Fatalf("concurrent publish: %v", err)
		}
		wantBacklog(f, writers*each)
		seen := map[string]bool{}
		for {
			jobs := f.claim("node", f.at(time.Second), 64)
			if len(jobs) == 0 {
				break
			}
			for _, j := range jobs {
				if seen[j.Delivery.MsgID] {
					f.Fatalf("message %s claimed twice", j.Delivery.MsgID)
				}
				seen[j.Delivery.MsgID] = true
			}
		}
		if len(seen) != writers*each {
			f.Errorf("claimed: got %d deliveries, want %d", len(seen), writers*each)
		}
	}},
	{"ConcurrentClaimersNeverShareADelivery", func(f *fixture) {
		a := f.app()
		e1, e2 := f.endpoint(a.ID), f.endpoint(a.ID)
		const n = 150
		for i := range n {
			f.publish(a.ID, f.at(time.Duration(i)*time.Millisecond), e1.ID, e2.ID)
		}
		const owners = 4
		got := make([][]store.DeliveryKey, owners)
		var wg sync.WaitGroup
		errs := make(chan error, owners)
		for o := range owners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					jobs, err := f.s.Claim(f.ctx, fmt.Sprintf("node-%d", o), f.at(time.Minute), lease, 7)
					if err != nil {
						errs <- err
						return
					}
					if len(jobs) == 0 {
						return
					}
					for _, j := range jobs {
						got[o] = append(got[o], store.DeliveryKey{MsgID: j.Delivery.MsgID, EndpointID: j.Delivery.EndpointID})
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			f.Fatalf("concurrent claim: %v", err)
		}
		owner := map[store.DeliveryKey]int{}
		for o, keys := range got {
			for _, k := range keys {
				if prev, dup := owner[k]; dup {
					f.Fatalf("delivery %v claimed by node-%d and node-%d", k, prev, o)
				}
				owner[k] = o
			}
		}
		if len(owner) != 2*n {
			f.Errorf("claimed: got %d deliveries, want %d", len(owner), 2*n)
		}
	}},
}

// wantBacklog checks the count of unfinished deliveries.
func wantBacklog(f *fixture, want int) {
	f.Helper()
	n, err := f.s.Backlog(f.ctx)
	f.noErr("backlog", err)
	if n != int64(want) {
		f.Errorf("backlog: got %d, want %d", n, want)
	}
}
