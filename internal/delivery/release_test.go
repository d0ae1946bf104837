package delivery

import (
	"context"
	"errors"
	"fmt"
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

// TestFailedSpillReleaseIsRetried: a delivery that did not fit in memory is
// handed back to the database; when that release fails, the heartbeat,
// which extends every lease of the node, must not keep it leased forever.
func TestFailedSpillReleaseIsRetried(t *testing.T) {
	t.Parallel()
	url, got, release := hanging(t)
	ep := endpoint("ep_spill_retry", url)
	s := newFaultyStore(ep)
	e := startEngine2(t, Config{Store: s, LeaseDuration: leaseShort, EndpointConcurrency: 1, EndpointQueue: 1})

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
// leased to this node, which never dispatched them. They must be handed
// back and sent, not kept alive by the heartbeat.
func TestPublishErrorAfterCommitIsDelivered(t *testing.T) {
	t.Parallel()
	srv, _ := sink(t, ok)
	ep := endpoint("ep_ambiguous", srv.URL)
	s := newFaultyStore(ep)
	e := startEngine2(t, Config{Store: s, LeaseDuration: leaseShort})

	s.nextPublish.Store(publishFailsAfter)
	msg := message("a", `{}`)
	if err := e.Publish(context.Background(), msg); err == nil {
		t.Fatal("Publish = nil, want the store's error")
	}
	s.waitSent(t, keyOf(msg, ep))
}

// TestRepublishAfterFailedPublishIsHeldOnce: a caller that retries a
// failed publish with the same message (the operational events do) gets
// it stored the second time. The release kept for the first attempt must
// not hit the delivery the second one dispatched: the delivery would be
// claimed again while this node sends it, and go out twice.
func TestRepublishAfterFailedPublishIsHeldOnce(t *testing.T) {
	t.Parallel()
	url, got, release := hanging(t)
	ep := endpoint("ep_republish", url)
	s := newFaultyStore(ep)
	// Neither polls nor heartbeats on its own: the test runs them.
	e := startEngine2(t, Config{Store: s, LeaseDuration: time.Hour, EndpointConcurrency: 2})
	t.Cleanup(release) // before the engine stops
	claims := 0
	waitClaim := func() {
		t.Helper()
		claims++
		s.waitFor(t, fmt.Sprintf("claim %d", claims), func() bool { return s.claims >= claims })
	}
	waitClaim() // at start

	msg := message("a", `{}`)
	s.nextPublish.Store(publishFailsBefore)
	if err := e.Publish(context.Background(), msg); err == nil {
		t.Fatal("first Publish = nil, want the store's error")
	}
	if err := e.Publish(context.Background(), msg); err != nil {
		t.Fatalf("second Publish: %v", err)
	}
	e.poll.heartbeat(context.Background())
	// Two claims one after the other: the first has dispatched what it
	// took by the time the second is made.
	e.Wake()
	waitClaim()
	e.Wake()
	waitClaim()
	<-got
	if n := e.disp.held.Load(); n != 1 {
		t.Errorf("deliveries held: got %d, want 1 (the message was claimed again while it was being sent)", n)
	}
	release()
	s.waitSent(t, keyOf(msg, ep))
}

// TestStopReleasesWhatFailedToRelease: at Stop, the releases that failed
// earlier are tried again with the queued deliveries', so the deliveries
// are due at once rather than when their lease runs out.
func TestStopReleasesWhatFailedToRelease(t *testing.T) {
	t.Parallel()
	url, got, release := hanging(t)
	ep := endpoint("ep_stop_retry", url)
	s := newFaultyStore(ep)
	e := startEngine2(t, Config{Store: s, LeaseDuration: time.Hour, EndpointConcurrency: 1, EndpointQueue: 1})
	t.Cleanup(release)

	s.failReleases.Store(true)
	var msgs []*herald.Message
	for i := range 3 {
		msgs = append(msgs, message("a", `{}`))
		if err := e.Publish(context.Background(), msgs[i]); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			<-got
		}
	}
	s.failReleases.Store(false)
	release()
	if err := e.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	spilled := keyOf(msgs[2], ep)
	if d := s.delivery(spilled.MsgID, spilled.EndpointID); d.LeaseOwner != "" {
		t.Errorf("spilled delivery after Stop: leased to %q until %v, want released", d.LeaseOwner, d.NextAttemptAt)
	}
}

// TestClaimedDeliveryIsNotReleasedLater: a delivery whose release was
// kept may come due before the release goes through (the store failed
// for a whole lease) and be claimed by this node. The kept release must
// then not hit it while it is being sent.
func TestClaimedDeliveryIsNotReleasedLater(t *testing.T) {
	t.Parallel()
	url, got, release := hanging(t)
	ep := endpoint("ep_claimed_kept", url)
	s := newFaultyStore(ep)
	e := startEngine2(t, Config{Store: s, LeaseDuration: time.Hour, EndpointConcurrency: 2})
	t.Cleanup(release)
	claims := 0
	waitClaim := func() {
		t.Helper()
		claims++
		s.waitFor(t, fmt.Sprintf("claim %d", claims), func() bool { return s.claims >= claims })
	}
	waitClaim() // at start

	msg := message("a", `{}`)
	s.nextPublish.Store(publishFailsAfter)
	if err := e.Publish(context.Background(), msg); err == nil {
		t.Fatal("Publish = nil, want the store's error")
	}
	s.mu.Lock()
	s.deliveries[keyOf(msg, ep)].NextAttemptAt = time.Now().Add(-time.Second) // the lease ran out
	s.mu.Unlock()
	e.Wake()
	waitClaim()
	<-got

	e.poll.heartbeat(context.Background())
	e.Wake()
	waitClaim()
	e.Wake()
	waitClaim()
	if n := e.disp.held.Load(); n != 1 {
		t.Errorf("deliveries held: got %d, want 1 (the message was claimed again while it was being sent)", n)
	}
	release()
	s.waitSent(t, keyOf(msg, ep))
}
