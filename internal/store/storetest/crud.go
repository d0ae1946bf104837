package storetest

import (
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

var applicationTests = []test{
	{"PingAnswers", func(f *fixture) {
		f.noErr("ping", f.s.Ping(f.ctx))
	}},
	{"CreateAndGetByIDOrUID", func(f *fixture) {
		a := f.app(func(a *herald.Application) { a.UID = "customer-42"; a.ThrottleRate = 7 })
		for _, key := range []string{a.ID, "customer-42"} {
			got, err := f.s.GetApplication(f.ctx, key)
			f.noErr("get application "+key, err)
			if got.ID != a.ID || got.UID != a.UID || got.Name != a.Name || got.ThrottleRate != 7 {
				f.Errorf("get %s: got %+v, want %+v", key, got, a)
			}
			if !maps.Equal(got.Metadata, a.Metadata) {
				f.Errorf("get %s: got metadata %v, want %v", key, got.Metadata, a.Metadata)
			}
			if !got.CreatedAt.Equal(a.CreatedAt) || !got.UpdatedAt.Equal(a.UpdatedAt) {
				f.Errorf("get %s: got times %v/%v, want %v", key, got.CreatedAt, got.UpdatedAt, a.CreatedAt)
			}
		}
	}},
	{"MissingIsNotFound", func(f *fixture) {
		_, err := f.s.GetApplication(f.ctx, "app_missing")
		f.wantErr("get missing application", err, herald.ErrNotFound)
		f.wantErr("update missing application", f.s.UpdateApplication(f.ctx, &herald.Application{ID: "app_missing", Name: "x"}), herald.ErrNotFound)
		f.wantErr("delete missing application", f.s.DeleteApplication(f.ctx, "app_missing"), herald.ErrNotFound)
	}},
	{"UIDAndIDConflict", func(f *fixture) {
		a := f.app(func(a *herald.Application) { a.UID = "taken" })
		f.app() // two applications without UID do not conflict
		f.app()
		dup := &herald.Application{ID: herald.NewID(herald.PrefixApp, f.t0), UID: "taken", Name: "b", CreatedAt: f.t0, UpdatedAt: f.t0}
		f.wantErr("create with taken uid", f.s.CreateApplication(f.ctx, dup), herald.ErrConflict)
		again := *a
		again.UID = "other"
		f.wantErr("create with taken id", f.s.CreateApplication(f.ctx, &again), herald.ErrConflict)
		b := f.app(func(a *herald.Application) { a.UID = "free" })
		b.UID = "taken"
		f.wantErr("update to taken uid", f.s.UpdateApplication(f.ctx, b), herald.ErrConflict)
	}},
	{"UpdateReplacesFields", func(f *fixture) {
		a := f.app(func(a *herald.Application) { a.UID = "u1" })
		a.UID, a.Name, a.ThrottleRate = "", "renamed", 3
		a.Metadata = map[string]string{"tier": "gold"}
		a.UpdatedAt = f.at(time.Minute)
		f.noErr("update", f.s.UpdateApplication(f.ctx, a))
		got, err := f.s.GetApplication(f.ctx, a.ID)
		f.noErr("get", err)
		if got.Name != "renamed" || got.UID != "" || got.ThrottleRate != 3 || got.Metadata["tier"] != "gold" || len(got.Metadata) != 1 {
			f.Errorf("got %+v, want name renamed, no uid, rate 3, metadata tier=gold", got)
		}
		if !got.UpdatedAt.Equal(f.at(time.Minute)) || !got.CreatedAt.Equal(f.t0) {
			f.Errorf("got created %v updated %v, want %v and %v", got.CreatedAt, got.UpdatedAt, f.t0, f.at(time.Minute))
		}
		if _, err := f.s.GetApplication(f.ctx, "u1"); err == nil {
			f.Errorf("old uid still resolves after update")
		}
	}},
	{"DeleteCascades", func(f *fixture) {
		a := f.app()
		keep := f.app()
		e := f.endpoint(a.ID)
		ke := f.endpoint(keep.ID)
		m := f.publish(a.ID, f.t0, e.ID)
		km := f.publish(keep.ID, f.t0, ke.ID)
		j := f.claim("node-a", f.t0, 10)
		if len(j) != 2 {
			f.Fatalf("claim: got %d jobs, want 2", len(j))
		}
		retry := herald.Outcome{Status: herald.StatusSending, NextAttemptAt: f.at(time.Minute)}
		f.record(result(j[0], f.at(time.Second), 500, retry), result(j[1], f.at(time.Second), 500, retry))
		f.noErr("create token", f.s.CreateToken(f.ctx, &store.Token{Hash: []byte("hash-of-app-token"), AppID: a.ID, Kind: "app", CreatedAt: f.t0}))

		f.noErr("delete application", f.s.DeleteApplication(f.ctx, a.ID))
		_, err := f.s.GetApplication(f.ctx, a.ID)
		f.wantErr("get deleted application", err, herald.ErrNotFound)
		_, err = f.s.GetEndpoint(f.ctx, a.ID, e.ID)
		f.wantErr("get endpoint of deleted application", err, herald.ErrNotFound)
		_, err = f.s.GetMessage(f.ctx, a.ID, m.ID)
		f.wantErr("get message of deleted application", err, herald.ErrNotFound)
		atts, err := f.s.ListAttempts(f.ctx, a.ID, store.AttemptFilter{Page: page(10, ""), MsgID: m.ID})
		f.noErr("list attempts", err)
		if len(atts) != 0 {
			f.Errorf("attempts of deleted application: got %d, want 0", len(atts))
		}
		_, err = f.s.GetToken(f.ctx, []byte("hash-of-app-token"))
		f.wantErr("get token of deleted application", err, herald.ErrNotFound)
		if _, err := f.s.GetMessage(f.ctx, keep.ID, km.ID); err != nil {
			f.Errorf("other application's message: got %v, want it kept", err)
		}
		n, err := f.s.Backlog(f.ctx)
		f.noErr("backlog", err)
		if n != 1 {
			f.Errorf("backlog: got %d, want 1 (only the other application's retry)", n)
		}
	}},
	{"ListPagesByID", func(f *fixture) {
		var ids []string
		for range 5 {
			ids = append(ids, f.app().ID)
		}
		var got []string
		it := ""
		for {
			apps, err := f.s.ListApplications(f.ctx, page(2, it))
			f.noErr("list applications", err)
			for _, a := range apps {
				got = append(got, a.ID)
			}
			if len(apps) < 2 {
				break
			}
			it = apps[len(apps)-1].ID
		}
		if !slices.Equal(got, ids) {
			f.Errorf("ascending pages: got %v, want %v", got, ids)
		}
		desc, err := f.s.ListApplications(f.ctx, store.Page{Limit: 3, Desc: true})
		f.noErr("list desc", err)
		rev := slices.Clone(ids)
		slices.Reverse(rev)
		if gotIDs := appIDs(desc); !slices.Equal(gotIDs, rev[:3]) {
			f.Errorf("descending first page: got %v, want %v", gotIDs, rev[:3])
		}
		desc, err = f.s.ListApplications(f.ctx, store.Page{Limit: 3, Desc: true, Iterator: rev[2]})
		f.noErr("list desc page 2", err)
		if gotIDs := appIDs(desc); !slices.Equal(gotIDs, rev[3:]) {
			f.Errorf("descending second page: got %v, want %v", gotIDs, rev[3:])
		}
	}},
}

func appIDs(apps []herald.Application) []string {
	out := make([]string, len(apps))
	for i, a := range apps {
		out[i] = a.ID
	}
	return out
}

var eventTypeTests = []test{
	{"CreateGetUpdateDelete", func(f *fixture) {
		et := &herald.EventType{
			Name: "invoice.paid", Description: "An invoice was paid", FeatureFlag: "beta",
			Schemas:   json.RawMessage(`{"1":{"type":"object"}}`),
			CreatedAt: f.t0, UpdatedAt: f.t0,
		}
		f.noErr("create", f.s.CreateEventType(f.ctx, et))
		f.wantErr("create again", f.s.CreateEventType(f.ctx, et), herald.ErrConflict)
		got, err := f.s.GetEventType(f.ctx, "invoice.paid")
		f.noErr("get", err)
		if got.Description != et.Description || got.FeatureFlag != "beta" || string(got.Schemas) != string(et.Schemas) || got.Archived {
			f.Errorf("get: got %+v, want %+v", got, et)
		}
		et.Archived, et.Deprecated, et.Schemas, et.UpdatedAt = true, true, nil, f.at(time.Hour)
		f.noErr("update", f.s.UpdateEventType(f.ctx, et))
		got, err = f.s.GetEventType(f.ctx, "invoice.paid")
		f.noErr("get updated", err)
		if !got.Archived || !got.Deprecated || got.Schemas != nil || !got.UpdatedAt.Equal(f.at(time.Hour)) {
			f.Errorf("after update: got %+v, want archived, deprecated, no schemas", got)
		}
		f.noErr("delete", f.s.DeleteEventType(f.ctx, "invoice.paid"))
		_, err = f.s.GetEventType(f.ctx, "invoice.paid")
		f.wantErr("get deleted", err, herald.ErrNotFound)
		f.wantErr("delete missing", f.s.DeleteEventType(f.ctx, "invoice.paid"), herald.ErrNotFound)
		f.wantErr("update missing", f.s.UpdateEventType(f.ctx, et), herald.ErrNotFound)
	}},
	{"ListPagesByNameAndHidesArchived", func(f *fixture) {
		for _, n := range []string{"c.one", "a.one", "b.one", "d.archived"} {
			et := &herald.EventType{Name: n, Archived: n == "d.archived", CreatedAt: f.t0, UpdatedAt: f.t0}
			f.noErr("create "+n, f.s.CreateEventType(f.ctx, et))
		}
		first, err := f.s.ListEventTypes(f.ctx, page(2, ""), false)
		f.noErr("list", err)
		second, err := f.s.ListEventTypes(f.ctx, page(2, "b.one"), false)
		f.noErr("list page 2", err)
		all, err := f.s.ListEventTypes(f.ctx, page(10, ""), true)
		f.noErr("list with archived", err)
		names := func(ets []herald.EventType) []string {
			var out []string
			for _, e := range ets {
				out = append(out, e.Name)
			}
			return out
		}
		if got := names(first); !slices.Equal(got, []string{"a.one", "b.one"}) {
			f.Errorf("first page: got %v, want [a.one b.one]", got)
		}
		if got := names(second); !slices.Equal(got, []string{"c.one"}) {
			f.Errorf("second page: got %v, want [c.one]", got)
		}
		if got := names(all); !slices.Equal(got, []string{"a.one", "b.one", "c.one", "d.archived"}) {
			f.Errorf("with archived: got %v", got)
		}
		desc, err := f.s.ListEventTypes(f.ctx, store.Page{Limit: 2, Desc: true}, true)
		f.noErr("list desc", err)
		if got := names(desc); !slices.Equal(got, []string{"d.archived", "c.one"}) {
			f.Errorf("descending: got %v, want [d.archived c.one]", got)
		}
	}},
}

var endpointTests = []test{
	{"CreateAndGetByIDOrUID", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID, func(e *herald.Endpoint) {
			e.UID, e.Description, e.ThrottleRate = "primary", "main hook", 10
			e.EventTypes, e.Channels = []string{"invoice.paid", "invoice.failed"}, []string{"eu"}
			e.Metadata, e.Headers = map[string]string{"k": "v"}, map[string]string{"X-Team": "a \"quoted\" \\ value\n"}
			e.Secrets = append(e.Secrets, herald.Secret{Key: "whsec_old", ExpiresAt: f.at(time.Hour)})
		})
		for _, key := range []string{e.ID, "primary"} {
			got, err := f.s.GetEndpoint(f.ctx, a.ID, key)
			f.noErr("get endpoint "+key, err)
			sameEndpoint(f, got, e)
		}
		_, err := f.s.GetEndpoint(f.ctx, f.app().ID, e.ID)
		f.wantErr("get endpoint through another application", err, herald.ErrNotFound)
	}},
	{"UIDUniquePerApplication", func(f *fixture) {
		a, b := f.app(), f.app()
		f.endpoint(a.ID, func(e *herald.Endpoint) { e.UID = "hook" })
		f.endpoint(b.ID, func(e *herald.Endpoint) { e.UID = "hook" })
		f.endpoint(a.ID)
		f.endpoint(a.ID)
		dup := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, f.t0), AppID: a.ID, UID: "hook", URL: "https://x", CreatedAt: f.t0, UpdatedAt: f.t0}
		f.wantErr("create with taken uid", f.s.CreateEndpoint(f.ctx, dup), herald.ErrConflict)
		orphan := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, f.t0), AppID: "app_missing", URL: "https://x", CreatedAt: f.t0, UpdatedAt: f.t0}
		if err := f.s.CreateEndpoint(f.ctx, orphan); err == nil {
			f.Errorf("create endpoint of a missing application: got nil, want an error")
		}
	}},
	{"UpdateAndDelete", func(f *fixture) {
		a := f.app()
		e := f.endpoint(a.ID)
		e.URL, e.Disabled, e.EventTypes, e.Secrets = "https://new.example.com", true, []string{"x"}, []herald.Secret{{Key: "whsec_new"}}
		e.FailingSince, e.UpdatedAt = f.at(time.Minute), f.at(2*time.Minute)
		written := f.update(a.ID, e.ID, func(ep *herald.Endpoint) {
			// ID, AppID and CreatedAt are not the change's to make.
			want := *e
			want.ID, want.AppID, want.CreatedAt = "ep_other", "app_other", f.at(time.Hour)
			*ep = want
		})
		sameEndpoint(f, written, e)
		got, err := f.s.GetEndpoint(f.ctx, a.ID, e.ID)
		f.noErr("get", err)
		sameEndpoint(f, got, e)
		other := *e
		other.AppID = f.app().ID
		_, err = f.s.UpdateEndpoint(f.ctx, other.AppID, e.ID, func(*herald.Endpoint) error {
			f.Errorf("change called for an endpoint of another application")
			return nil
		})
		f.wantErr("update through another application", err, herald.ErrNotFound)
		f.wantErr("delete through another application", f.s.DeleteEndpoint(f.ctx, other.AppID, e.ID), herald.ErrNotFound)
		f.noErr("delete", f.s.DeleteEndpoint(f.ctx, a.ID, e.ID))
		_, err = f.s.GetEndpoint(f.ctx, a.ID, e.ID)
		f.wantErr("get deleted", err, herald.ErrNotFound)
		f.wantErr("delete again", f.s.DeleteEndpoint(f.ctx, a.ID, e.ID), herald.ErrNotFound)
	}},
	{"ListAndActive", func(f *fixture) {
		a := f.app()
		e1 := f.endpoint(a.ID)
		e2 := f.endpoint(a.ID, func(e *herald.Endpoint) { e.Disabled = true })
		e3 := f.endpoint(a.ID)
		f.endpoint(f.app().ID)
		p1, err := f.s.ListEndpoints(f.ctx, a.ID, page(2, ""))
		f.noErr("list", err)
		p2, err := f.s.ListEndpoints(f.ctx, a.ID, page(2, p1[len(p1)-1].ID))
		f.noErr("list page 2", err)
		got := append(endpointIDs(p1), endpointIDs(p2)...)
		if want := []string{e1.ID, e2.ID, e3.ID}; !slices.Equal(got, want) {
			f.Errorf("list: got %v, want %v", got, want)
		}
		active, err := f.s.ActiveEndpoints(f.ctx, a.ID)
		f.noErr("active", err)
		if got, want := endpointIDs(active), []string{e1.ID, e3.ID}; !slices.Equal(got, want) {
			f.Errorf("active: got %v, want %v", got, want)
		}
	}},
}

func endpointIDs(eps []herald.Endpoint) []string {
	out := make([]string, len(eps))
	for i, e := range eps {
		out[i] = e.ID
	}
	return out
}

// sameEndpoint checks every stored field of got against want.
func sameEndpoint(f *fixture, got, want *herald.Endpoint) {
	f.Helper()
	if got.ID != want.ID || got.AppID != want.AppID || got.UID != want.UID || got.URL != want.URL ||
		got.Description != want.Description || got.Disabled != want.Disabled || got.ThrottleRate != want.ThrottleRate {
		f.Errorf("endpoint: got %+v, want %+v", got, want)
	}
	if !slices.Equal(got.EventTypes, want.EventTypes) || !slices.Equal(got.Channels, want.Channels) {
		f.Errorf("endpoint filters: got %v %v, want %v %v", got.EventTypes, got.Channels, want.EventTypes, want.Channels)
	}
	if !maps.Equal(got.Metadata, want.Metadata) || !maps.Equal(got.Headers, want.Headers) {
		f.Errorf("endpoint maps: got %v %v, want %v %v", got.Metadata, got.Headers, want.Metadata, want.Headers)
	}
	if !slices.EqualFunc(got.Secrets, want.Secrets, func(a, b herald.Secret) bool { return a.Key == b.Key && a.ExpiresAt.Equal(b.ExpiresAt) }) {
		f.Errorf("endpoint secrets: got %v, want %v", got.Secrets, want.Secrets)
	}
	if !got.FailingSince.Equal(want.FailingSince) || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		f.Errorf("endpoint times: got %v %v %v, want %v %v %v", got.FailingSince, got.CreatedAt, got.UpdatedAt,
			want.FailingSince, want.CreatedAt, want.UpdatedAt)
	}
}
