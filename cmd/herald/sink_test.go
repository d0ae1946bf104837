package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// sink is a webhook receiver on loopback that records every request by
// its webhook-id and wakes waiters on each new one.
type sink struct {
	*httptest.Server
	mu       sync.Mutex
	seen     map[string]int // webhook-id → times received
	requests []sinkRequest
	changed  chan struct{} // closed and replaced on every request
	status   func() int    // status to answer; 204 when nil
}

type sinkRequest struct {
	Header http.Header
	Body   []byte
}

func newSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{seen: map[string]int{}, changed: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.seen[r.Header.Get("webhook-id")]++
		s.requests = append(s.requests, sinkRequest{Header: r.Header.Clone(), Body: body})
		close(s.changed)
		s.changed = make(chan struct{})
		status := s.status
		s.mu.Unlock()
		code := http.StatusNoContent
		if status != nil {
			code = status()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(s.Close)
	return s
}

// waitFor blocks until cond holds over the recorded ids, or ctx ends.
func (s *sink) waitFor(ctx context.Context, cond func(seen map[string]int) bool) bool {
	for {
		s.mu.Lock()
		ok := cond(s.seen)
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// waitAllDelivered waits until every acknowledged message id has arrived,
// failing the test with how many never did, and returns how many arrived
// more than once (delivery is at least once).
func (s *sink) waitAllDelivered(t *testing.T, ctx context.Context, acked map[string]bool) (duplicates int) {
	t.Helper()
	ok := s.waitFor(ctx, func(seen map[string]int) bool {
		for id := range acked {
			if seen[id] == 0 {
				return false
			}
		}
		return true
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	missing := 0
	for id := range acked {
		switch n := s.seen[id]; {
		case n == 0:
			missing++
		case n > 1:
			duplicates++
		}
	}
	if !ok || missing > 0 {
		t.Fatalf("%d of %d acknowledged messages were never delivered", missing, len(acked))
	}
	return duplicates
}
