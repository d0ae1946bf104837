package storetest

import (
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/herald"
)

// updateTests specify UpdateEndpoint as a read-modify-write in one
// transaction: a change applies to the endpoint as it is when written, so
// it never undoes what committed since the caller last read it.
var updateTests = []test{
	// The API reads the endpoint, the engine then disables it (410 Gone),
	// and the API's update of its headers follows: the endpoint stays
	// disabled, with its failure clock and its circuit as the engine left
	// them.
	{"UpdateKeepsTheEnginesDisable", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		f.publish(a.ID, f.t0, e.ID)
		j := f.claimOne("node", f.t0)
		_, err := f.s.OpenCircuit(f.ctx, e.ID, herald.CircuitClosed, f.t0, time.Minute)
		f.noErr("open circuit", err)
		read, err := f.s.GetEndpoint(f.ctx, a.ID, e.ID)
		f.noErr("get endpoint", err)
		if read.Disabled {
			f.Fatalf("endpoint before the 410: disabled, want enabled")
		}
		off := herald.Outcome{Status: herald.StatusFail, DisableEndpoint: true}
		if disabled := f.record(result(j, f.at(time.Second), 410, off)); len(disabled) != 1 {
			f.Fatalf("record 410: disabled %v, want %s", disabled, e.ID)
		}
		dead, err := f.s.GetEndpoint(f.ctx, a.ID, e.ID)
		f.noErr("get endpoint", err)

		got := f.update(a.ID, read.ID, func(ep *herald.Endpoint) {
			ep.Headers, ep.UpdatedAt = map[string]string{"X-Team": "billing"}, f.at(2*time.Second)
		})
		stored, err := f.s.GetEndpoint(f.ctx, a.ID, e.ID)
		f.noErr("get endpoint", err)
		for what, ep := range map[string]*herald.Endpoint{"returned": got, "stored": stored} {
			if !ep.Disabled || !ep.FailingSince.Equal(dead.FailingSince) {
				f.Errorf("%s after the update: disabled %v, failing since %v; want disabled, failing since %v",
					what, ep.Disabled, ep.FailingSince, dead.FailingSince)
			}
			sameCircuit(f, what+" after the update", ep.Circuit, dead.Circuit)
			if ep.Headers["X-Team"] != "billing" {
				f.Errorf("%s after the update: headers %v, want X-Team", what, ep.Headers)
			}
		}
		active, err := f.s.ActiveEndpoints(f.ctx, a.ID)
		f.noErr("active endpoints", err)
		if len(active) != 0 {
			f.Errorf("active endpoints after the update: %v, want none", endpointIDs(active))
		}
	}},
	// Writers update different fields of one endpoint at once, each many
	// times: every acknowledged change is there at the end.
	{"ConcurrentUpdatesKeepEachOthersChanges", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		const n = 20
		add := func(m map[string]string, k string) map[string]string {
			m = maps.Clone(m)
			if m == nil {
				m = map[string]string{}
			}
			m[k] = "1"
			return m
		}
		writers := map[string]func(ep *herald.Endpoint, i int){
			"headers":    func(ep *herald.Endpoint, i int) { ep.Headers = add(ep.Headers, fmt.Sprintf("X-H-%d", i)) },
			"metadata":   func(ep *herald.Endpoint, i int) { ep.Metadata = add(ep.Metadata, fmt.Sprintf("m-%d", i)) },
			"eventTypes": func(ep *herald.Endpoint, i int) { ep.EventTypes = append(ep.EventTypes, fmt.Sprintf("t.%d", i)) },
			"channels":   func(ep *herald.Endpoint, i int) { ep.Channels = append(ep.Channels, fmt.Sprintf("c%d", i)) },
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for name, write := range writers {
			wg.Go(func() {
				<-start
				for i := range n {
					_, err := f.s.UpdateEndpoint(f.ctx, a.ID, e.ID, func(ep *herald.Endpoint) error {
						write(ep, i)
						return nil
					})
					if err != nil {
						f.Errorf("%s update %d: %v", name, i, err)
						return
					}
				}
			})
		}
		close(start)
		wg.Wait()
		got, err := f.s.GetEndpoint(f.ctx, a.ID, e.ID)
		f.noErr("get endpoint", err)
		if len(got.Headers) != n || len(got.Metadata) != n || len(got.EventTypes) != n || len(got.Channels) != n {
			f.Errorf("after %d updates by each writer: %d headers, %d metadata keys, %d event types, %d channels; want %d of each (an update was lost)",
				n, len(got.Headers), len(got.Metadata), len(got.EventTypes), len(got.Channels), n)
		}
	}},
	// A change that fails aborts the update: nothing is written, and the
	// error comes back as the change returned it.
	{"FailedChangeWritesNothing", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		f.publish(a.ID, f.t0, e.ID)
		refused := errors.New("refused")
		got, err := f.s.UpdateEndpoint(f.ctx, a.ID, e.ID, func(ep *herald.Endpoint) error {
			ep.URL, ep.Disabled = "https://changed.example.com", true
			return refused
		})
		if err != refused || got != nil {
			f.Errorf("update: got %v, %v; want nil and the change's error as is", got, err)
		}
		stored, err := f.s.GetEndpoint(f.ctx, a.ID, e.ID)
		f.noErr("get endpoint", err)
		sameEndpoint(f, stored, e)
		f.claimOne("node", f.t0) // its delivery was not canceled
	}},
	{"UpdateOfAMissingEndpoint", func(f *fixture) {
		a := f.app()
		_, err := f.s.UpdateEndpoint(f.ctx, a.ID, "ep_missing", func(*herald.Endpoint) error {
			f.Errorf("change called for a missing endpoint")
			return nil
		})
		f.wantErr("update", err, herald.ErrNotFound)
	}},
}
