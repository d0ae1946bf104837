package delivery

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// Faults a faultyStore can inject into its next Publish.
const (
	publishOK          = iota
	publishFailsBefore // nothing committed
	publishFailsAfter  // committed, but the caller hears an error (a reset on COMMIT)
)

// faultyStore is a memStore whose releases fail while failReleases is set
// and whose next Publish fails as nextPublish says.
type faultyStore struct {
	*memStore
	failReleases   atomic.Bool
	failedReleases atomic.Int64
	nextPublish    atomic.Int32
}

func (s *faultyStore) ReleaseLeases(ctx context.Context, owner string, keys []store.DeliveryKey) error {
	if s.failReleases.Load() {
		s.failedReleases.Add(1)
		return errors.New("connection reset")
	}
	return s.memStore.ReleaseLeases(ctx, owner, keys)
}

func (s *faultyStore) Publish(ctx context.Context, msg *herald.Message, deliveries []herald.Delivery, owner string, until time.Time) error {
	switch s.nextPublish.Swap(publishOK) {
	case publishFailsBefore:
		return errors.New("connection refused")
	case publishFailsAfter:
		if err := s.memStore.Publish(ctx, msg, deliveries, owner, until); err != nil {
			return err
		}
		return errors.New("commit: connection reset")
	}
	return s.memStore.Publish(ctx, msg, deliveries, owner, until)
}

func newFaultyStore(endpoints ...herald.Endpoint) *faultyStore {
	s := &faultyStore{memStore: newMemStore()}
	for _, ep := range endpoints {
		s.addEndpoint(ep)
	}
	return s
}

// waitSent waits until the delivery succeeded.
func (s *memStore) waitSent(t *testing.T, key store.DeliveryKey) {
	t.Helper()
	s.waitFor(t, "delivery "+key.MsgID+" to succeed", func() bool {
		d := s.deliveries[key]
		return d != nil && d.Status == herald.StatusSuccess
	})
}

// leaseShort is a lease that the heartbeat extends every 200 ms: without
// the heartbeat, a delivery that is leased and not sent would be due again
// well within a test's wait.
const leaseShort = 600 * time.Millisecond

// pollShort has the poller claim what became due in the database soon.
const pollShort = 50 * time.Millisecond

// TestFailedSpillReleaseRunsOut: a delivery that did not fit in memory is
// handed back to the database; when that release fails, the heartbeat must
// not keep it leased: it extends only what the node holds, so the lease
// runs out and the delivery is claimed and sent.
func TestFailedSpillReleaseRunsOut(t *testing.T) {
	t.Parallel()
	url, got, release := hanging(t)
	ep := endpoint("ep_spill_retry", url)
	s := newFaultyStore(ep)
	e := startEngine2(t, Config{Store: s, LeaseDuration: leaseShort, EndpointConcurrency: 1, EndpointQueue: 1, PollInterval: pollShort})

	s.failReleases.Store(true)
	first := message("a", `{}`)
	if err := e.Publish(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	<-got // in flight
	queued, spilled := message("a", `{}`), message("a", `{}`)
	for _, m := range []*herald.Message{queued, spilled} {
		if err := e.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if s.failedReleases.Load() == 0 {
		t.Fatal("no release failed: the third delivery did not spill")
	}

	s.failReleases.Store(false)
	release()
	for _, m := range []*herald.Message{first, queued, spilled} {
		s.waitSent(t, keyOf(m, ep))
	}
}

// TestPublishErrorAfterCommitIsDelivered: a publish whose commit went
// through although the store answered an error leaves its deliveries
// leased to this node, which never dispatched them. The heartbeat must not
// keep them alive: their lease runs out and they are sent.
func TestPublishErrorAfterCommitIsDelivered(t *testing.T) {
	t.Parallel()
	srv, _ := sink(t, ok)
	ep := endpoint("ep_ambiguous", srv.URL)
	s := newFaultyStore(ep)
	e := startEngine2(t, Config{Store: s, LeaseDuration: leaseShort, PollInterval: pollShort})

	s.nextPublish.Store(publishFailsAfter)
	msg := message("a", `{}`)
	if err := e.Publish(context.Background(), msg); err == nil {
		t.Fatal("Publish = nil, want the store's error")
	}
	s.waitSent(t, keyOf(msg, ep))
}

// claimCounting is a memStore that counts the heartbeat's extensions and
// the deliveries claims return.
type claimCounting struct {
	*memStore
	extends, claimed atomic.Int64
}

func (s *claimCounting) ExtendLeases(ctx context.Context, owner string, keys []store.DeliveryKey, until time.Time) error {
	defer s.extends.Add(1)
	return s.memStore.ExtendLeases(ctx, owner, keys, until)
}

func (s *claimCounting) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.Job, error) {
	jobs, err := s.memStore.Claim(ctx, owner, now, lease, limit)
	s.claimed.Add(int64(len(jobs)))
	return jobs, err
}

// TestHeldDeliveriesKeepTheirLeases: the heartbeat extends what the node
// holds, queued or in flight, for as long as it holds it. A lease left to
// run out would have the delivery claimed (by this node or another) and
// sent a second time beside the send under way.
func TestHeldDeliveriesKeepTheirLeases(t *testing.T) {
	t.Parallel()
	url, got, release := hanging(t)
	ep := endpoint("ep_held_leases", url)
	s := &claimCounting{memStore: newMemStore()}
	s.addEndpoint(ep)
	e := startEngine2(t, Config{Store: s, LeaseDuration: leaseShort, EndpointConcurrency: 1, PollInterval: pollShort})

	inFlight, queued := message("a", `{}`), message("a", `{}`)
	for _, m := range []*herald.Message{inFlight, queued} {
		if err := e.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	<-got // the first is in flight, the second queued behind it
	// Six heartbeats, a third of the lease apart: twice the lease.
	from := s.extends.Load()
	s.waitFor(t, "six heartbeats", func() bool { return s.extends.Load() >= from+6 })
	if n := s.claimed.Load(); n != 0 {
		t.Fatalf("claims took %d deliveries this node holds: their leases ran out", n)
	}
	release()
	for _, m := range []*herald.Message{inFlight, queued} {
		s.waitSent(t, keyOf(m, ep))
	}
}

// A delivery's next attempt may be taken before the result of the one
// before it is acknowledged; that acknowledgement must leave the new send
// held, or its lease would not be extended while it runs.
func TestInflightCountsEachSend(t *testing.T) {
	var f inflight
	k := store.DeliveryKey{MsgID: "msg_1", EndpointID: "ep_1"}
	res := []store.Result{{Attempt: herald.Attempt{MsgID: k.MsgID, EndpointID: k.EndpointID}}}
	f.add(k) // attempt 1 taken
	f.add(k) // attempt 2 taken before attempt 1's result was acknowledged
	f.done(res)
	if got := f.appendTo(nil); len(got) != 1 || got[0] != k {
		t.Fatalf("after one of two results: held %v, want %v", got, k)
	}
	f.done(res)
	if got := f.appendTo(nil); len(got) != 0 {
		t.Fatalf("after both results: held %v, want none", got)
	}
}
