package delivery

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// eventsFunc is an Events made of a function.
type eventsFunc func(batch []store.Result, disabled []string)

func (f eventsFunc) Recorded(batch []store.Result, disabled []string) { f(batch, disabled) }

// recordedBatch is a copy of what Events.Recorded was given.
type recordedBatch struct {
	results  []store.Result
	disabled []string
}

func TestEventsHearCommittedResults(t *testing.T) {
	t.Parallel()
	srv, _ := sink(t, func(w http.ResponseWriter, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusGone)
	})
	ep := endpoint("ep_events", srv.URL)
	heard := make(chan recordedBatch, 16)
	s := newMemStore()
	s.addEndpoint(ep)
	events := eventsFunc(func(batch []store.Result, disabled []string) {
		// The results must already be in the store when Events hears of
		// them: events describe committed state.
		s.mu.Lock()
		for _, r := range batch {
			if !slices.ContainsFunc(s.results, func(c store.Result) bool { return c.Attempt.ID == r.Attempt.ID }) {
				t.Errorf("Events heard of attempt %s before it was recorded", r.Attempt.ID)
			}
		}
		s.mu.Unlock()
		heard <- recordedBatch{slices.Clone(batch), slices.Clone(disabled)}
	})
	b := startEngine(t, s, Config{Events: events, Policy: herald.Policy{Schedule: []time.Duration{10 * time.Millisecond}, Jitter: -1}})
	msg := b.publish(t, message("a", `{}`))
	b.waitFinal(t, msg.ID, ep.ID)

	var got []store.Result
	var disabled []string
	for len(got) < 2 {
		select {
		case rb := <-heard:
			got = append(got, rb.results...)
			disabled = append(disabled, rb.disabled...)
		case <-time.After(10 * time.Second):
			t.Fatalf("Events heard of %d results, want 2", len(got))
		}
	}
	if got[0].Attempts != 1 || got[0].Outcome.Status != herald.StatusSending || got[0].Attempt.StatusCode != 500 {
		t.Errorf("first result: attempts %d, status %v, code %d; want 1, sending, 500", got[0].Attempts, got[0].Outcome.Status, got[0].Attempt.StatusCode)
	}
	if got[1].Attempts != 2 || got[1].Outcome.Status != herald.StatusFail || !got[1].Outcome.DisableEndpoint {
		t.Errorf("second result: attempts %d, outcome %+v; want 2, a fail that disables the endpoint", got[1].Attempts, got[1].Outcome)
	}
	if !slices.Equal(disabled, []string{ep.ID}) {
		t.Errorf("disabled endpoints heard: %v, want [%s]", disabled, ep.ID)
	}
}
