package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/herald"
	"github.com/heraldhq/herald/internal/store"
)

// createSource creates a GitHub source of app and returns its answer.
func (b *bundle) createSource(t *testing.T, app string, mods map[string]any) map[string]any {
	t.Helper()
	in := map[string]any{
		"name": "GitHub", "app": app,
		"verifier": map[string]any{"type": "github", "secrets": []string{"gh-secret-1"}},
	}
	for k, v := range mods {
		in[k] = v
	}
	return b.call(t, "POST", "/api/v1/source", in).want(t, 201).obj(t)
}

func TestSourceCreateGetListDelete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "acme")
	out := b.createSource(t, "acme", map[string]any{"uid": "gh", "eventType": "github.event",
		"dedupeWindow": 3600, "allowedIps": []string{"192.0.2.0/24"}, "maxBodyBytes": 2048})
	id := out["id"].(string)
	if !strings.HasPrefix(id, "src_") || out["appId"] != app || out["dedupeWindow"] != 3600.0 ||
		out["maxBodyBytes"] != 2048.0 || out["eventType"] != "github.event" {
		t.Errorf("created source: got %v", out)
	}
	if !strings.HasSuffix(out["ingestUrl"].(string), "/in/"+id) || !strings.HasPrefix(out["ingestUrl"].(string), b.url) {
		t.Errorf("ingestUrl: got %v, want %s/in/%s", out["ingestUrl"], b.url, id)
	}
	if v := out["verifier"].(map[string]any); v["type"] != "github" || v["secrets"].([]any)[0] != "****" {
		t.Errorf("verifier: got %v, want github with masked secrets", v)
	}
	for _, key := range []string{id, "gh"} {
		got := b.call(t, "GET", "/api/v1/source/"+key, nil).want(t, 200).obj(t)
		if got["id"] != id {
			t.Errorf("GET /source/%s: got id %v, want %s", key, got["id"], id)
		}
	}
	def := b.createSource(t, app, nil)
	if def["dedupeWindow"] != float64(72*3600) || def["maxBodyBytes"] != float64(1<<20) {
		t.Errorf("defaults: got dedupeWindow %v maxBodyBytes %v, want 259200 and 1048576", def["dedupeWindow"], def["maxBodyBytes"])
	}
	list := b.call(t, "GET", "/api/v1/source?limit=1", nil).want(t, 200).obj(t)
	if data := list["data"].([]any); len(data) != 1 || list["done"] != false {
		t.Errorf("list limit 1: got %v, want one source and more to come", list)
	}
	b.call(t, "POST", "/api/v1/source", map[string]any{
		"name": "again", "uid": "gh", "app": app, "verifier": map[string]any{"type": "gitlab", "secrets": []string{"t"}},
	}).want(t, 409)
	b.call(t, "DELETE", "/api/v1/source/gh", nil).want(t, 204)
	b.call(t, "GET", "/api/v1/source/"+id, nil).want(t, 404)
}

func TestSourceValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "")
	gh := map[string]any{"type": "github", "secrets": []string{"s"}}
	tests := []struct {
		name string
		in   map[string]any
		loc  string
	}{
		{"no name", map[string]any{"app": app, "verifier": gh}, "name"},
		{"no app", map[string]any{"name": "x", "verifier": gh}, "app"},
		{"unknown app", map[string]any{"name": "x", "app": "nope", "verifier": gh}, "app"},
		{"no verifier", map[string]any{"name": "x", "app": app}, "verifier"},
		{"no secret", map[string]any{"name": "x", "app": app, "verifier": map[string]any{"type": "github"}}, "verifier"},
		{"unknown type", map[string]any{"name": "x", "app": app, "verifier": map[string]any{"type": "carrier-pigeon", "secrets": []string{"s"}}}, "verifier"},
		{"negative window", map[string]any{"name": "x", "app": app, "verifier": gh, "dedupeWindow": -1}, "dedupeWindow"},
		{"bad cidr", map[string]any{"name": "x", "app": app, "verifier": gh, "allowedIps": []string{"10.0.0.0/33"}}, "allowedIps"},
		{"zero body", map[string]any{"name": "x", "app": app, "verifier": gh, "maxBodyBytes": 0}, "maxBodyBytes"},
		{"uid like an id", map[string]any{"name": "x", "uid": "src_1", "app": app, "verifier": gh}, "uid"},
	}
	for _, tt := range tests {
		r := b.call(t, "POST", "/api/v1/source", tt.in)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.raw), `"`+tt.loc+`"`) {
			t.Errorf("%s: got %d %s, want 422 about %s", tt.name, r.status, r.raw, tt.loc)
		}
	}
}

func TestSourcePatchKeepsSecrets(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "")
	id := b.createSource(t, app, map[string]any{"eventType": "gh", "maxBodyBytes": 4096, "dedupeWindow": 60})["id"].(string)
	out := b.call(t, "PATCH", "/api/v1/source/"+id, map[string]any{"name": "Renamed", "allowedIps": []string{"198.51.100.1"}}).
		want(t, 200).obj(t)
	if out["name"] != "Renamed" || out["allowedIps"].([]any)[0] != "198.51.100.1" ||
		out["eventType"] != "gh" || out["maxBodyBytes"] != 4096.0 || out["dedupeWindow"] != 60.0 {
		t.Errorf("patched: got %v, want the new name and addresses and every other field kept", out)
	}
	out = b.call(t, "PATCH", "/api/v1/source/"+id, map[string]any{"maxBodyBytes": 8192}).want(t, 200).obj(t)
	if out["maxBodyBytes"] != 8192.0 || out["eventType"] != "gh" {
		t.Errorf("patched maxBodyBytes: got %v", out)
	}
	src, err := b.store.GetSource(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src.Verifier), "gh-secret-1") {
		t.Errorf("stored verifier after a patch without one: got %s, want the secret kept", src.Verifier)
	}
	// Rotation: the verifier's secrets alone.
	b.call(t, "PATCH", "/api/v1/source/"+id, map[string]any{"verifier": map[string]any{"secrets": []string{"gh-secret-2", "gh-secret-1"}}}).want(t, 200)
	src, _ = b.store.GetSource(context.Background(), id)
	var cfg struct {
		Type    string
		Secrets []string
	}
	if err := json.Unmarshal(src.Verifier, &cfg); err != nil || cfg.Type != "github" || len(cfg.Secrets) != 2 {
		t.Errorf("stored verifier after rotation: got %s, want github with two secrets", src.Verifier)
	}
	// PUT replaces: left-out fields go back to their defaults.
	out = b.call(t, "PUT", "/api/v1/source/"+id, map[string]any{
		"name": "Put", "app": app, "verifier": map[string]any{"type": "gitlab", "secrets": []string{"tok"}},
	}).want(t, 200).obj(t)
	if out["name"] != "Put" || len(out["allowedIps"].([]any)) != 0 || out["verifier"].(map[string]any)["type"] != "gitlab" {
		t.Errorf("put: got %v", out)
	}
}

func TestSourceNeedsAdminToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createApp(t, "Acme", "acme")
	tok := b.call(t, "POST", "/api/v1/auth/app-portal-access/acme", map[string]any{}).want(t, 200).obj(t)["token"].(string)
	b.callAs(t, tok, "GET", "/api/v1/source", nil, nil).want(t, 403)
	b.callAs(t, tok, "POST", "/api/v1/source", map[string]any{"name": "x"}, nil).want(t, 403)
	b.callAs(t, "", "GET", "/api/v1/source", nil, nil).want(t, 401)
}

func TestInboundEventsListGetReplay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	app := b.createApp(t, "Acme", "")
	ep := b.createEndpoint(t, app, map[string]any{})
	id := b.createSource(t, app, nil)["id"].(string)
	src, err := b.store.GetSource(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ingest := func(at time.Time, key string, body []byte) *store.InboundEvent {
		t.Helper()
		ev := &store.InboundEvent{
			ID: herald.NewID(herald.PrefixInbound, at), SourceID: id, ReceivedAt: at, DedupeKey: key,
			DedupeUntil: at.Add(time.Hour), EventType: "push", Body: body,
			Headers: map[string][]string{"X-Hub-Signature-256": {"sha256=1"}, "Content-Type": {"application/json"}},
		}
		msg := &herald.Message{ID: herald.NewID(herald.PrefixMessage, at), AppID: app, EventType: "push", Payload: body, CreatedAt: at}
		ds := []herald.Delivery{{MsgID: msg.ID, EndpointID: ep, AppID: app, CreatedAt: at}}
		if _, err := b.store.Ingest(ctx, ev, msg, ds, "", time.Time{}); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	first := ingest(now, "d-1", []byte(`{"a": 1}`))
	dup := ingest(now.Add(time.Millisecond), "d-1", []byte(`{"a": 1}`))
	binary := ingest(now.Add(2*time.Millisecond), "d-2", []byte{0xff, 0x00, 0x01})

	list := b.call(t, "GET", "/api/v1/source/"+id+"/event", nil).want(t, 200).obj(t)
	data := list["data"].([]any)
	if len(data) != 3 || list["done"] != true {
		t.Fatalf("list: got %v, want three events", list)
	}
	newest, mid, oldest := data[0].(map[string]any), data[1].(map[string]any), data[2].(map[string]any)
	if newest["id"] != binary.ID || mid["id"] != dup.ID || mid["status"] != "duplicate" || mid["duplicateOf"] != first.ID ||
		oldest["status"] != "accepted" || oldest["msgId"] != first.MsgID || oldest["verified"] != true {
		t.Errorf("list: got %v, want newest first with statuses", data)
	}
	if ds := oldest["deliveries"].([]any); len(ds) != 1 || ds[0].(map[string]any)["statusText"] != "pending" {
		t.Errorf("deliveries of the accepted event: got %v, want one pending", ds)
	}
	if ds := mid["deliveries"].([]any); len(ds) != 0 {
		t.Errorf("deliveries of the duplicate: got %v, want none", ds)
	}
	page := b.call(t, "GET", "/api/v1/source/"+id+"/event?limit=2", nil).want(t, 200).obj(t)
	next := b.call(t, "GET", "/api/v1/source/"+id+"/event?limit=2&iterator="+page["iterator"].(string), nil).want(t, 200).obj(t)
	if d := next["data"].([]any); len(d) != 1 || d[0].(map[string]any)["id"] != first.ID {
		t.Errorf("second page: got %v, want the oldest event", next)
	}

	got := b.call(t, "GET", "/api/v1/source/"+id+"/event/"+first.ID, nil).want(t, 200).obj(t)
	if got["body"] != `{"a": 1}` || got["headers"].(map[string]any)["X-Hub-Signature-256"] == nil {
		t.Errorf("event: got %v, want its body and headers", got)
	}
	if got := b.call(t, "GET", "/api/v1/source/"+id+"/event/"+binary.ID, nil).want(t, 200).obj(t); got["bodyBase64"] != "/wAB" {
		t.Errorf("binary event: got bodyBase64 %v, want /wAB", got["bodyBase64"])
	}
	b.call(t, "GET", "/api/v1/source/"+id+"/event/in_missing", nil).want(t, 404)

	out := b.call(t, "POST", "/api/v1/source/"+id+"/event/"+first.ID+"/replay", nil).want(t, 202).obj(t)
	msgID, _ := out["msgId"].(string)
	msg, err := b.store.GetMessage(ctx, app, msgID)
	if err != nil {
		t.Fatalf("replayed message %q: %v", msgID, err)
	}
	if string(msg.Payload) != `{"a": 1}` || msg.ContentType != "application/json" || msg.Headers["X-Hub-Signature-256"] != "sha256=1" ||
		msg.AppID != src.AppID {
		t.Errorf("replayed message: got %+v, want the stored bytes and headers", *msg)
	}

	// A body that is not JSON is shown as a string by the message API.
	form := ingest(now.Add(3*time.Millisecond), "d-3", []byte("a=1&b=2"))
	out = b.call(t, "POST", "/api/v1/source/"+id+"/event/"+form.ID+"/replay", nil).want(t, 202).obj(t)
	shown := b.call(t, "GET", "/api/v1/app/"+app+"/msg/"+out["msgId"].(string), nil).want(t, 200).obj(t)
	if shown["payload"] != "a=1&b=2" {
		t.Errorf("message with a form body: got payload %v, want the form as a string", shown["payload"])
	}
}

// TestSourceSecretsSurviveARoundTrip: GET shows a source's secrets as
// masks. Written back as read, or beside a new secret in a rotation, a
// mask keeps the secret it stands for; saved as is, it would be a secret
// anyone can read. A mask that stands for no current secret is refused.
func TestSourceSecretsSurviveARoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, "Acme", "acme")
	stripe := func(secrets ...string) map[string]any {
		return map[string]any{"type": "stripe", "secrets": secrets}
	}
	out := b.createSource(t, app, map[string]any{"name": "Stripe", "verifier": stripe("whsec_old")})
	id := out["id"].(string)
	secrets := func() []string {
		t.Helper()
		src, err := b.store.GetSource(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct{ Secrets []string }
		if err := json.Unmarshal(src.Verifier, &cfg); err != nil {
			t.Fatal(err)
		}
		return cfg.Secrets
	}

	got := b.call(t, "GET", "/api/v1/source/"+id, nil).want(t, 200).obj(t)
	b.call(t, "PUT", "/api/v1/source/"+id, map[string]any{"name": "Stripe live", "app": app, "verifier": got["verifier"]}).want(t, 200)
	if s := secrets(); len(s) != 1 || s[0] != "whsec_old" {
		t.Fatalf("after a GET and PUT round trip: secrets %q, want [whsec_old]", s)
	}

	// The whole source as read, written back with a new name.
	got["name"] = "Stripe, as read"
	b.call(t, "PUT", "/api/v1/source/"+id, got).want(t, 200)
	if s := secrets(); len(s) != 1 || s[0] != "whsec_old" {
		t.Fatalf("after writing back the source as read: secrets %q, want [whsec_old]", s)
	}
	got["app"] = "another"
	b.call(t, "PUT", "/api/v1/source/"+id, got).want(t, 422)

	b.call(t, "PATCH", "/api/v1/source/"+id, map[string]any{"verifier": stripe("whsec_new", "whsec_****")}).want(t, 200)
	if s := secrets(); len(s) != 2 || s[0] != "whsec_new" || s[1] != "whsec_old" {
		t.Fatalf("after a rotation beside the mask: secrets %q, want [whsec_new whsec_old]", s)
	}

	for _, v := range [][]string{
		{"whsec_****", "whsec_****", "whsec_****"}, // more masks than secrets
		{"****"},            // the mask of a secret without the prefix
		{"whsec_x", "****"}, // the same, beside a new one
	} {
		r := b.call(t, "PATCH", "/api/v1/source/"+id, map[string]any{"verifier": stripe(v...)}).want(t, 422)
		if !strings.Contains(string(r.raw), "mask") {
			t.Errorf("PATCH secrets %q: got %s, want a reason naming the mask", v, r.raw)
		}
	}
	if s := secrets(); len(s) != 2 || s[0] != "whsec_new" || s[1] != "whsec_old" {
		t.Fatalf("after refused updates: secrets %q, want them unchanged", s)
	}
	b.call(t, "POST", "/api/v1/source", map[string]any{"name": "x", "app": app, "verifier": stripe("whsec_****")}).want(t, 422)
	b.call(t, "POST", "/api/v1/source", map[string]any{"name": "x", "app": app,
		"verifier": map[string]any{"type": "api-key", "secrets": []string{"****"}}}).want(t, 422)
}
