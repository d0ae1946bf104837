package storetest

import (
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

var messageTests = []test{
	{"PublishAndGet", func(f *fixture) {
		a := f.app()
		m := f.message(a.ID, f.t0, func(m *herald.Message) {
			m.EventID, m.Channels = "evt-1", []string{"eu", "vip"}
			m.Payload = []byte("{\"b\":1,  \"a\":\"\\u00e9\"}\n") // stored byte for byte, never re-encoded
		})
		f.noErr("publish", f.s.Publish(f.ctx, m, nil, "", time.Time{}))
		for _, key := range []string{m.ID, "evt-1"} {
			got, err := f.s.GetMessage(f.ctx, a.ID, key)
			f.noErr("get message "+key, err)
			if got.ID != m.ID || got.AppID != a.ID || got.EventID != "evt-1" || got.EventType != m.EventType {
				f.Errorf("get %s: got %+v, want %+v", key, got, m)
			}
			if string(got.Payload) != string(m.Payload) {
				f.Errorf("get %s: got payload %q, want %q", key, got.Payload, m.Payload)
			}
			if !slices.Equal(got.Channels, m.Channels) || !got.CreatedAt.Equal(m.CreatedAt) || !got.ExpiresAt.Equal(m.ExpiresAt) {
				f.Errorf("get %s: got channels %v times %v %v, want %v %v %v", key, got.Channels, got.CreatedAt, got.ExpiresAt,
					m.Channels, m.CreatedAt, m.ExpiresAt)
			}
		}
		_, err := f.s.GetMessage(f.ctx, f.app().ID, m.ID)
		f.wantErr("get through another application", err, herald.ErrNotFound)
		_, err = f.s.GetMessage(f.ctx, a.ID, "msg_missing")
		f.wantErr("get missing", err, herald.ErrNotFound)
	}},
	{"EventIDUniquePerApplicationForADay", func(f *fixture) {
		a, b := f.app(), f.app()
		e := f.endpoint(a.ID)
		withEvent := func(m *herald.Message) { m.EventID = "order-7" }
		first := f.message(a.ID, f.t0, withEvent)
		f.noErr("first publish", f.s.Publish(f.ctx, first, deliveries(first, e.ID), "", time.Time{}))
		dup := f.message(a.ID, f.at(23*time.Hour), withEvent)
		f.wantErr("same event id within a day", f.s.Publish(f.ctx, dup, deliveries(dup, e.ID), "", time.Time{}), herald.ErrConflict)
		if _, err := f.s.GetMessage(f.ctx, a.ID, dup.ID); err == nil {
			f.Errorf("the refused message was stored")
		}
		other := f.message(b.ID, f.at(time.Hour), withEvent)
		f.noErr("same event id in another application", f.s.Publish(f.ctx, other, nil, "", time.Time{}))
		later := f.message(a.ID, f.at(25*time.Hour), withEvent)
		f.noErr("same event id a day later", f.s.Publish(f.ctx, later, nil, "", time.Time{}))
		got, err := f.s.GetMessage(f.ctx, a.ID, "order-7")
		f.noErr("get by event id", err)
		if got.ID != later.ID {
			f.Errorf("get by reused event id: got %s, want the newest %s", got.ID, later.ID)
		}
		if jobs := f.claim("node", f.at(30*time.Hour), 10); len(jobs) != 1 || jobs[0].Delivery.MsgID != first.ID {
			f.Errorf("claim: got %d jobs, want only the first message's delivery", len(jobs))
		}
	}},
	{"ListNewestFirstWithFilters", func(f *fixture) {
		a := f.app()
		var all []*herald.Message
		for i := range 6 {
			m := f.message(a.ID, f.at(time.Duration(i)*time.Minute), func(m *herald.Message) {
				if i%2 == 1 {
					m.EventType = "invoice.failed"
				}
				if i >= 3 {
					m.Channels = []string{"eu"}
				}
			})
			f.noErr("publish", f.s.Publish(f.ctx, m, nil, "", time.Time{}))
			all = append(all, m)
		}
		f.publish(f.app().ID, f.t0)
		ids := func(f *fixture, flt store.MessageFilter) []string {
			f.Helper()
			ms, err := f.s.ListMessages(f.ctx, a.ID, flt)
			f.noErr("list messages", err)
			var out []string
			for _, m := range ms {
				out = append(out, m.ID)
			}
			return out
		}
		want := func(idx ...int) []string {
			var out []string
			for _, i := range idx {
				out = append(out, all[i].ID)
			}
			return out
		}
		cases := []struct {
			name string
			flt  store.MessageFilter
			want []string
		}{
			{"first page", store.MessageFilter{Page: page(4, "")}, want(5, 4, 3, 2)},
			{"second page", store.MessageFilter{Page: page(4, all[2].ID)}, want(1, 0)},
			{"event type", store.MessageFilter{Page: page(10, ""), EventTypes: []string{"invoice.failed"}}, want(5, 3, 1)},
			{"channel", store.MessageFilter{Page: page(10, ""), Channel: "eu"}, want(5, 4, 3)},
			{"before", store.MessageFilter{Page: page(10, ""), Before: f.at(2 * time.Minute)}, want(1, 0)},
			{"after", store.MessageFilter{Page: page(10, ""), After: f.at(3 * time.Minute)}, want(5, 4)},
			{"combined", store.MessageFilter{Page: page(10, ""), Channel: "eu", EventTypes: []string{"invoice.paid"}}, want(4)},
		}
		for _, c := range cases {
			if got := ids(f, c.flt); !slices.Equal(got, c.want) {
				f.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
		}
	}},
	{"ExpungeContentKeepsMessage", func(f *fixture) {
		a := f.app()
		m := f.publish(a.ID, f.t0)
		f.noErr("expunge", f.s.ExpungeMessageContent(f.ctx, a.ID, m.ID))
		got, err := f.s.GetMessage(f.ctx, a.ID, m.ID)
		f.noErr("get", err)
		if got.Payload != nil {
			f.Errorf("payload after expunge: got %q, want nil", got.Payload)
		}
		f.wantErr("expunge missing", f.s.ExpungeMessageContent(f.ctx, a.ID, "msg_missing"), herald.ErrNotFound)
	}},
}
