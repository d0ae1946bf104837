package delivery

import (
	"testing"
)

func TestPublishSkipsPollingEndpoints(t *testing.T) {
	t.Parallel()
	srv, got := sink(t, ok)
	push := endpoint("ep_push", srv.URL)
	poll := endpoint("ep_poll", "herald-poll://app_1/reader")
	b := setup(t, Config{}, push, poll)

	msg := b.publish(t, message("user.created", `{}`))
	<-got
	b.waitFinal(t, msg.ID, push.ID)

	b.store.mu.Lock()
	defer b.store.mu.Unlock()
	for key := range b.store.deliveries {
		if key.EndpointID == poll.ID {
			t.Errorf("delivery of %s to polling endpoint %s, want none", key.MsgID, key.EndpointID)
		}
	}
}

func TestIsPollURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"herald-poll://app_1/reader", true},
		{"https://example.com/herald-poll://x", false},
		{"herald-listen://app_1/dev", false},
	} {
		if got := IsPollURL(tc.url); got != tc.want {
			t.Errorf("IsPollURL(%q): got %v, want %v", tc.url, got, tc.want)
		}
	}
}

func TestPublishToPollingEndpointStoresOnly(t *testing.T) {
	t.Parallel()
	poll := endpoint("ep_poll", "herald-poll://app_1/reader")
	b := setup(t, Config{}, poll)

	msg := message("webhook.test", `{}`)
	if err := b.engine.PublishTo(t.Context(), msg, poll.ID); err != nil {
		t.Fatalf("PublishTo: %v", err)
	}
	b.store.mu.Lock()
	defer b.store.mu.Unlock()
	if m, stored := b.store.messages[msg.ID]; !stored || m.Direct {
		t.Errorf("message %s: stored %v, want stored for the poller's consumers (not direct)", msg.ID, stored)
	}
	if n := len(b.store.deliveries); n != 0 {
		t.Errorf("got %d deliveries, want none for a polling endpoint", n)
	}
}

// An example sent to a push endpoint is direct: the application's pollers
// must not serve it as an event the application published.
func TestPublishToPushEndpointIsDirect(t *testing.T) {
	t.Parallel()
	srv, _ := sink(t, ok)
	push := endpoint("ep_push", srv.URL)
	b := setup(t, Config{}, push)
	msg := message("webhook.test", `{}`)
	if err := b.engine.PublishTo(t.Context(), msg, push.ID); err != nil {
		t.Fatalf("PublishTo: %v", err)
	}
	b.store.mu.Lock()
	defer b.store.mu.Unlock()
	if m, stored := b.store.messages[msg.ID]; !stored || !m.Direct {
		t.Errorf("message %s: stored %v, want it stored as direct", msg.ID, stored)
	}
}
