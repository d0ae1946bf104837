package api

import (
	"net/url"
	"slices"
	"testing"
	"time"
)

// ids returns the "id" of each item of a list response's data.
func ids(t *testing.T, list map[string]any) []string {
	t.Helper()
	var out []string
	for _, d := range list["data"].([]any) {
		out = append(out, d.(map[string]any)["id"].(string))
	}
	return out
}

// Svix refuses to resend a message whose payload is gone (expunged or
// expired): 400 missing_payload, and nothing is queued.
func TestResendExpungedMessage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "")
	ep := b.createEndpoint(t, app, map[string]any{})
	msg := b.sendMessage(t, app, map[string]any{})
	b.attemptAll(t, 200)
	base := "/api/v1/app/" + app + "/msg/" + msg

	b.call(t, "DELETE", base+"/content", nil).want(t, 204)
	r := b.call(t, "POST", base+"/endpoint/"+ep+"/resend", nil).want(t, 400)
	if r.obj(t)["code"] != "missing_payload" {
		t.Errorf("got %s, want code missing_payload", r.raw)
	}
	if st := b.call(t, "GET", base+"/endpoint", nil).want(t, 200).obj(t)["data"].([]any)[0].(map[string]any)["status"]; st != 0.0 {
		t.Errorf("got delivery status %v after a refused resend, want 0 (success) untouched", st)
	}
}

// Resend answers 202 with Svix's EmptyResponse, {}.
func TestResendAnswersEmptyObject(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "")
	ep := b.createEndpoint(t, app, map[string]any{})
	msg := b.sendMessage(t, app, map[string]any{})
	r := b.call(t, "POST", "/api/v1/app/"+app+"/msg/"+msg+"/endpoint/"+ep+"/resend", nil).want(t, 202)
	if string(r.raw) != "{}" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("got %q (%s), want {} as application/json", r.raw, r.header.Get("Content-Type"))
	}
}

// Recover retries failed deliveries, but not of messages whose payload
// was expunged: Svix's worker drops those, having nothing to send.
func TestRecoverSkipsExpungedMessages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "")
	ep := b.createEndpoint(t, app, map[string]any{})
	gone := b.sendMessage(t, app, map[string]any{})
	kept := b.sendMessage(t, app, map[string]any{})
	b.attemptAll(t, 500)
	b.call(t, "DELETE", "/api/v1/app/"+app+"/msg/"+gone+"/content", nil).want(t, 204)

	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	b.call(t, "POST", "/api/v1/app/"+app+"/endpoint/"+ep+"/recover", map[string]any{"since": since}).want(t, 202)
	for msg, want := range map[string]float64{gone: 2, kept: 1} {
		d := b.call(t, "GET", "/api/v1/app/"+app+"/msg/"+msg+"/endpoint", nil).want(t, 200).obj(t)["data"].([]any)
		if st := d[0].(map[string]any)["status"]; st != want {
			t.Errorf("message %s: got status %v after recover, want %v", msg, st, want)
		}
	}
}

// Svix's EventTypesQuery reads event_types, event_types[] and
// event_types[N].
func TestEventTypesBracketKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "")
	ep := b.createEndpoint(t, app, map[string]any{})
	a := b.sendMessage(t, app, map[string]any{"eventType": "a.b"})
	c := b.sendMessage(t, app, map[string]any{"eventType": "c.d"})
	b.sendMessage(t, app, map[string]any{"eventType": "e.f"})
	b.attemptAll(t, 200)
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"event_types[]=a.b", []string{a}},
		{"event_types%5B%5D=a.b", []string{a}},
		{"event_types[0]=a.b&event_types[1]=c.d", []string{c, a}},
		{"event_types=c.d", []string{c}},
	} {
		if got := ids(t, b.call(t, "GET", "/api/v1/app/"+app+"/msg?"+tc.query, nil).want(t, 200).obj(t)); !slices.Equal(got, tc.want) {
			t.Errorf("msg?%s: got %v, want %v", tc.query, got, tc.want)
		}
		if got := b.call(t, "GET", "/api/v1/app/"+app+"/endpoint/"+ep+"/msg?"+tc.query, nil).want(t, 200).obj(t); len(got["data"].([]any)) != len(tc.want) {
			t.Errorf("endpoint msg?%s: got %v, want %d messages", tc.query, got["data"], len(tc.want))
		}
	}
	b.call(t, "GET", "/api/v1/app/"+app+"/msg?event_types[]=bad$type", nil).want(t, 422)
}

// Creating an archived event type unarchives it, with the new
// description and schemas ("create new or unarchive existing").
func TestEventTypeCreateUnarchives(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createEventType(t, "invoice.paid", nil)
	b.call(t, "DELETE", "/api/v1/event-type/invoice.paid", nil).want(t, 204)
	got := b.call(t, "POST", "/api/v1/event-type", map[string]any{"name": "invoice.paid", "description": "again"}).want(t, 201).obj(t)
	if got["archived"] != false || got["description"] != "again" {
		t.Errorf("got %v, want it unarchived with the new description", got)
	}
	if got := b.call(t, "GET", "/api/v1/event-type/invoice.paid", nil).want(t, 200).obj(t); got["archived"] != false {
		t.Errorf("got %v, want unarchived", got)
	}
	// One that is not archived still conflicts.
	b.call(t, "POST", "/api/v1/event-type", map[string]any{"name": "invoice.paid", "description": "x"}).want(t, 409)
}

// Endpoints may not filter on archived event types.
func TestEndpointFilterOnArchivedEventType(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "")
	b.createEventType(t, "invoice.paid", nil)
	b.call(t, "DELETE", "/api/v1/event-type/invoice.paid", nil).want(t, 204)
	r := b.call(t, "POST", "/api/v1/app/"+app+"/endpoint", map[string]any{"url": "https://example.com/h", "filterTypes": []string{"invoice.paid"}}).want(t, 422)
	if loc := r.obj(t)["detail"].([]any)[0].(map[string]any)["loc"].([]any); len(loc) != 2 || loc[1] != "filterTypes" {
		t.Errorf("got %s, want the error at body.filterTypes", r.raw)
	}
}

// pagesBack checks that a newest-first list of three pages forwards and
// back with iterator and prevIterator, as Svix's reversible lists do.
func pagesBack(t *testing.T, b *bundle, path string, want []string) {
	t.Helper()
	sep := "?"
	if u, _ := url.Parse(path); u.RawQuery != "" {
		sep = "&"
	}
	first := b.call(t, "GET", path+sep+"limit=1", nil).want(t, 200).obj(t)
	if got := ids(t, first); !slices.Equal(got, want[:1]) || first["prevIterator"] != "-"+want[0] {
		t.Fatalf("%s first page: got %v prev %v, want %v prev -%s", path, got, first["prevIterator"], want[:1], want[0])
	}
	second := b.call(t, "GET", path+sep+"limit=2&iterator="+first["iterator"].(string), nil).want(t, 200).obj(t)
	if got := ids(t, second); !slices.Equal(got, want[1:]) || second["done"] != true {
		t.Fatalf("%s second page: got %v done %v, want %v done", path, got, second["done"], want[1:])
	}
	back := b.call(t, "GET", path+sep+"limit=1&iterator="+second["prevIterator"].(string), nil).want(t, 200).obj(t)
	if got := ids(t, back); !slices.Equal(got, want[:1]) || back["done"] != true {
		t.Errorf("%s back: got %v done %v, want %v done", path, got, back["done"], want[:1])
	}
	back2 := b.call(t, "GET", path+sep+"limit=1&iterator=-"+want[2], nil).want(t, 200).obj(t)
	if got := ids(t, back2); !slices.Equal(got, want[1:2]) || back2["done"] != false {
		t.Errorf("%s back from the oldest: got %v done %v, want %v and more", path, got, back2["done"], want[1:2])
	}
}

// Message and attempt lists page both ways, like Svix's
// ReversibleIterator lists.
func TestMessageListsPageBackwards(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "")
	ep := b.createEndpoint(t, app, map[string]any{})
	var msgs []string
	for range 3 {
		msgs = slices.Insert(msgs, 0, b.sendMessage(t, app, map[string]any{}))
		b.attemptAll(t, 200)
	}
	pagesBack(t, b, "/api/v1/app/"+app+"/msg", msgs)
	pagesBack(t, b, "/api/v1/app/"+app+"/endpoint/"+ep+"/msg", msgs)
	atts := ids(t, b.call(t, "GET", "/api/v1/app/"+app+"/attempt/endpoint/"+ep, nil).want(t, 200).obj(t))
	if len(atts) != 3 {
		t.Fatalf("got attempts %v, want 3", atts)
	}
	pagesBack(t, b, "/api/v1/app/"+app+"/attempt/endpoint/"+ep, atts)

	// Attempts of one message, and a message's destinations (by
	// endpoint ID, oldest first as in Svix).
	b.createEndpoint(t, app, map[string]any{})
	b.createEndpoint(t, app, map[string]any{})
	one := b.sendMessage(t, app, map[string]any{})
	b.attemptAll(t, 200)
	atts = ids(t, b.call(t, "GET", "/api/v1/app/"+app+"/attempt/msg/"+one, nil).want(t, 200).obj(t))
	if len(atts) != 3 {
		t.Fatalf("got attempts %v, want 3", atts)
	}
	pagesBack(t, b, "/api/v1/app/"+app+"/attempt/msg/"+one, atts)
	dests := ids(t, b.call(t, "GET", "/api/v1/app/"+app+"/msg/"+one+"/endpoint", nil).want(t, 200).obj(t))
	if len(dests) != 3 || !slices.IsSorted(dests) {
		t.Fatalf("got destinations %v, want 3 by endpoint ID", dests)
	}
	pagesBack(t, b, "/api/v1/app/"+app+"/msg/"+one+"/endpoint", dests)
}

// before and after, as Svix's iterator_from_before_or_after reads them:
// ignored beside an iterator, and after=T starts a backwards page at T,
// so it gives the first messages after T.
func TestMessageListBeforeAfter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "")
	ep := b.createEndpoint(t, app, map[string]any{})
	old := b.sendMessage(t, app, map[string]any{})
	time.Sleep(5 * time.Millisecond)
	t0 := url.QueryEscape(time.Now().UTC().Format(time.RFC3339Nano))
	time.Sleep(5 * time.Millisecond)
	m1 := b.sendMessage(t, app, map[string]any{})
	m2 := b.sendMessage(t, app, map[string]any{})
	m3 := b.sendMessage(t, app, map[string]any{})
	b.attemptAll(t, 200)
	for _, base := range []string{"/api/v1/app/" + app + "/msg", "/api/v1/app/" + app + "/endpoint/" + ep + "/msg"} {
		first := b.call(t, "GET", base+"?after="+t0+"&limit=1", nil).want(t, 200).obj(t)
		if got := ids(t, first); !slices.Equal(got, []string{m1}) || first["done"] != false {
			t.Errorf("%s after t0, limit 1: got %v done %v, want [%s] and more", base, got, first["done"], m1)
		}
		if got := ids(t, b.call(t, "GET", base+"?after="+t0, nil).want(t, 200).obj(t)); !slices.Equal(got, []string{m3, m2, m1}) {
			t.Errorf("%s after t0: got %v, want newest first [%s %s %s]", base, got, m3, m2, m1)
		}
		if got := ids(t, b.call(t, "GET", base+"?before="+t0, nil).want(t, 200).obj(t)); !slices.Equal(got, []string{old}) {
			t.Errorf("%s before t0: got %v, want [%s]", base, got, old)
		}
		// Next from the page after t0: the iterator wins over after.
		if got := ids(t, b.call(t, "GET", base+"?after="+t0+"&iterator="+m1, nil).want(t, 200).obj(t)); !slices.Equal(got, []string{old}) {
			t.Errorf("%s after t0 with iterator %s: got %v, want [%s]", base, m1, got, old)
		}
		if got := ids(t, b.call(t, "GET", base+"?before="+t0+"&iterator=-"+old, nil).want(t, 200).obj(t)); !slices.Equal(got, []string{m3, m2, m1}) {
			t.Errorf("%s before t0 with iterator -%s: got %v, want [%s %s %s]", base, old, got, m3, m2, m1)
		}
	}
}

// Svix lists endpoints newest first unless order=ascending; applications
// stay oldest first.
func TestEndpointListNewestFirst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "")
	var eps []string
	for range 3 {
		eps = slices.Insert(eps, 0, b.createEndpoint(t, app, map[string]any{}))
	}
	base := "/api/v1/app/" + app + "/endpoint"
	if got := ids(t, b.call(t, "GET", base, nil).want(t, 200).obj(t)); !slices.Equal(got, eps) {
		t.Errorf("got %v, want newest first %v", got, eps)
	}
	asc := slices.Clone(eps)
	slices.Reverse(asc)
	if got := ids(t, b.call(t, "GET", base+"?order=ascending", nil).want(t, 200).obj(t)); !slices.Equal(got, asc) {
		t.Errorf("order=ascending: got %v, want %v", got, asc)
	}
	pagesBack(t, b, base, eps)
	b.createApp(t, "Beta", "")
	if apps := ids(t, b.call(t, "GET", "/api/v1/app", nil).want(t, 200).obj(t)); len(apps) != 2 || apps[0] != app {
		t.Errorf("got apps %v, want oldest first", apps)
	}
}

// order is a parameter of the application, endpoint and event type lists
// only; elsewhere it is ignored, as Svix ignores unknown parameters.
func TestMessageListIgnoresOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "")
	ep := b.createEndpoint(t, app, map[string]any{})
	m1 := b.sendMessage(t, app, map[string]any{})
	m2 := b.sendMessage(t, app, map[string]any{})
	b.attemptAll(t, 200)
	for _, path := range []string{"/api/v1/app/" + app + "/msg", "/api/v1/app/" + app + "/endpoint/" + ep + "/msg"} {
		for _, order := range []string{"descending", "ascending", "sideways"} {
			if got := ids(t, b.call(t, "GET", path+"?order="+order, nil).want(t, 200).obj(t)); !slices.Equal(got, []string{m2, m1}) {
				t.Errorf("%s?order=%s: got %v, want newest first", path, order, got)
			}
		}
	}
}
