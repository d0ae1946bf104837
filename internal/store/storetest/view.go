package storetest

import (
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

var viewTests = []test{
	{"ResendSchedulesAManualAttempt", func(f *fixture) {
		a := f.app()
		e, late := f.endpoint(a.ID), f.endpoint(a.ID)
		m := f.publish(a.ID, f.t0, e.ID)
		j := f.claimOne("node", f.t0)
		f.record(result(j, f.at(time.Second), 500, herald.Outcome{Status: herald.StatusFail}))

		f.noErr("resend", f.s.Resend(f.ctx, a.ID, m.ID, e.ID, f.at(time.Hour)))
		f.noErr("resend to an endpoint the message never went to", f.s.Resend(f.ctx, a.ID, m.ID, late.ID, f.at(time.Hour)))
		f.claimNone("node", f.at(time.Hour-time.Millisecond))
		jobs := f.claim("node", f.at(time.Hour), 10)
		if len(jobs) != 2 {
			f.Fatalf("claim after resend: got %d jobs, want 2", len(jobs))
		}
		for _, j := range jobs {
			if j.Delivery.Trigger != herald.TriggerManual || j.Delivery.MsgID != m.ID || j.Delivery.Status.Final() {
				f.Errorf("resent delivery: got %+v, want a pending manual delivery of %s", j.Delivery, m.ID)
			}
		}
		f.wantErr("resend missing message", f.s.Resend(f.ctx, a.ID, "msg_missing", e.ID, f.t0), herald.ErrNotFound)
		f.wantErr("resend to missing endpoint", f.s.Resend(f.ctx, a.ID, m.ID, "ep_missing", f.t0), herald.ErrNotFound)
		f.wantErr("resend through another application", f.s.Resend(f.ctx, f.app().ID, m.ID, e.ID, f.t0), herald.ErrNotFound)
	}},
	{"ResendLeavesADeliveryInHandToItsHolder", func(f *fixture) {
		// A leased delivery is in a node's memory or on the wire: a
		// resend that made it due would have another claim send it
		// again beside the first, and the older result could then
		// overwrite the newer.
		a := f.app()
		e := f.endpoint(a.ID)
		m := f.publishLeased(a.ID, f.t0, "node_a", f.at(time.Minute), e.ID)
		f.noErr("resend", f.s.Resend(f.ctx, a.ID, m.ID, e.ID, f.at(time.Second)))
		f.claimNone("node_b", f.at(2*time.Second))
		// Once the holder has recorded its attempt, a resend goes ahead.
		f.record(result(store.Job{Delivery: herald.Delivery{MsgID: m.ID, EndpointID: e.ID, AppID: a.ID, LeaseOwner: "node_a"}, Message: m, Endpoint: e},
			f.at(3*time.Second), 200, herald.Outcome{Status: herald.StatusSuccess}))
		f.noErr("resend after the attempt", f.s.Resend(f.ctx, a.ID, m.ID, e.ID, f.at(4*time.Second)))
		if jobs := f.claim("node_b", f.at(4*time.Second), 10); len(jobs) != 1 || jobs[0].Delivery.Trigger != herald.TriggerManual {
			f.Fatalf("claim after the attempt and a resend: %+v, want the manual resend", jobs)
		}
	}},
	{"RecoverRetriesFailuresInRange", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		var ids []string
		for i := range 4 {
			ids = append(ids, f.publish(a.ID, f.at(time.Duration(i)*time.Hour), e.ID).ID)
		}
		for _, j := range f.claim("node", f.at(4*time.Hour), 10) {
			out := herald.Outcome{Status: herald.StatusFail}
			if j.Delivery.MsgID == ids[1] {
				out = herald.Outcome{Status: herald.StatusSuccess}
			}
			f.record(result(j, f.at(4*time.Hour), 500, out))
		}
		// Created in [0h, 3h): ids[0] and ids[2] failed, ids[1] succeeded;
		// ids[3] failed but is out of range.
		n, err := f.s.Recover(f.ctx, a.ID, e.ID, f.t0, f.at(3*time.Hour), f.at(5*time.Hour))
		f.noErr("recover", err)
		if n != 2 {
			f.Errorf("recover: got %d, want 2", n)
		}
		st, err := f.s.EndpointStats(f.ctx, a.ID, e.ID, time.Time{}, time.Time{})
		f.noErr("stats", err)
		if want := (store.Stats{Success: 1, Pending: 2, Fail: 1}); st != want {
			f.Errorf("stats after recover: got %+v, want %+v", st, want)
		}
		f.claimNone("node", f.at(5*time.Hour-time.Millisecond))
		jobs := f.claim("node", f.at(5*time.Hour), 10)
		if len(jobs) != n {
			f.Errorf("claim after recover: got %d jobs, want %d", len(jobs), n)
		}
		for _, j := range jobs {
			if j.Delivery.Trigger != herald.TriggerRecovery || j.Delivery.Attempts != 0 {
				f.Errorf("recovered delivery: got trigger %d attempts %d, want recovery with a fresh count", j.Delivery.Trigger, j.Delivery.Attempts)
			}
		}
		_, err = f.s.Recover(f.ctx, a.ID, "ep_missing", f.t0, f.at(time.Hour), f.at(time.Hour))
		f.wantErr("recover missing endpoint", err, herald.ErrNotFound)
	}},
	{"RecoverLeavesExpungedMessages", func(f *fixture) {
		// An expunged message has nothing to send: recover leaves its
		// failed delivery alone.
		a := f.app()
		e := f.endpoint(a.ID)
		gone, kept := f.publish(a.ID, f.t0, e.ID), f.publish(a.ID, f.t0, e.ID)
		for _, j := range f.claim("node", f.at(time.Minute), 10) {
			f.record(result(j, f.at(time.Minute), 500, herald.Outcome{Status: herald.StatusFail}))
		}
		f.noErr("expunge", f.s.ExpungeMessageContent(f.ctx, a.ID, gone.ID))
		n, err := f.s.Recover(f.ctx, a.ID, e.ID, f.t0, f.at(time.Hour), f.at(time.Hour))
		f.noErr("recover", err)
		if n != 1 {
			f.Errorf("recover: got %d, want 1", n)
		}
		if jobs := f.claim("node", f.at(time.Hour), 10); len(jobs) != 1 || jobs[0].Delivery.MsgID != kept.ID {
			f.Errorf("claim after recover: got %+v, want only %s", jobs, kept.ID)
		}
	}},
	{"NewestFirstListsPageBack", func(f *fixture) {
		// Desc reverses a newest-first list: the API pages back from a
		// prevIterator so.
		a := f.app()
		e := f.endpoint(a.ID)
		var ids []string
		for i := range 3 {
			ids = append(ids, f.publish(a.ID, f.at(time.Duration(i)*time.Second), e.ID).ID)
		}
		back := store.Page{Limit: 10, Iterator: ids[0], Desc: true}
		msgs, err := f.s.ListMessages(f.ctx, a.ID, store.MessageFilter{Page: back})
		f.noErr("list messages", err)
		var got []string
		for _, m := range msgs {
			got = append(got, m.ID)
		}
		if !slices.Equal(got, ids[1:]) {
			f.Errorf("messages back from the oldest: got %v, want %v", got, ids[1:])
		}
		ems, err := f.s.ListEndpointMessages(f.ctx, a.ID, e.ID, store.MessageFilter{Page: back})
		f.noErr("list endpoint messages", err)
		got = got[:0]
		for _, m := range ems {
			got = append(got, m.Message.ID)
		}
		if !slices.Equal(got, ids[1:]) {
			f.Errorf("endpoint messages back from the oldest: got %v, want %v", got, ids[1:])
		}
	}},
	{"EndpointStatsCountByStatusInRange", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		var ids []string
		for i := range 5 {
			ids = append(ids, f.publish(a.ID, f.at(time.Duration(i)*time.Minute), e.ID).ID)
		}
		outcomes := map[string]herald.Outcome{
			ids[0]: {Status: herald.StatusSuccess},
			ids[1]: {Status: herald.StatusSuccess},
			ids[2]: {Status: herald.StatusFail},
			ids[3]: {Status: herald.StatusSending, NextAttemptAt: f.at(time.Hour)},
		}
		for _, j := range f.claim("node", f.at(10*time.Minute), 10) {
			if out, ok := outcomes[j.Delivery.MsgID]; ok {
				f.record(result(j, f.at(10*time.Minute), 200, out))
			}
		}
		st, err := f.s.EndpointStats(f.ctx, a.ID, e.ID, f.t0, f.at(5*time.Minute))
		f.noErr("stats", err)
		if want := (store.Stats{Success: 2, Fail: 1, Sending: 1, Pending: 1}); st != want {
			f.Errorf("stats: got %+v, want %+v", st, want)
		}
		st, err = f.s.EndpointStats(f.ctx, a.ID, e.ID, f.at(time.Minute), f.at(3*time.Minute))
		f.noErr("stats in range", err)
		if want := (store.Stats{Success: 1, Fail: 1}); st != want {
			f.Errorf("stats in [1m, 3m): got %+v, want %+v", st, want)
		}
		_, err = f.s.EndpointStats(f.ctx, a.ID, "ep_missing", f.t0, f.at(time.Hour))
		f.wantErr("stats of missing endpoint", err, herald.ErrNotFound)
	}},
	{"EndpointMessagesAndDestinations", func(f *fixture) {
		a := f.app()
		e1, e2 := f.endpoint(a.ID), f.endpoint(a.ID)
		m1 := f.publish(a.ID, f.t0, e1.ID, e2.ID)
		m2 := f.publish(a.ID, f.at(time.Second), e1.ID)
		for _, j := range f.claim("node", f.at(time.Minute), 10) {
			out := herald.Outcome{Status: herald.StatusSuccess}
			if j.Delivery.EndpointID == e2.ID {
				out = herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(time.Hour)}
			}
			f.record(result(j, f.at(time.Minute), 200, out))
		}
		ems, err := f.s.ListEndpointMessages(f.ctx, a.ID, e1.ID, store.MessageFilter{Page: page(10, "")})
		f.noErr("endpoint messages", err)
		if len(ems) != 2 || ems[0].Message.ID != m2.ID || ems[1].Message.ID != m1.ID || ems[0].Status != herald.StatusSuccess {
			f.Errorf("endpoint messages: got %d, want [%s %s] succeeded, newest first", len(ems), m2.ID, m1.ID)
		}
		if len(ems) > 0 && string(ems[0].Message.Payload) != string(m2.Payload) {
			f.Errorf("endpoint message payload: got %q, want %q", ems[0].Message.Payload, m2.Payload)
		}
		second, err := f.s.ListEndpointMessages(f.ctx, a.ID, e1.ID, store.MessageFilter{Page: page(1, m2.ID)})
		f.noErr("endpoint messages page 2", err)
		if len(second) != 1 || second[0].Message.ID != m1.ID {
			f.Errorf("endpoint messages after %s: got %d, want [%s]", m2.ID, len(second), m1.ID)
		}
		sending := herald.StatusSending
		ems, err = f.s.ListEndpointMessages(f.ctx, a.ID, e2.ID, store.MessageFilter{Page: page(10, ""), Status: &sending})
		f.noErr("endpoint messages by status", err)
		if len(ems) != 1 || !ems[0].NextAttemptAt.Equal(f.at(time.Hour)) {
			f.Errorf("sending messages of e2: got %+v, want m1 due at +1h", ems)
		}
		_, err = f.s.ListEndpointMessages(f.ctx, a.ID, "ep_missing", store.MessageFilter{Page: page(10, "")})
		f.wantErr("messages of missing endpoint", err, herald.ErrNotFound)

		dests, err := f.s.ListMessageDestinations(f.ctx, a.ID, m1.ID, page(10, ""))
		f.noErr("destinations", err)
		want := []string{e1.ID, e2.ID}
		var got []string
		for _, d := range dests {
			got = append(got, d.Endpoint.ID)
			wantStatus := herald.StatusSuccess
			if d.Endpoint.ID == e2.ID {
				wantStatus = herald.StatusSending
			}
			if d.Status != wantStatus || d.Endpoint.URL == "" {
				f.Errorf("destination %s: got status %d url %q, want %d", d.Endpoint.ID, d.Status, d.Endpoint.URL, wantStatus)
			}
		}
		if !slices.Equal(got, want) {
			f.Errorf("destinations: got %v, want %v", got, want)
		}
		dests, err = f.s.ListMessageDestinations(f.ctx, a.ID, m1.ID, page(10, e1.ID))
		f.noErr("destinations page 2", err)
		if len(dests) != 1 || dests[0].Endpoint.ID != e2.ID {
			f.Errorf("destinations after %s: got %d, want [%s]", e1.ID, len(dests), e2.ID)
		}
		_, err = f.s.ListMessageDestinations(f.ctx, a.ID, "msg_missing", page(10, ""))
		f.wantErr("destinations of missing message", err, herald.ErrNotFound)
	}},
	{"AttemptFiltersAndExpunge", func(f *fixture) {
		a := f.app()
		e1, e2 := f.endpoint(a.ID), f.endpoint(a.ID)
		m := f.message(a.ID, f.t0, func(m *herald.Message) { m.Channels = []string{"eu"}; m.EventType = "order.shipped" })
		f.noErr("publish", f.s.Publish(f.ctx, m, deliveries(m, e1.ID, e2.ID), "", time.Time{}))
		other := f.publish(a.ID, f.t0, e1.ID)
		retry := herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(time.Minute)}
		var ids []string // attempt IDs in creation order
		codes := []int{500, 0, 204}
		for i, code := range codes {
			now := f.at(time.Duration(i+1) * time.Minute)
			for _, j := range f.claim("node", now, 10) {
				if j.Delivery.EndpointID != e1.ID || j.Delivery.MsgID != m.ID {
					f.record(result(j, now, 200, herald.Outcome{Status: herald.StatusSuccess}))
					continue
				}
				out := retry
				out.NextAttemptAt = now.Add(time.Minute)
				if code == 204 {
					out = herald.Outcome{Status: herald.StatusSuccess}
				}
				r := result(j, now, code, out)
				f.record(r)
				ids = append(ids, r.Attempt.ID)
			}
		}
		if len(ids) != 3 {
			f.Fatalf("attempts to e1: got %d, want 3", len(ids))
		}
		list := func(flt store.AttemptFilter) []string {
			f.Helper()
			if flt.Limit == 0 {
				flt.Page = page(10, flt.Iterator)
			}
			atts, err := f.s.ListAttempts(f.ctx, a.ID, flt)
			f.noErr("list attempts", err)
			var out []string
			for _, at := range atts {
				out = append(out, at.ID)
			}
			return out
		}
		failed, succeeded := herald.StatusFail, herald.StatusSuccess
		cases := []struct {
			name string
			flt  store.AttemptFilter
			want []string
		}{
			{"message and endpoint, newest first", store.AttemptFilter{MsgID: m.ID, EndpointID: e1.ID}, []string{ids[2], ids[1], ids[0]}},
			{"page", store.AttemptFilter{Page: page(1, ids[2]), MsgID: m.ID, EndpointID: e1.ID}, []string{ids[1]}},
			{"failed", store.AttemptFilter{MsgID: m.ID, EndpointID: e1.ID, Status: &failed}, []string{ids[1], ids[0]}},
			{"succeeded", store.AttemptFilter{MsgID: m.ID, EndpointID: e1.ID, Status: &succeeded}, []string{ids[2]}},
			{"5xx", store.AttemptFilter{EndpointID: e1.ID, StatusCodeClass: 500}, []string{ids[0]}},
			{"no response", store.AttemptFilter{EndpointID: e1.ID, StatusCodeClass: -1}, []string{ids[1]}},
			{"2xx of the message", store.AttemptFilter{MsgID: m.ID, EndpointID: e1.ID, StatusCodeClass: 200}, []string{ids[2]}},
			{"channel", store.AttemptFilter{EndpointID: e1.ID, Channel: "eu"}, []string{ids[2], ids[1], ids[0]}},
			{"event type", store.AttemptFilter{EndpointID: e1.ID, EventTypes: []string{"order.shipped"}, StatusCodeClass: 500}, []string{ids[0]}},
			{"before", store.AttemptFilter{MsgID: m.ID, EndpointID: e1.ID, Before: f.at(2 * time.Minute)}, []string{ids[0]}},
			{"after", store.AttemptFilter{MsgID: m.ID, EndpointID: e1.ID, After: f.at(2 * time.Minute)}, []string{ids[2]}},
			{"back from the oldest (Desc reverses)", store.AttemptFilter{Page: store.Page{Limit: 10, Iterator: ids[0], Desc: true}, MsgID: m.ID, EndpointID: e1.ID}, []string{ids[1], ids[2]}},
		}
		for _, c := range cases {
			if got := list(c.flt); !slices.Equal(got, c.want) {
				f.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
		}
		if got := list(store.AttemptFilter{MsgID: other.ID}); len(got) != 1 {
			f.Errorf("attempts of the other message: got %d, want 1", len(got))
		}

		f.noErr("expunge attempt", f.s.ExpungeAttemptContent(f.ctx, a.ID, m.ID, ids[0]))
		at, err := f.s.GetAttempt(f.ctx, a.ID, m.ID, ids[0])
		f.noErr("get attempt", err)
		if at.ResponseBody != "" || at.StatusCode != 500 {
			f.Errorf("expunged attempt: got body %q code %d, want empty body, code 500", at.ResponseBody, at.StatusCode)
		}
		f.wantErr("expunge missing attempt", f.s.ExpungeAttemptContent(f.ctx, a.ID, m.ID, "atmpt_missing"), herald.ErrNotFound)
		_, err = f.s.GetAttempt(f.ctx, a.ID, other.ID, ids[0])
		f.wantErr("get attempt through another message", err, herald.ErrNotFound)
	}},
}
