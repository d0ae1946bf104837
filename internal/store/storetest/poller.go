package storetest

import (
	"slices"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

var pollerTests = []test{
	{"OrderAndFilters", testPollOrderAndFilters},
	{"Position", testPollPosition},
	{"PositionPassesFilteredOut", testPollPositionPassesFilteredOut},
	{"ConcurrentPublishes", testPollConcurrentPublishes},
	{"Consumers", testPollConsumers},
	{"NumbersNotReusedAfterRetention", testPollNumbersNotReused},
	{"DirectMessagesAreNotPolled", testPollSkipsDirect},
}

// poll returns the IDs PollMessages returns for f, and the position the
// next poll continues from, after checking the page's invariants: numbers
// increase, and the position is not behind f.After or the last message,
// and is the last message of a full page.
func (f *fixture) poll(appID string, pf store.PollFilter) ([]string, int64) {
	f.Helper()
	if pf.Limit == 0 {
		pf.Limit = 250
	}
	page, err := f.s.PollMessages(f.ctx, appID, pf)
	f.noErr("poll messages", err)
	ids := make([]string, len(page.Messages))
	last := pf.After
	for i, pm := range page.Messages {
		if pm.Seq <= last {
			f.Fatalf("poll: sequence %d after %d, want increasing", pm.Seq, last)
		}
		ids[i], last = pm.Message.ID, pm.Seq
	}
	switch {
	case page.Position < last:
		f.Fatalf("poll after %d: position %d is behind the page's last message %d", pf.After, page.Position, last)
	case len(ids) == pf.Limit && page.Position != last:
		f.Fatalf("poll after %d: position %d of a full page, want its last message %d", pf.After, page.Position, last)
	}
	return ids, page.Position
}

func (f *fixture) publishMsg(appID string, at time.Time, eventType string, channels ...string) *herald.Message {
	f.Helper()
	m := f.message(appID, at, func(m *herald.Message) { m.EventType, m.Channels = eventType, channels })
	f.noErr("publish", f.s.Publish(f.ctx, m, nil, "", time.Time{}))
	return m
}

func testPollOrderAndFilters(f *fixture) {
	app, other := f.app(), f.app()
	// Published in an order unlike their IDs' (later creation first).
	m1 := f.publishMsg(app.ID, f.at(3*time.Second), "invoice.paid", "eu")
	m2 := f.publishMsg(app.ID, f.at(1*time.Second), "user.created", "us")
	f.publishMsg(other.ID, f.at(2*time.Second), "invoice.paid", "eu")
	m3 := f.publishMsg(app.ID, f.at(2*time.Second), "invoice.paid", "us", "eu")
	m4 := f.publishMsg(app.ID, f.at(4*time.Second), "invoice.paid")

	for _, tc := range []struct {
		name string
		f    store.PollFilter
		want []string
	}{
		{"all in commit order", store.PollFilter{}, []string{m1.ID, m2.ID, m3.ID, m4.ID}},
		{"event type", store.PollFilter{EventTypes: []string{"invoice.paid"}}, []string{m1.ID, m3.ID, m4.ID}},
		{"channel", store.PollFilter{Channel: "us"}, []string{m2.ID, m3.ID}},
		{"any channel", store.PollFilter{AnyChannel: []string{"eu", "asia"}}, []string{m1.ID, m3.ID}},
		{"both", store.PollFilter{EventTypes: []string{"user.created"}, AnyChannel: []string{"us"}}, []string{m2.ID}},
	} {
		got, _ := f.poll(app.ID, tc.f)
		if !slices.Equal(got, tc.want) {
			f.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}

	// Pages: each continues after the last sequence number of the one before.
	var seen []string
	var after int64
	for range 10 {
		ids, last := f.poll(app.ID, store.PollFilter{After: after, Limit: 3})
		if len(ids) == 0 {
			break
		}
		seen, after = append(seen, ids...), last
	}
	if want := []string{m1.ID, m2.ID, m3.ID, m4.ID}; !slices.Equal(seen, want) {
		f.Errorf("paged: got %v, want %v", seen, want)
	}
}

// testPollSkipsDirect: a message sent to one endpoint alone (an example
// event) is not one the application published, so pollers never see it.
func testPollSkipsDirect(f *fixture) {
	app := f.app()
	ep := f.endpoint(app.ID)
	m1 := f.publishMsg(app.ID, f.at(0), "invoice.paid")
	direct := f.message(app.ID, f.at(time.Second), func(m *herald.Message) { m.EventType, m.Direct = "invoice.paid", true })
	f.noErr("publish direct", f.s.Publish(f.ctx, direct, deliveries(direct, ep.ID), "", time.Time{}))
	m2 := f.publishMsg(app.ID, f.at(2*time.Second), "invoice.paid")
	if got, _ := f.poll(app.ID, store.PollFilter{}); !slices.Equal(got, []string{m1.ID, m2.ID}) {
		f.Errorf("poll: got %v, want %v without the direct message %s", got, []string{m1.ID, m2.ID}, direct.ID)
	}
	if _, err := f.s.GetMessage(f.ctx, app.ID, direct.ID); err != nil {
		f.Errorf("the direct message is not stored: %v", err)
	}
}

func testPollPosition(f *fixture) {
	app := f.app()
	f.publishMsg(app.ID, f.at(0), "a")
	m2 := f.publishMsg(app.ID, f.at(time.Minute), "a")
	m3 := f.publishMsg(app.ID, f.at(2*time.Minute), "a")

	pos, err := f.s.PollPosition(f.ctx, app.ID, f.at(time.Minute))
	f.noErr("poll position", err)
	if got, _ := f.poll(app.ID, store.PollFilter{After: pos}); !slices.Equal(got, []string{m2.ID, m3.ID}) {
		f.Errorf("from +1m: got %v, want %v", got, []string{m2.ID, m3.ID})
	}

	// Past the last message: nothing now, and the next message later.
	pos, err = f.s.PollPosition(f.ctx, app.ID, f.at(time.Hour))
	f.noErr("poll position", err)
	if got, _ := f.poll(app.ID, store.PollFilter{After: pos}); len(got) != 0 {
		f.Errorf("from +1h: got %v, want none", got)
	}
	m4 := f.publishMsg(app.ID, f.at(3*time.Minute), "a")
	if got, _ := f.poll(app.ID, store.PollFilter{After: pos}); !slices.Equal(got, []string{m4.ID}) {
		f.Errorf("from +1h after a new publish: got %v, want %v", got, []string{m4.ID})
	}
}

// testPollPositionPassesFilteredOut: a poll whose filters leave out the
// application's newest messages continues after them, so a poller of a
// rare event type or channel does not read them again on every poll; and
// a message committed afterwards is still the next poll's first.
func testPollPositionPassesFilteredOut(f *fixture) {
	app := f.app()
	lastSeq := func() int64 {
		f.Helper()
		page, err := f.s.PollMessages(f.ctx, app.ID, store.PollFilter{Limit: 250})
		f.noErr("poll messages", err)
		if len(page.Messages) == 0 {
			f.Fatalf("poll: no messages")
		}
		return page.Messages[len(page.Messages)-1].Seq
	}
	for i := range 3 {
		f.publishMsg(app.ID, f.at(time.Duration(i)*time.Second), "user.created", "us")
	}
	scanned := lastSeq()
	byType := store.PollFilter{EventTypes: []string{"invoice.paid"}}
	byChannel := store.PollFilter{Channel: "eu"}
	for name, pf := range map[string]store.PollFilter{"event type": byType, "channel": byChannel,
		"any channel": {AnyChannel: []string{"eu", "asia"}}} {
		if ids, pos := f.poll(app.ID, pf); len(ids) != 0 || pos != scanned {
			f.Errorf("%s filter over none that match: got %v at %d, want none at %d, the last message scanned",
				name, ids, pos, scanned)
		}
	}

	// A match committed after that poll comes next; the page ends at the
	// newest message again, whether it matched or not.
	_, from := f.poll(app.ID, byType)
	m := f.publishMsg(app.ID, f.at(4*time.Second), "invoice.paid", "eu")
	f.publishMsg(app.ID, f.at(5*time.Second), "user.created", "us")
	scanned = lastSeq()
	for name, pf := range map[string]store.PollFilter{"event type": byType, "channel": byChannel} {
		pf.After = from
		ids, pos := f.poll(app.ID, pf)
		if !slices.Equal(ids, []string{m.ID}) || pos != scanned {
			f.Errorf("%s filter after %d: got %v at %d, want %v at %d", name, from, ids, pos, []string{m.ID}, scanned)
		}
		pf.After = pos
		if ids, again := f.poll(app.ID, pf); len(ids) != 0 || again != pos {
			f.Errorf("%s filter after %d: got %v at %d, want none at %d", name, pos, ids, again, pos)
		}
	}

	// A position is never moved back, even past the application's newest
	// message (positions are numbers shared by all applications).
	if ids, pos := f.poll(app.ID, store.PollFilter{After: scanned + 100, EventTypes: []string{"invoice.paid"}}); len(ids) != 0 || pos != scanned+100 {
		f.Errorf("poll after %d: got %v at %d, want none at %d", scanned+100, ids, pos, scanned+100)
	}
}

// testPollConcurrentPublishes polls while many goroutines publish: every
// message must be seen exactly once, none skipped by a commit that landed
// behind the poller's position. A filtered poller, whose positions pass
// the messages it leaves out, must likewise see each of its messages once.
func testPollConcurrentPublishes(f *fixture) {
	app := f.app()
	const writers, each = 8, 25
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				m := f.message(app.ID, f.at(time.Duration(w*each+i)*time.Millisecond), func(m *herald.Message) {
					m.EventType = []string{"a", "b"}[i%2]
				})
				if err := f.s.Publish(f.ctx, m, nil, "", time.Time{}); err != nil {
					errs <- err
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	pollers := []struct {
		f     store.PollFilter
		after int64
		seen  map[string]int
	}{
		{f: store.PollFilter{Limit: 7}, seen: map[string]int{}},
		{f: store.PollFilter{Limit: 7, EventTypes: []string{"b"}}, seen: map[string]int{}},
	}
	finished := false
	for {
		empty := true
		for i := range pollers {
			p := &pollers[i]
			p.f.After = p.after
			ids, pos := f.poll(app.ID, p.f)
			for _, id := range ids {
				p.seen[id]++
			}
			p.after, empty = pos, empty && len(ids) == 0
		}
		if empty && finished {
			break
		}
		select {
		case <-done:
			finished = true
		default:
		}
	}
	close(errs)
	for err := range errs {
		f.Fatalf("publish: %v", err)
	}
	all, err := f.s.ListMessages(f.ctx, app.ID, store.MessageFilter{Page: page(250, "")})
	f.noErr("list messages", err)
	if len(all) != writers*each {
		f.Fatalf("listed %d messages, want %d", len(all), writers*each)
	}
	for i, p := range pollers {
		want := 0
		for _, m := range all {
			n := 1
			if len(p.f.EventTypes) > 0 && !slices.Contains(p.f.EventTypes, m.EventType) {
				n = 0
			}
			if p.seen[m.ID] != n {
				f.Errorf("poller %d (event types %v): %s message %s seen %d times, want %d",
					i, p.f.EventTypes, m.EventType, m.ID, p.seen[m.ID], n)
			}
			want += n
		}
		if len(p.seen) != want {
			f.Errorf("poller %d (event types %v): saw %d messages, want %d", i, p.f.EventTypes, len(p.seen), want)
		}
	}
}

func testPollConsumers(f *fixture) {
	app := f.app()
	ep := f.endpoint(app.ID)
	_, err := f.s.ConsumerPosition(f.ctx, ep.ID, "c1")
	f.wantErr("position of a new consumer", err, herald.ErrNotFound)

	f.noErr("set position", f.s.SetConsumerPosition(f.ctx, app.ID, ep.ID, "c1", 7, f.at(0)))
	f.noErr("set position", f.s.SetConsumerPosition(f.ctx, app.ID, ep.ID, "c2", 3, f.at(0)))
	f.noErr("move position", f.s.SetConsumerPosition(f.ctx, app.ID, ep.ID, "c1", 12, f.at(time.Second)))
	for _, tc := range []struct {
		consumer string
		want     int64
	}{{"c1", 12}, {"c2", 3}} {
		got, err := f.s.ConsumerPosition(f.ctx, ep.ID, tc.consumer)
		f.noErr("consumer position", err)
		if got != tc.want {
			f.Errorf("position of %s: got %d, want %d", tc.consumer, got, tc.want)
		}
	}

	// Consumers go with their endpoint.
	f.noErr("delete endpoint", f.s.DeleteEndpoint(f.ctx, app.ID, ep.ID))
	_, err = f.s.ConsumerPosition(f.ctx, ep.ID, "c1")
	f.wantErr("position after the endpoint was deleted", err, herald.ErrNotFound)
}

// testPollNumbersNotReused lets retention delete the newest message after a
// consumer read it: the next message must still be numbered above the
// consumer's position, or the consumer would never see it.
func testPollNumbersNotReused(f *fixture) {
	app := f.app()
	ep := f.endpoint(app.ID)
	short := func(m *herald.Message) { m.ExpiresAt = m.CreatedAt.Add(time.Minute) }
	m1 := f.message(app.ID, f.at(0), short)
	f.noErr("publish", f.s.Publish(f.ctx, m1, nil, "", time.Time{}))
	ids, pos := f.poll(app.ID, store.PollFilter{})
	if !slices.Equal(ids, []string{m1.ID}) {
		f.Fatalf("first poll: got %v, want %v", ids, []string{m1.ID})
	}
	f.noErr("set position", f.s.SetConsumerPosition(f.ctx, app.ID, ep.ID, "c1", pos, f.at(time.Second)))

	n, err := f.s.ExpireMessages(f.ctx, f.at(2*time.Minute), 10)
	f.noErr("expire messages", err)
	if n != 1 {
		f.Fatalf("expired: got %d, want 1", n)
	}
	m2 := f.publishMsg(app.ID, f.at(3*time.Minute), "a")
	pos, err = f.s.ConsumerPosition(f.ctx, ep.ID, "c1")
	f.noErr("consumer position", err)
	if ids, _ := f.poll(app.ID, store.PollFilter{After: pos}); !slices.Equal(ids, []string{m2.ID}) {
		f.Errorf("poll after %d once the newest message expired: got %v, want %v", pos, ids, []string{m2.ID})
	}
}
