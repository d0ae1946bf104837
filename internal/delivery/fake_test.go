package delivery

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// memStore is a small in-memory Store with the queue semantics of the
// store contract: deliveries leased to an owner until NextAttemptAt, claims
// of due rows, results that move deliveries along and disable endpoints.
// Every change wakes waiters, so tests wait on conditions, not on time.
type memStore struct {
	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every change
	apps       map[string]*herald.Application
	endpoints  map[string]*herald.Endpoint
	messages   map[string]*herald.Message
	deliveries map[store.DeliveryKey]*herald.Delivery
	results    []store.Result
	released   []store.DeliveryKey
	deferred   []store.Deferral
	claims     int
}

func newMemStore() *memStore {
	return &memStore{
		changed:    make(chan struct{}),
		endpoints:  make(map[string]*herald.Endpoint),
		messages:   make(map[string]*herald.Message),
		deliveries: make(map[store.DeliveryKey]*herald.Delivery),
	}
}

var _ Store = (*memStore)(nil)

// notify wakes waiters. s.mu is held.
func (s *memStore) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitFor waits until cond (called with s.mu held) is true.
func (s *memStore) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

func (s *memStore) addEndpoint(ep herald.Endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endpoints[ep.ID] = &ep
	s.notify()
}

// deleteEndpoint deletes the endpoint and, as the store contract says,
// cancels its unfinished deliveries.
func (s *memStore) deleteEndpoint(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.endpoints, id)
	s.cancelDeliveries(id)
	s.notify()
}

// cancelDeliveries cancels the endpoint's unfinished deliveries. s.mu is
// held.
func (s *memStore) cancelDeliveries(endpointID string) {
	for _, d := range s.deliveries {
		if d.EndpointID == endpointID && !d.Status.Final() {
			d.Status, d.LeaseOwner, d.NextAttemptAt = herald.StatusCanceled, "", time.Time{}
		}
	}
}

func (s *memStore) delivery(msgID, endpointID string) herald.Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.deliveries[store.DeliveryKey{MsgID: msgID, EndpointID: endpointID}]
}

// resultsOf returns the recorded results of one delivery, in order.
// s.mu is held.
func (s *memStore) resultsOf(msgID string) []store.Result {
	var out []store.Result
	for _, r := range s.results {
		if r.Attempt.MsgID == msgID {
			out = append(out, r)
		}
	}
	return out
}

func (s *memStore) Publish(_ context.Context, msg *herald.Message, deliveries []herald.Delivery, owner string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := *msg
	s.messages[msg.ID] = &m
	for _, d := range deliveries {
		d.LeaseOwner, d.NextAttemptAt = owner, until
		if owner == "" {
			d.NextAttemptAt = time.Now()
		}
		s.deliveries[store.DeliveryKey{MsgID: d.MsgID, EndpointID: d.EndpointID}] = &d
	}
	s.notify()
	return nil
}

func (s *memStore) ActiveEndpoints(_ context.Context, appID string) ([]herald.Endpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []herald.Endpoint
	for _, ep := range s.endpoints {
		if ep.AppID == appID && !ep.Disabled {
			out = append(out, *ep)
		}
	}
	slices.SortFunc(out, func(a, b herald.Endpoint) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (s *memStore) Claim(_ context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims++
	var due []*herald.Delivery
	for _, d := range s.deliveries {
		if !d.Status.Final() && !d.NextAttemptAt.After(now) {
			due = append(due, d)
		}
	}
	slices.SortFunc(due, func(a, b *herald.Delivery) int { return a.NextAttemptAt.Compare(b.NextAttemptAt) })
	var jobs []store.Job
	for _, d := range due {
		if len(jobs) == limit {
			break
		}
		ep := s.endpoints[d.EndpointID]
		if ep == nil || ep.Disabled {
			d.Status, d.LeaseOwner, d.NextAttemptAt = herald.StatusCanceled, "", time.Time{}
			continue
		}
		d.LeaseOwner, d.NextAttemptAt = owner, now.Add(lease)
		epCopy, msg := *ep, *s.messages[d.MsgID]
		jobs = append(jobs, store.Job{Delivery: *d, Message: &msg, Endpoint: &epCopy})
	}
	s.notify()
	return jobs, nil
}

func (s *memStore) Record(_ context.Context, results []store.Result) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var disabled []string
	for _, r := range results {
		s.results = append(s.results, r)
		d := s.deliveries[store.DeliveryKey{MsgID: r.Attempt.MsgID, EndpointID: r.Attempt.EndpointID}]
		d.Status, d.Attempts, d.LeaseOwner = r.Outcome.Status, r.Attempts, ""
		d.NextAttemptAt = r.Outcome.NextAttemptAt
		ep := s.endpoints[r.Attempt.EndpointID]
		if ep == nil || r.Interrupted {
			continue
		}
		switch {
		case r.Outcome.Status == herald.StatusSuccess:
			ep.FailingSince = time.Time{}
		case ep.FailingSince.IsZero():
			ep.FailingSince = r.Attempt.CreatedAt
		}
		if r.Outcome.DisableEndpoint && !ep.Disabled {
			ep.Disabled = true
			disabled = append(disabled, ep.ID)
			s.cancelDeliveries(ep.ID)
		}
	}
	s.notify()
	return disabled, nil
}

func (s *memStore) ExtendLeases(_ context.Context, owner string, keys []store.DeliveryKey, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if d := s.deliveries[k]; d != nil && d.LeaseOwner == owner && !d.Status.Final() {
			d.NextAttemptAt = until
		}
	}
	s.notify()
	return nil
}

func (s *memStore) ReleaseLeases(_ context.Context, owner string, keys []store.DeliveryKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if d := s.deliveries[k]; d != nil && d.LeaseOwner == owner {
			d.LeaseOwner, d.NextAttemptAt = "", time.Now()
		}
	}
	s.released = append(s.released, keys...)
	s.notify()
	return nil
}

func (s *memStore) DeferLeases(_ context.Context, owner string, deferrals []store.Deferral) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, df := range deferrals {
		if d := s.deliveries[df.DeliveryKey]; d != nil && d.LeaseOwner == owner {
			d.LeaseOwner, d.NextAttemptAt = "", df.NotBefore
		}
		s.deferred = append(s.deferred, df)
	}
	s.notify()
	return nil
}

// ExpeditePaced makes every waiting delivery of the endpoint due: the fake
// does not tell paced ones from retries.
func (s *memStore) ExpeditePaced(_ context.Context, appID, endpointID string, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.deliveries {
		if d.AppID == appID && d.EndpointID == endpointID && !d.Status.Final() && d.LeaseOwner == "" && d.NextAttemptAt.After(now) {
			d.NextAttemptAt = now
			n++
		}
	}
	s.notify()
	return n, nil
}

func (s *memStore) Backlog(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, d := range s.deliveries {
		if !d.Status.Final() {
			n++
		}
	}
	return n, nil
}
