package api

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestEndpointCRUDAndAliases(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "acme")
	b.createEventType(t, "user.signup", nil)
	b.createEventType(t, "user.deleted", nil)

	// The old names filterTypes and rateLimit are accepted...
	out := b.call(t, "POST", "/api/v1/app/acme/endpoint", map[string]any{
		"url": "https://example.com/a", "uid": "ep-a", "filterTypes": []string{"user.signup"}, "rateLimit": 7,
		"channels": []string{"project_1"}, "description": "A",
	}).want(t, 201).obj(t)
	id := out["id"].(string)
	// ...and the output carries them beside the newer names, with version 1.
	for _, k := range []string{"filterTypes", "eventTypes"} {
		if ft, _ := out[k].([]any); len(ft) != 1 || ft[0] != "user.signup" {
			t.Errorf("got %s %v, want [user.signup]", k, out[k])
		}
	}
	if out["rateLimit"] != float64(7) || out["throttleRate"] != float64(7) || out["version"] != float64(1) {
		t.Errorf("got rateLimit %v throttleRate %v version %v, want 7, 7 and 1", out["rateLimit"], out["throttleRate"], out["version"])
	}
	// The newer names work too.
	out = b.call(t, "POST", "/api/v1/app/"+app+"/endpoint", map[string]any{
		"url": "http://10.0.0.1:8080/b", "eventTypes": []string{"user.deleted"}, "throttleRate": 3,
	}).want(t, 201).obj(t)
	if ft, _ := out["filterTypes"].([]any); len(ft) != 1 || ft[0] != "user.deleted" || out["rateLimit"] != float64(3) {
		t.Errorf("got %v, want filterTypes [user.deleted] and rateLimit 3", out)
	}

	got := b.call(t, "GET", "/api/v1/app/acme/endpoint/ep-a/", nil).want(t, 200).obj(t)
	if got["id"] != id || got["description"] != "A" {
		t.Errorf("GET by uid: got %v, want endpoint %s", got, id)
	}
	list := b.call(t, "GET", "/api/v1/app/acme/endpoint?limit=1", nil).want(t, 200).obj(t)
	if len(list["data"].([]any)) != 1 || list["done"] != false {
		t.Errorf("got list %v, want one endpoint and more to come", list)
	}

	// PATCH: null clears the filter; other fields stay.
	got = b.call(t, "PATCH", "/api/v1/app/acme/endpoint/"+id, map[string]any{"filterTypes": nil, "disabled": true}).want(t, 200).obj(t)
	if got["filterTypes"] != nil || got["disabled"] != true || got["url"] != "https://example.com/a" {
		t.Errorf("PATCH: got %v, want no filter, disabled, same URL", got)
	}
	// PUT replaces; PUT of a missing endpoint creates it.
	got = b.call(t, "PUT", "/api/v1/app/acme/endpoint/"+id, map[string]any{"url": "https://example.com/c"}).want(t, 200).obj(t)
	if got["url"] != "https://example.com/c" || got["disabled"] != false || got["uid"] != nil {
		t.Errorf("PUT: got %v, want replaced endpoint", got)
	}
	b.call(t, "PUT", "/api/v1/app/acme/endpoint/ep-new", map[string]any{"url": "https://example.com/d", "uid": "ep-new"}).want(t, 201)

	_, _, invalidated := b.pub.counts()
	if invalidated < 5 {
		t.Errorf("got %d endpoint cache invalidations, want one per change (5)", invalidated)
	}
	b.call(t, "DELETE", "/api/v1/app/acme/endpoint/"+id, nil).want(t, 204)
	b.call(t, "GET", "/api/v1/app/acme/endpoint/"+id, nil).want(t, 404)
}

func TestEndpointValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createApp(t, "Acme", "acme")
	b.createEventType(t, "user.signup", nil)
	tests := []struct {
		name string
		body string
		loc  string
	}{
		{"relative url", `{"url":"/hook"}`, "url"},
		{"ftp url", `{"url":"ftp://example.com"}`, "url"},
		{"no url", `{}`, "url"},
		{"unknown event type", `{"url":"https://e.com","filterTypes":["nope"]}`, "filterTypes"},
		{"empty event types", `{"url":"https://e.com","eventTypes":[]}`, "eventTypes"},
		{"bad channel", `{"url":"https://e.com","channels":["a b"]}`, "channels"},
		{"too many channels", `{"url":"https://e.com","channels":["1","2","3","4","5","6","7","8","9","10","11"]}`, "channels"},
		{"short secret", `{"url":"https://e.com","secret":"whsec_abc"}`, "secret"},
		{"bad uid", `{"url":"https://e.com","uid":"é"}`, "uid"},
		{"zero rate", `{"url":"https://e.com","throttleRate":0}`, "throttleRate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.call(t, "POST", "/api/v1/app/acme/endpoint", tt.body).want(t, 422)
			if !strings.Contains(string(r.raw), `"`+tt.loc+`"`) {
				t.Errorf("got %s, want loc %s", r.raw, tt.loc)
			}
		})
	}
	b.call(t, "POST", "/api/v1/app/nope/endpoint", `{"url":"https://e.com"}`).want(t, 404)
	b.call(t, "GET", "/api/v1/app/acme/endpoint/ep_missing", nil).want(t, 404)
}

func TestEndpointSecretAndRotation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "acme")

	// A generated secret is whsec_ and 32 base64 characters.
	gen := b.createEndpoint(t, app, map[string]any{})
	key := b.call(t, "GET", "/api/v1/app/acme/endpoint/"+gen+"/secret", nil).want(t, 200).obj(t)["key"].(string)
	if !strings.HasPrefix(key, "whsec_") || len(key) != len("whsec_")+32 {
		t.Errorf("got secret %q, want whsec_ and 32 characters", key)
	}
	// A given secret is accepted with or without the prefix.
	raw := "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	bare := b.createEndpoint(t, app, map[string]any{"secret": raw})
	if got := b.call(t, "GET", "/api/v1/app/acme/endpoint/"+bare+"/secret", nil).want(t, 200).obj(t)["key"]; got != "whsec_"+raw {
		t.Errorf("got %v, want whsec_%s", got, raw)
	}

	before := time.Now()
	b.call(t, "POST", "/api/v1/app/acme/endpoint/"+bare+"/secret/rotate", map[string]any{}).want(t, 204)
	newKey := b.call(t, "GET", "/api/v1/app/acme/endpoint/"+bare+"/secret", nil).want(t, 200).obj(t)["key"].(string)
	if newKey == "whsec_"+raw {
		t.Fatal("rotation kept the old secret current")
	}
	ep, err := b.store.GetEndpoint(context.Background(), app, bare)
	if err != nil {
		t.Fatal(err)
	}
	if len(ep.Secrets) != 2 || ep.Secrets[0].Key != newKey || ep.Secrets[1].Key != "whsec_"+raw {
		t.Fatalf("got secrets %+v, want the new one then the old one", ep.Secrets)
	}
	if exp := ep.Secrets[1].ExpiresAt; exp.Before(before.Add(24*time.Hour-time.Second)) || exp.After(time.Now().Add(24*time.Hour+time.Second)) {
		t.Errorf("got old secret expiry %v, want about 24 h from now", exp)
	}
	if keys := ep.SigningKeys(time.Now()); len(keys) != 2 {
		t.Errorf("got %d signing keys during the grace period, want 2", len(keys))
	}
	if keys := ep.SigningKeys(time.Now().Add(25 * time.Hour)); len(keys) != 1 {
		t.Errorf("got %d signing keys after the grace period, want 1", len(keys))
	}

	// A given key with a custom grace period.
	b.call(t, "POST", "/api/v1/app/acme/endpoint/"+bare+"/secret/rotate", map[string]any{"key": "whsec_" + strings.Repeat("A", 32), "gracePeriodSeconds": 60}).want(t, 204)
	ep, _ = b.store.GetEndpoint(context.Background(), app, bare)
	if ep.Secrets[0].Key != "whsec_"+strings.Repeat("A", 32) || ep.Secrets[1].Key != newKey || time.Until(ep.Secrets[1].ExpiresAt) > time.Minute+time.Second {
		t.Errorf("got secrets %+v, want the given key then %s expiring within a minute", ep.Secrets, newKey)
	}
	b.call(t, "POST", "/api/v1/app/acme/endpoint/"+bare+"/secret/rotate", map[string]any{"key": "short"}).want(t, 422)
}

func TestEndpointHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "")
	ep := b.createEndpoint(t, app, map[string]any{})
	base := "/api/v1/app/" + app + "/endpoint/" + ep + "/headers"

	b.call(t, "PUT", base, map[string]any{"headers": map[string]string{"X-Team": "core", "Authorization": "Bearer s3cret"}}).want(t, 204)
	got := b.call(t, "GET", base, nil).want(t, 200)
	if strings.Contains(string(got.raw), "s3cret") {
		t.Errorf("got %s, want the Authorization value redacted", got.raw)
	}
	m := got.obj(t)
	if m["headers"].(map[string]any)["X-Team"] != "core" || len(m["sensitive"].([]any)) != 1 || m["sensitive"].([]any)[0] != "Authorization" {
		t.Errorf("got %v, want X-Team shown and Authorization listed as sensitive", m)
	}

	b.call(t, "PATCH", base, map[string]any{"headers": map[string]any{"X-Team": nil, "X-Env": "prod"}}).want(t, 204)
	h := b.call(t, "GET", base, nil).want(t, 200).obj(t)["headers"].(map[string]any)
	if h["X-Team"] != nil || h["X-Env"] != "prod" {
		t.Errorf("got headers %v, want X-Team removed and X-Env added", h)
	}
	b.call(t, "PUT", base, map[string]any{"headers": map[string]string{"webhook-id": "x"}}).want(t, 422)
	b.call(t, "PUT", base, map[string]any{"headers": map[string]string{"Bad Name": "x"}}).want(t, 422)
}

// A header value net/http refuses to send (a control character other than
// tab) would fail every delivery: it is refused when set, with the reason.
func TestEndpointHeaderValueWithControlCharacter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "")
	ep := b.createEndpoint(t, app, map[string]any{})
	base := "/api/v1/app/" + app + "/endpoint/" + ep + "/headers"

	for _, v := range []string{`a\u0001b`, `a\u007fb`, `a\u001bb`, `a\nb`} { // JSON escapes
		for _, method := range []string{"PUT", "PATCH"} {
			r := b.call(t, method, base, `{"headers":{"X-Token":"`+v+`"}}`).want(t, 422)
			if !strings.Contains(string(r.raw), "control characters") || !strings.Contains(string(r.raw), "X-Token") {
				t.Errorf("%s %q: got %s, want the header named and the reason", method, v, r.raw)
			}
		}
	}
	if h := b.call(t, "GET", base, nil).want(t, 200).obj(t)["headers"].(map[string]any); len(h) != 0 {
		t.Errorf("got headers %v, want none stored", h)
	}
	// A tab is allowed, as in any HTTP header value.
	b.call(t, "PUT", base, `{"headers":{"X-Token":"a\tb"}}`).want(t, 204)
	if h := b.call(t, "GET", base, nil).want(t, 200).obj(t)["headers"].(map[string]any); h["X-Token"] != "a\tb" {
		t.Errorf("got headers %v, want X-Token with its tab", h)
	}
}

func TestEndpointStatsRecoverSendExample(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "")
	b.createEventType(t, "invoice.paid", map[string]any{
		"1": map[string]any{"type": "object", "examples": []any{map[string]any{"invoiceId": "inv_1"}}},
	})
	ep := b.createEndpoint(t, app, map[string]any{})
	base := "/api/v1/app/" + app + "/endpoint/" + ep

	b.sendMessage(t, app, map[string]any{})
	b.sendMessage(t, app, map[string]any{})
	stats := b.call(t, "GET", base+"/stats", nil).want(t, 200)
	var st struct{ Success, Pending, Sending, Fail, Canceled int64 }
	if err := jsonStrict(stats.raw, &st); err != nil || st.Pending != 2 {
		t.Errorf("got stats %s (%v), want 2 pending", stats.raw, err)
	}
	b.attemptAll(t, 500)
	var legacy struct{ Success, Pending, Sending, Fail int64 }
	if err := jsonStrict(b.callAs(t, b.token, "GET", base+"/stats", nil, legacyGoSDKHeader).want(t, 200).raw, &legacy); err != nil || legacy.Fail != 2 {
		t.Errorf("got stats %+v (%v), want 2 failed in the legacy Go SDK's shape", legacy, err)
	}

	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	rec := b.call(t, "POST", base+"/recover", map[string]any{"since": since}).want(t, 202).obj(t)
	if !strings.HasPrefix(rec["id"].(string), "qtask_") || rec["status"] != "running" || rec["task"] != "endpoint.recover" {
		t.Errorf("got %v, want a running endpoint.recover task", rec)
	}
	if _, wakes, _ := b.pub.counts(); wakes != 1 {
		t.Errorf("got %d wakes, want 1 after recover", wakes)
	}
	b.call(t, "POST", base+"/recover", map[string]any{}).want(t, 422)

	ex := b.call(t, "POST", base+"/send-example", map[string]any{"eventType": "invoice.paid"}).want(t, 200).obj(t)
	if ex["payload"].(map[string]any)["invoiceId"] != "inv_1" {
		t.Errorf("got example payload %v, want the schema example", ex["payload"])
	}
	b.pub.mu.Lock()
	to := b.pub.publishedTo[ex["id"].(string)]
	b.pub.mu.Unlock()
	if to != ep {
		t.Errorf("got example sent to %q, want %q only", to, ep)
	}
	def := b.call(t, "POST", base+"/send-example", map[string]any{"eventType": "no.schema"}).want(t, 200).obj(t)
	if def["payload"].(map[string]any)["eventType"] != "no.schema" {
		t.Errorf("got default payload %v, want it to name the event type", def["payload"])
	}
}
