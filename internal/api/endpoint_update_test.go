package api

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// hookStore runs afterGet once, right after the next GetEndpoint returns:
// it commits something between a handler's read of an endpoint and its
// update.
type hookStore struct {
	store.Store
	mu       sync.Mutex
	afterGet func()
}

func (s *hookStore) GetEndpoint(ctx context.Context, appID, idOrUID string) (*herald.Endpoint, error) {
	ep, err := s.Store.GetEndpoint(ctx, appID, idOrUID)
	s.mu.Lock()
	hook := s.afterGet
	s.afterGet = nil
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return ep, err
}

func (s *hookStore) setAfterGet(hook func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.afterGet = hook
}

// goneAll records a 410 Gone for every due delivery, as the delivery engine
// does: the attempt fails and the endpoint is disabled.
func goneAll(t *testing.T, st store.Store) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	jobs, err := st.Claim(ctx, "test-node", now.Add(time.Second), time.Minute, 100)
	if err != nil || len(jobs) == 0 {
		t.Errorf("claim: %d jobs, %v; want some", len(jobs), err)
		return
	}
	var results []store.Result
	for _, j := range jobs {
		results = append(results, store.Result{
			Attempt: herald.Attempt{
				ID: herald.NewID(herald.PrefixAttempt, now), MsgID: j.Delivery.MsgID,
				EndpointID: j.Delivery.EndpointID, AppID: j.Delivery.AppID, URL: j.Endpoint.URL,
				Status: herald.StatusFail, StatusCode: 410, CreatedAt: now,
			},
			Outcome:  herald.Outcome{Status: herald.StatusFail, DisableEndpoint: true},
			Attempts: j.Delivery.Attempts + 1,
			Owner:    j.Delivery.LeaseOwner,
		})
	}
	if _, err := st.Record(ctx, results); err != nil {
		t.Errorf("record: %v", err)
	}
}

// The engine disables an endpoint (410 Gone) after a handler read it and
// before the handler's update: an update that does not touch disabled
// leaves the endpoint disabled, rather than writing back what it read.
func TestUpdateKeepsTheEnginesDisable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"PatchHeaders", "PATCH", "/headers", map[string]any{"headers": map[string]any{"X-Team": "core"}}, 204},
		{"PutHeaders", "PUT", "/headers", map[string]any{"headers": map[string]any{"X-Team": "core"}}, 204},
		{"RotateSecret", "POST", "/secret/rotate", map[string]any{}, 204},
		{"PutOrdering", "PUT", "/ordering", map[string]any{"fifo": true}, 200},
		{"PatchEndpoint", "PATCH", "", map[string]any{"description": "billing"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var hs *hookStore
			b := setup(t, func(c *Config) { hs = &hookStore{Store: c.Store}; c.Store = hs })
			app := b.createApp(t, "Acme", "")
			ep := b.createEndpoint(t, app, map[string]any{})
			b.sendMessage(t, app, map[string]any{})
			hs.setAfterGet(func() { goneAll(t, b.store) })

			r := b.call(t, tc.method, "/api/v1/app/"+app+"/endpoint/"+ep+tc.path, tc.body).want(t, tc.status)
			if tc.status == 200 && tc.path == "" && r.obj(t)["disabled"] != true {
				t.Errorf("answer %s, want the endpoint as written: disabled", r.raw)
			}
			got, err := b.store.GetEndpoint(context.Background(), app, ep)
			if err != nil {
				t.Fatalf("get endpoint: %v", err)
			}
			if !got.Disabled || got.FailingSince.IsZero() {
				t.Errorf("after the update: disabled %v, failing since %v; want the engine's disable kept", got.Disabled, got.FailingSince)
			}
		})
	}
}
