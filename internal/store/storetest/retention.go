package storetest

import (
	"fmt"
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// retention is how long the fixture's messages live (see fixture.message).
const retention = 90 * 24 * time.Hour

var retentionTests = []test{
	// Expired messages whose deliveries are all final go with their
	// deliveries and attempts; fresh ones and those still being delivered
	// stay.
	{"ExpireMessagesDeletesExpiredFinishedMessages", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		done := f.publish(a.ID, f.t0, e.ID)
		f.record(result(f.claimOne("node-a", f.t0), f.at(time.Second), 200, herald.Outcome{Status: herald.StatusSuccess}))
		retrying := f.publish(a.ID, f.t0, e.ID)
		f.record(result(f.claimOne("node-a", f.t0), f.at(time.Second), 500,
			herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(retention + time.Hour)}))
		pending := f.publish(a.ID, f.at(2*time.Second), e.ID)
		undelivered := f.publish(a.ID, f.t0)
		fresh := f.publish(a.ID, f.at(time.Hour))

		n, err := f.s.ExpireMessages(f.ctx, f.at(retention+2*time.Second), 100)
		f.noErr("expire messages", err)
		if n != 4 {
			f.Errorf("rows deleted: got %d, want 4 (two messages, and one delivery and one attempt)", n)
		}
		for _, m := range []*herald.Message{done, undelivered} {
			_, err := f.s.GetMessage(f.ctx, a.ID, m.ID)
			f.wantErr("get expired message", err, herald.ErrNotFound)
		}
		wantMessages(f, a.ID, fresh.ID, pending.ID, retrying.ID)
		ems, err := f.s.ListEndpointMessages(f.ctx, a.ID, e.ID, store.MessageFilter{Page: page(250, "")})
		f.noErr("list endpoint messages", err)
		var got []string
		for _, em := range ems {
			got = append(got, em.Message.ID)
		}
		if want := []string{pending.ID, retrying.ID}; !sameIDs(got, want) {
			f.Errorf("endpoint messages: got %v, want %v", got, want)
		}
		ats, err := f.s.ListAttempts(f.ctx, a.ID, store.AttemptFilter{Page: page(250, ""), EndpointID: e.ID})
		f.noErr("list attempts", err)
		if len(ats) != 1 || ats[0].MsgID != retrying.ID {
			f.Errorf("attempts after expiry: got %d (%v), want only the one of %s", len(ats), ats, retrying.ID)
		}
	}},
	// A call deletes at most limit messages; callers loop.
	{"ExpireMessagesHonoursLimit", func(f *fixture) {
		a := f.app()
		for range 4 {
			f.publish(a.ID, f.t0)
		}
		now := f.at(retention)
		for i, want := range []int{2, 2, 0} {
			n, err := f.s.ExpireMessages(f.ctx, now, 2)
			f.noErr("expire messages", err)
			if n != want {
				f.Errorf("call %d: got %d expired, want %d", i+1, n, want)
			}
		}
		wantMessages(f, a.ID)
	}},
	{"ExpireMessagesKeepsUnexpired", func(f *fixture) {
		a := f.app()
		m := f.publish(a.ID, f.t0)
		n, err := f.s.ExpireMessages(f.ctx, f.at(retention-time.Millisecond), 10)
		f.noErr("expire messages", err)
		if n != 0 {
			f.Errorf("expired: got %d, want 0", n)
		}
		wantMessages(f, a.ID, m.ID)
	}},
	// A message with an event ID that expires inside the ID's window loses
	// its payload then, but its row stays until the window ends: deleted
	// at once, it would let the same event ID through again.
	{"ExpiredMessageKeepsItsEventIDForTheWindow", func(f *fixture) {
		a := f.app()
		m := f.message(a.ID, f.t0, func(m *herald.Message) { m.EventID, m.ExpiresAt = "evt-1", f.at(time.Hour) })
		f.noErr("publish", f.s.Publish(f.ctx, m, nil, "", time.Time{}))
		n, err := f.s.ExpireMessages(f.ctx, f.at(2*time.Hour), 100)
		f.noErr("expire within the window", err)
		if n != 1 {
			f.Errorf("expired within the event ID's window: got %d rows written, want 1 (the payload dropped)", n)
		}
		got, err := f.s.GetMessage(f.ctx, a.ID, m.ID)
		f.noErr("get the held message", err)
		if len(got.Payload) != 0 {
			f.Errorf("payload past its retention: got %s, want none", got.Payload)
		}
		again := f.message(a.ID, f.at(2*time.Hour), func(m *herald.Message) { m.EventID = "evt-1" })
		f.wantErr("the same event ID within the day", f.s.Publish(f.ctx, again, nil, "", time.Time{}), herald.ErrConflict)
		n, err = f.s.ExpireMessages(f.ctx, f.at(25*time.Hour), 100)
		f.noErr("expire after the window", err)
		if n != 1 {
			f.Errorf("expired after the event ID's window: got %d deleted, want 1", n)
		}
	}},
	// When more messages with event IDs expire in their window than one
	// call may write, those past the limit wait for the next call: none
	// is deleted, so none of the IDs is accepted again within its day.
	{"ExpireMessagesKeepsEventIDsBeyondTheLimit", func(f *fixture) {
		a := f.app()
		var msgs []*herald.Message
		for i := range 3 {
			m := f.message(a.ID, f.t0, func(m *herald.Message) { m.EventID, m.ExpiresAt = fmt.Sprintf("evt-%d", i), f.at(time.Hour) })
			f.noErr("publish", f.s.Publish(f.ctx, m, nil, "", time.Time{}))
			msgs = append(msgs, m)
		}
		republish := func(at time.Time) []error {
			var errs []error
			for i := range msgs {
				again := f.message(a.ID, at, func(m *herald.Message) { m.EventID = fmt.Sprintf("evt-%d", i) })
				errs = append(errs, f.s.Publish(f.ctx, again, nil, "", time.Time{}))
			}
			return errs
		}
		for i, want := range []int{2, 1} {
			n, err := f.s.ExpireMessages(f.ctx, f.at(2*time.Hour), 2)
			f.noErr("expire within the window", err)
			if n != want {
				f.Errorf("call %d within the window: got %d rows written, want %d", i+1, n, want)
			}
			for j, err := range republish(f.at(2 * time.Hour)) {
				f.wantErr(fmt.Sprintf("call %d: evt-%d again within its day", i+1, j), err, herald.ErrConflict)
			}
		}
		for _, m := range msgs {
			got, err := f.s.GetMessage(f.ctx, a.ID, m.ID)
			f.noErr("get a held message", err)
			if len(got.Payload) != 0 {
				f.Errorf("%s: payload past its retention: got %s, want none", m.EventID, got.Payload)
			}
		}
		n, err := f.s.ExpireMessages(f.ctx, f.at(25*time.Hour), 10)
		f.noErr("expire after the window", err)
		if n != 3 {
			f.Errorf("after the window: got %d rows deleted, want 3", n)
		}
		for j, err := range republish(f.at(25 * time.Hour)) {
			f.noErr(fmt.Sprintf("evt-%d again after its day", j), err)
		}
	}},
	// One call deletes at most limit rows, counting deliveries and
	// attempts, not limit messages with all of theirs: a message sent to
	// many endpoints must not make one transaction long. Those of a
	// message still being delivered stay.
	{"ExpireMessagesWritesAtMostLimitRows", func(f *fixture) {
		a := f.app()
		e1, e2 := f.endpoint(a.ID), f.endpoint(a.ID)
		retrying := f.publish(a.ID, f.t0, e1.ID)
		f.record(result(f.claimOne("node-a", f.t0), f.at(time.Second), 500,
			herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(2 * retention)}))
		for range 3 {
			f.publish(a.ID, f.at(time.Second), e1.ID, e2.ID)
		}
		jobs := f.claim("node-a", f.at(time.Second), 10)
		if len(jobs) != 6 {
			f.Fatalf("claim: got %d jobs, want 6", len(jobs))
		}
		for _, j := range jobs {
			f.record(result(j, f.at(2*time.Second), 200, herald.Outcome{Status: herald.StatusSuccess}))
		}
		endpoints := []string{e1.ID, e2.ID}
		// 3 messages, 6 deliveries and 6 attempts expire; the retrying
		// message keeps its 3 rows.
		before := countRows(f, a.ID, endpoints)
		if before != 18 {
			f.Fatalf("rows before expiry: got %d, want 18", before)
		}
		const limit = 4
		total, calls := 0, 0
		for {
			calls++
			n, err := f.s.ExpireMessages(f.ctx, f.at(retention+2*time.Second), limit)
			f.noErr("expire messages", err)
			after := countRows(f, a.ID, endpoints)
			if deleted := before - after; deleted != n || n > limit {
				f.Errorf("call %d: deleted %d rows and reported %d, want the same, at most %d", calls, deleted, n, limit)
			}
			total, before = total+n, after
			if n < limit || calls == 10 {
				break
			}
		}
		if total != 15 || calls != 4 {
			f.Errorf("deleted %d rows in %d calls, want 15 in 4", total, calls)
		}
		wantMessages(f, a.ID, retrying.ID)
		ats, err := f.s.ListAttempts(f.ctx, a.ID, store.AttemptFilter{Page: page(250, ""), EndpointID: e1.ID})
		f.noErr("list attempts", err)
		if len(ats) != 1 || ats[0].MsgID != retrying.ID {
			f.Errorf("attempts after expiry: got %d (%v), want only the one of %s", len(ats), ats, retrying.ID)
		}
	}},
	{"ExpireIdempotencyKeysDeletesExpiredRecords", func(f *fixture) {
		// The saved answer can hold a message's payload: it must not
		// outlive its key's window.
		for _, k := range []struct {
			key     string
			expires time.Duration
		}{{"k-old", time.Hour}, {"k-older", 30 * time.Minute}, {"k-live", 3 * time.Hour}} {
			saved, _, err := f.s.BeginIdempotent(f.ctx, k.key, f.t0, f.at(k.expires), "")
			f.noErr("begin "+k.key, err)
			if saved != nil {
				f.Fatalf("begin %s: got a saved answer for a new key", k.key)
			}
			f.noErr("finish "+k.key, f.s.FinishIdempotent(f.ctx, k.key, &store.IdempotentResponse{StatusCode: 202, Body: []byte(`{"payload":{}}`)}))
		}
		for i, want := range []int{1, 1, 0} {
			n, err := f.s.ExpireIdempotencyKeys(f.ctx, f.at(2*time.Hour), 1)
			f.noErr("expire idempotency keys", err)
			if n != want {
				f.Errorf("call %d: got %d expired, want %d", i+1, n, want)
			}
		}
		saved, _, err := f.s.BeginIdempotent(f.ctx, "k-live", f.at(2*time.Hour), f.at(5*time.Hour), "")
		f.noErr("begin k-live again", err)
		if saved == nil || saved.StatusCode != 202 {
			f.Errorf("the live key's answer after expiry: got %+v, want the saved 202", saved)
		}
	}},
	// Inbound events go once received at or before the cutoff, oldest
	// first and at most limit a call; the messages they became stay.
	{"ExpireInboundEventsDeletesOldEvents", func(f *fixture) {
		a := f.app()
		src := f.source(a.ID)
		var evs []*store.InboundEvent
		var msgs []*herald.Message
		for i, key := range []string{"d-1", "d-2", "d-3"} {
			at := f.at(time.Duration(i) * time.Hour)
			ev, msg := f.inbound(src, at, key), f.message(a.ID, at)
			f.ingest(ev, msg)
			evs, msgs = append(evs, ev), append(msgs, msg)
		}
		dup := f.inbound(src, f.at(time.Hour), "d-1")
		f.ingest(dup, f.message(a.ID, f.at(time.Hour)))

		cutoff := f.at(time.Hour)
		for i, want := range []int{2, 1, 0} {
			n, err := f.s.ExpireInboundEvents(f.ctx, cutoff, 2)
			f.noErr("expire inbound events", err)
			if n != want {
				f.Errorf("call %d: got %d expired, want %d", i+1, n, want)
			}
		}
		list, err := f.s.ListInboundEvents(f.ctx, src.ID, page(250, ""))
		f.noErr("list inbound events", err)
		if len(list) != 1 || list[0].ID != evs[2].ID {
			f.Errorf("inbound events after expiry: got %d (%v), want only %s", len(list), list, evs[2].ID)
		}
		_, err = f.s.GetInboundEvent(f.ctx, src.ID, evs[0].ID)
		f.wantErr("get expired inbound event", err, herald.ErrNotFound)
		for _, m := range msgs {
			_, err := f.s.GetMessage(f.ctx, a.ID, m.ID)
			f.noErr("get the message of an expired event", err)
		}
		// A kept event still deduplicates.
		if !f.ingest(f.inbound(src, f.at(2*time.Hour), "d-3"), f.message(a.ID, f.at(2*time.Hour))) {
			f.Errorf("ingest the key of a kept event: got accepted, want duplicate")
		}
	}},
}

// countRows counts the application's messages, the deliveries to
// endpoints and the attempts to them.
func countRows(f *fixture, appID string, endpoints []string) int {
	f.Helper()
	msgs, err := f.s.ListMessages(f.ctx, appID, store.MessageFilter{Page: page(250, "")})
	f.noErr("list messages", err)
	n := len(msgs)
	for _, e := range endpoints {
		ems, err := f.s.ListEndpointMessages(f.ctx, appID, e, store.MessageFilter{Page: page(250, "")})
		f.noErr("list endpoint messages", err)
		ats, err := f.s.ListAttempts(f.ctx, appID, store.AttemptFilter{Page: page(250, ""), EndpointID: e})
		f.noErr("list attempts", err)
		n += len(ems) + len(ats)
	}
	return n
}

// wantMessages fails unless the application's messages are exactly ids.
func wantMessages(f *fixture, appID string, ids ...string) {
	f.Helper()
	msgs, err := f.s.ListMessages(f.ctx, appID, store.MessageFilter{Page: page(250, "")})
	f.noErr("list messages", err)
	got := make([]string, len(msgs))
	for i, m := range msgs {
		got[i] = m.ID
	}
	if !sameIDs(got, ids) {
		f.Errorf("messages: got %v, want %v", got, ids)
	}
}

// sameIDs reports whether a and b hold the same IDs in any order.
func sameIDs(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
